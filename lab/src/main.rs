//! `seglab`: parse the command line, run it, map errors to exit codes.
//!
//! Output goes through explicit writes, never `println!`: a reader that
//! closes early (`seglab plan ... | head`) makes writes fail with EPIPE
//! (Rust ignores SIGPIPE, so the process is not killed), and that must end
//! the output quietly, not panic. Any other write error (a full disk,
//! `>/dev/full`) is an environment problem: a message and exit 3.

use clap::Parser as _;
use seglab::cli::Cli;
use seglab::commands::{run, Outcome};
use seglab::error::{worst, Error, EXIT_ENVIRONMENT};
use std::io::{IsTerminal, Write};

#[tokio::main]
async fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        // Help, version or a usage error: clap's text, under the same rules
        // as ours (a closed pipe is quiet, a failed write exit 3).
        let code = match e.print() {
            Err(w) if w.kind() != std::io::ErrorKind::BrokenPipe => {
                say(&format!("cannot write to standard output: {w}"));
                EXIT_ENVIRONMENT
            }
            _ => e.exit_code(),
        };
        std::process::exit(code)
    });
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
        .with_ansi(colour_on_stderr())
        .init();
    let outcome = run(cli).await.unwrap_or_else(Outcome::from_error);
    std::process::exit(finish(outcome));
}

/// Colours only for a person at a terminal, and never with NO_COLOR set
/// (<https://no-color.org>: present and not empty).
fn colour_on_stderr() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// Prints what the command produced (reports first, then the errors) and
/// returns the exit code.
fn finish(out: Outcome) -> i32 {
    let mut code = out.exit_code();
    if !out.stdout.is_empty() {
        let mut stdout = std::io::stdout().lock();
        let written = writeln!(stdout, "{}", out.stdout.trim_end()).and_then(|()| stdout.flush());
        match written {
            Ok(()) => {}
            // The reader has all it wanted: stop quietly, as ripgrep does.
            // The exit code still says what happened (a failed verification
            // stays 1), so `seglab test | head` cannot turn into a pass.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                let e = Error::Environment(format!("cannot write to standard output: {e}"));
                say(&e.to_string());
                code = worst(code, EXIT_ENVIRONMENT);
            }
        }
    }
    for e in &out.errors {
        say(&e.to_string());
    }
    if let Some(failed) = &out.failed {
        say(&format!("verification failed: {failed}"));
    }
    code
}

/// One line on stderr; a closed stderr is ignored (there is nobody to tell).
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "seglab: {msg}");
}
