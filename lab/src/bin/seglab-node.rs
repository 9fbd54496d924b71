//! `seglab-node`: PID 1 of every lab container. Reads its node configuration
//! from the environment, serves the node's stubs, exits 0 on SIGTERM/SIGINT,
//! 2 on a bad configuration, 1 when it cannot serve.
//!
//! Hidden self-check: `seglab-node --try-raw-socket [INTERFACE]` sends one
//! raw frame on INTERFACE (eth0) and exits 0 if it could, 1 with "EPERM" if
//! the kernel refused (as it must in a lab node), 3 if the check failed.

use seglab::agent::{self, AgentOptions, Pid1};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--try-raw-socket") {
        let interface = args.get(1).map_or("eth0", String::as_str);
        return match agent::try_raw_socket(interface) {
            Ok(n) => {
                println!("sent a raw frame of {n} bytes on {interface}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("seglab-node: {e}");
                ExitCode::from(e.exit_code())
            }
        };
    }
    serve()
}

#[tokio::main(flavor = "current_thread")]
async fn serve() -> ExitCode {
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
