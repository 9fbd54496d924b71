//! `seglab`: parse the command line, run it, map errors to exit codes.

use clap::Parser;
use seglab::cli::{run, Cli};
use seglab::error::EXIT_VERIFY_FAILED;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(out) => {
            if !out.stdout.is_empty() {
                println!("{}", out.stdout.trim_end());
            }
            if let Some(failed) = out.failed {
                eprintln!("seglab: verification failed: {failed}");
                std::process::exit(EXIT_VERIFY_FAILED);
            }
            if let Some(code) = out.exit_code {
                std::process::exit(code);
            }
        }
        Err(e) => {
            eprintln!("seglab: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
