//! Operator CLI: the Lambda's manual actions (status, check, failover) from a
//! terminal, on the same core. Arguments become a [`ManualCommand`]; it runs either
//! here, on the library's handler with the operator's credentials, or inside
//! the deployed function (`--function`), where reserved concurrency serialises it
//! with automatic failovers. This file only dispatches: flags are in `args.rs`,
//! exit codes in `failure.rs`, where commands run in `backend.rs`.
//!
//! [`ManualCommand`]: vip_failover::trigger::ManualCommand

mod args;
mod backend;
mod failure;
mod history;
mod out;
mod render;
mod status;
mod switchover;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use args::{Cli, Command};
use backend::Core;
use failure::Failure;
use out::Out;
use status::{per_group, Kind};
use switchover::Switch;

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let out = Out::detect(cli.json);
    let code = match run(cli, &out).await {
        Ok(code) => code,
        Err(failure) => {
            if out.json {
                out.print_json(&json!({"error": failure.to_json(), "report": failure.report()}));
            }
            out.error(&failure);
            failure.exit_code()
        }
    };
    ExitCode::from(code)
}

/// Silent unless `RUST_LOG` asks for logs; they go to stderr, never into the report.
fn init_tracing() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .with_target(false)
            .init();
    }
}

async fn run(cli: Cli, out: &Out) -> Result<u8, Failure> {
    let core = Core::connect(&cli).await?;
    match cli.command {
        Command::Status { group } => per_group(&core, out, group, Kind::Status).await,
        Command::Check { group } => per_group(&core, out, group, Kind::Check).await,
        Command::Release { group } => status::release(&core, out, group).await,
        Command::History {
            group,
            log_group,
            hours,
            limit,
        } => {
            let ask = history::Ask {
                group,
                log_group,
                hours,
                limit,
            };
            let named = (cli.function.as_deref(), cli.stack.as_deref());
            history::history(&core, out, ask, named).await
        }
        Command::Switchover {
            group,
            to,
            dry_run,
            yes,
        } => {
            switchover::switchover(
                &core,
                out,
                Switch {
                    group,
                    to,
                    dry_run,
                    yes,
                },
            )
            .await
        }
    }
}
