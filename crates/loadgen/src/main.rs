//! The `sluice-loadgen` binary: parses the command line, runs the load until
//! its end or Ctrl-C (then finishes the requests in flight), and prints the
//! summary (text on stderr, or JSON on stdout with `--json`).
//!
//! Exit status: 0 when the run completed (refusals included), 1 when nothing
//! could connect, 2 for invalid arguments.

use std::process::ExitCode;

use clap::Parser;
use sluice_loadgen::{Options, run_until};

/// Every request builds and drops thousands of small strings and messages:
/// on glibc's allocator that was half of the generator's CPU time, CPU the
/// endpoint under test shares when both run on one machine.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let options = Options::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sluice-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let interrupted = async {
        // Without a handler Ctrl-C ends the process at once, as it should.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match runtime.block_on(run_until(&options, interrupted)) {
        Ok(summary) => {
            if options.json {
                println!("{}", summary.to_json());
            } else {
                eprint!("{}", summary.to_text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice-loadgen: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
