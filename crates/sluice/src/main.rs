//! The `sluice` binary: command line, config, logging, and the daemon's wiring
//! (`run`).

mod alerting;
mod allocator;
mod config;
mod gate;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Sluice: an OpenTelemetry ingestion daemon. Receives OTLP traces, metrics and
/// logs over gRPC (:4317) and HTTP (:4318) and stores them as Parquet under
/// ./data; serves health, readiness and Prometheus metrics on :4319.
///
/// With no arguments it runs on embedded defaults. Every config key can be set
/// in a TOML file (see config/sluice.example.toml) or by an environment
/// variable SLUICE_<SECTION>_<KEY>, e.g. SLUICE_STORAGE_ROOT=/var/lib/sluice.
#[derive(Debug, Parser)]
#[command(name = "sluice", version)]
struct Cli {
    /// Config file (TOML). Without one, the embedded defaults are used.
    #[arg(long, short, global = true, env = "SLUICE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Check the config and print it in full, defaults included, as TOML.
    CheckConfig,
    /// Ask a running Sluice whether `service` may deploy: exits 0 when it may,
    /// 1 when it is frozen (an SLO pages or has no budget left), 2 on error.
    Gate {
        /// The service about to deploy.
        #[arg(long)]
        service: String,
        /// The API of the Sluice to ask; default: this config's api.listen.
        #[arg(long, value_name = "URL")]
        api: Option<String>,
        /// The tenant (X-Scope-OrgID).
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => match toml::to_string(&config) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot print config: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Gate {
            service,
            api,
            tenant,
        } => {
            let api = api.unwrap_or_else(|| format!("http://{}", config.api.listen));
            gate::gate(&api, &service, &tenant)
        }
        Command::Run => match run::run(config, cli.config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sluice: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
