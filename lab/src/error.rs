//! The library's error type and the exit codes the binary maps it to:
//! 0 success, 1 verification failed, 2 bad input or usage, 3 environment
//! problem (Docker, permissions, nft missing).

use crate::netns::NetnsError;
use crate::plan::UnknownPhase;
use crate::runtime::docker::RuntimeError;
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
    /// A rule set a gateway refused (nft, or iptables-nft-restore for a
    /// dump), with the message mapped to the file's lines.
    #[error("{target} refused rule set {file}:\n{message}")]
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
    /// An error of one part of a larger run (one scenario of `seglab test`).
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
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
            Error::Context { source, .. } => source.exit_code(),
        }
    }
}

/// The exit code of a run that ended in both `a` and `b` (several scenarios
/// of `seglab test`, or reports and a teardown error): an interrupt first,
/// then a failed verification (a definite finding about the rules, which
/// an environment error elsewhere must not hide), then environment, then
/// bad input. Other codes (`exec` passing on its command's) rank with
/// environment problems.
pub fn worst(a: i32, b: i32) -> i32 {
    fn rank(code: i32) -> u8 {
        match code {
            0 => 0,
            EXIT_BAD_INPUT => 1,
            EXIT_VERIFY_FAILED => 3,
            EXIT_INTERRUPTED => 4,
            _ => 2,
        }
    }
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
