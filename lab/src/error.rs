//! The library's error type and the exit codes the binary maps it to:
//! 0 success, 1 verification failed, 2 bad input or usage, 3 environment
//! problem (Docker, permissions, nft missing).

use crate::netns::NetnsError;
use crate::plan::UnknownPhase;
use crate::runtime::RuntimeError;
use crate::scenario::ScenarioError;

pub const EXIT_VERIFY_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_ENVIRONMENT: i32 = 3;
/// Interrupted by Ctrl-C or SIGTERM (after cleaning up), as shells expect.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Phase(#[from] UnknownPhase),
    /// Bad arguments or input that is not a scenario file.
    #[error("{0}")]
    Input(String),
    /// A rule set nft refused, with nft's message mapped to the file's lines.
    #[error("nft rejected rule set {file} for {target}:\n{message}")]
    Ruleset {
        file: String,
        target: String,
        message: String,
    },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("{0}")]
    Environment(String),
    #[error("verification failed: {0}")]
    VerificationFailed(String),
    #[error("interrupted; everything it had changed was put back")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Scenario(_) | Error::Phase(_) | Error::Input(_) | Error::Ruleset { .. } => {
                EXIT_BAD_INPUT
            }
            Error::Runtime(_) | Error::Netns(_) | Error::Environment(_) => EXIT_ENVIRONMENT,
            Error::VerificationFailed(_) => EXIT_VERIFY_FAILED,
            Error::Interrupted => EXIT_INTERRUPTED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
