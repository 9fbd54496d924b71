//! `seglab-node`: PID 1 of every lab container. Reads its node configuration
//! from the environment, serves the node's stubs, exits 0 on SIGTERM/SIGINT,
//! 2 on a bad configuration, 1 when it cannot serve.

use seglab::agent::{self, AgentOptions, Pid1};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let outcome = async {
        let pid1 = Pid1::install()?;
        let config = agent::config_from_env()?;
        agent::raise_nofile_limit();
        tokio::select! {
            _ = pid1.until_stopped() => Ok(()),
            served = agent::serve(config, AgentOptions::default(), agent::announce_ready) => {
                served.map(|never| match never {})
            }
        }
    };
    match outcome.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seglab-node: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
