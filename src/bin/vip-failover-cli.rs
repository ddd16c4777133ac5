//! Operator CLI: the Lambda's manual actions (status, check, failover) from a
//! terminal, on the same core. Arguments become a [`Trigger::Manual`], the library's
//! [`Handler`] decides and acts exactly as in Lambda, and this file only renders.

#[path = "../cli/render.rs"]
mod render;

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use aws_sdk_ec2::config::Region;
use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};
use serde::Serialize;
use vip_failover::config::ConfigEnvError;
use vip_failover::ec2::Ec2;
use vip_failover::error::ConfigError;
use vip_failover::group;
use vip_failover::handler::Handler;
use vip_failover::plan::Action;
use vip_failover::report::{Report, Response};
use vip_failover::trigger::{ManualCommand, Trigger};
use vip_failover::{Config, Error};

use render::Palette;

/// Exit codes, documented in `--help`.
const EXIT_OK: u8 = 0;
const EXIT_PROBLEMS: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_AWS: u8 = 3;

const AFTER_HELP: &str = "\
Exit codes:
  0  ok: status shown, every check passed, switchover done (or nothing to do, or --dry-run)
  1  problems: a check failed (invalid group tags included; `check` found no group at all),
     or the switchover was refused (target unhealthy or not a member, no healthy member) or
     left some route tables not updated
  2  usage or invalid input: bad arguments, unknown group, no region, invalid environment,
     confirmation declined, or no --yes while stdin is not a terminal
  3  AWS/EC2 API error: credentials, permissions, throttling, endpoint unreachable

Environment:
  The usual AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...), AWS_REGION, AWS_ENDPOINT_URL.
  TAG_PREFIX, EC2_OPERATION_TIMEOUT_MS, EC2_ATTEMPT_TIMEOUT_MS, EC2_MAX_ATTEMPTS and
  WRITE_CONCURRENCY as for the Lambda function.
  NO_COLOR disables colour (there is none unless stdout is a terminal); RUST_LOG (e.g. info)
  turns on logs, on stderr.";

#[derive(Debug, Parser)]
#[command(
    name = "vip-failover-cli",
    version,
    about = "Inspect, check and switch over vip-failover groups from a terminal",
    long_about = "Inspect, check and switch over vip-failover groups from a terminal.\n\n\
        Runs the same code as the Lambda function (its manual status, check and failover \
        actions) against EC2 with your own AWS credentials.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// AWS region; defaults to the SDK's chain (AWS_REGION, profile)
    #[arg(long, global = true, value_parser = NonEmptyStringValueParser::new())]
    region: Option<String>,
    /// JSON instead of tables: the library's report for status/check (an array of
    /// them without --group), {"plan", "result"} for switchover
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Members, where each VIP route points, warnings and what a reconcile would do
    #[command(after_help = AFTER_HELP)]
    Status {
        /// Only this group (default: every group found by its tag)
        #[arg(long, short, value_parser = NonEmptyStringValueParser::new())]
        group: Option<String>,
    },
    /// Pre-flight check: everything that would make a failover fail; exit 1 on a problem
    #[command(after_help = AFTER_HELP)]
    Check {
        /// Only this group (default: every group found by its tag)
        #[arg(long, short, value_parser = NonEmptyStringValueParser::new())]
        group: Option<String>,
    },
    /// Planned move of the VIP: shows the plan, asks, then moves every route
    #[command(after_help = AFTER_HELP)]
    Switchover {
        /// The group (value of the instances' group tag, e.g. vip-failover:group)
        #[arg(long, short, value_parser = NonEmptyStringValueParser::new())]
        group: String,
        /// Instance to move the VIP to (default: the preferred healthy other member)
        #[arg(long, value_name = "INSTANCE", value_parser = NonEmptyStringValueParser::new())]
        to: Option<String>,
        /// Show the plan and stop; nothing is written
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (needed when stdin is not a terminal)
        #[arg(long, short)]
        yes: bool,
    },
}

/// Why the CLI stops early; each maps to one exit code.
#[derive(Debug)]
enum Failure {
    Lib(Error),
    Env(ConfigEnvError),
    Usage(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Lib(error) => exit_code(error),
            Self::Env(_) | Self::Usage(_) => EXIT_USAGE,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Lib(e) => e.fmt(f),
            Self::Env(e) => e.fmt(f),
            Self::Usage(message) => f.write_str(message),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Lib(error)
    }
}

/// The exit code for a library error. No wildcard: a new variant must be placed.
fn exit_code(error: &Error) -> u8 {
    match error {
        Error::Trigger(_)
        | Error::UnknownTarget { .. }
        | Error::Config(ConfigError::UnknownGroup { .. }) => EXIT_USAGE,
        Error::Config(_) | Error::Refused { .. } | Error::PartialFailure { .. } => EXIT_PROBLEMS,
        Error::Ec2 { .. } => EXIT_AWS,
    }
}

/// Where output goes and how it looks.
struct Out {
    json: bool,
    stdout: Palette,
    stderr: Palette,
}

impl Out {
    fn detect(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        Self {
            json,
            stdout: Palette::detect(std::io::stdout().is_terminal(), no_color.as_deref()),
            stderr: Palette::detect(std::io::stderr().is_terminal(), no_color.as_deref()),
        }
    }

    fn print(&self, text: &str) {
        print!("{text}");
        let _ = std::io::stdout().flush();
    }

    fn print_json<T: Serialize + ?Sized>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => self.error(&Failure::Usage(format!("cannot serialize the report: {e}"))),
        }
    }

    /// A line for people (notes, hints): stderr, so stdout stays the report.
    fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    fn error(&self, failure: &Failure) {
        let label = self.stderr.paint(render::Style::Bad, "error:");
        eprintln!("{label} {failure}");
        if matches!(failure, Failure::Lib(Error::Ec2 { .. })) {
            eprintln!(
                "hint: check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID...), the region \
                 (--region, AWS_REGION) and AWS_ENDPOINT_URL, and that they allow the EC2 call"
            );
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let out = Out::detect(cli.json);
    let code = match run(cli, &out).await {
        Ok(code) => code,
        Err(failure) => {
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

/// What every command needs: the handler, and the EC2 adapter and tag contract
/// to list groups with.
struct Core {
    handler: Handler,
    ec2: Ec2,
    config: Config,
}

impl Core {
    /// Same wiring as the Lambda (`Config::from_env`, `Ec2::from_env`); `--region`
    /// overrides the SDK's region.
    async fn connect(region: Option<String>) -> Result<Self, Failure> {
        let config = Config::from_env().map_err(Failure::Env)?;
        let mut ec2 = Ec2::from_env(&config).await;
        if let Some(region) = region {
            let sdk = ec2
                .client()
                .config()
                .to_builder()
                .region(Region::new(region))
                .build();
            ec2 = Ec2::new(aws_sdk_ec2::Client::from_conf(sdk), &config);
        }
        if ec2.client().config().region().is_none() {
            return Err(Failure::Usage(
                "no AWS region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
                    .to_string(),
            ));
        }
        Ok(Self {
            handler: Handler::new(ec2.clone(), config.clone()).without_metrics(),
            ec2,
            config,
        })
    }

    async fn manual(&self, command: ManualCommand) -> Result<Response, Error> {
        self.handler.handle_trigger(Trigger::Manual(command)).await
    }

    /// `--group`, or every group that an instance's group tag names.
    async fn groups(&self, only: Option<String>) -> Result<Vec<String>, Error> {
        if let Some(group) = only {
            return Ok(vec![group]);
        }
        let tags = &self.config.tags;
        let tagged = self.ec2.tagged_instances(&tags.group(), None).await?;
        let names: BTreeSet<&str> = tagged
            .iter()
            .filter_map(|i| group::group_of(i, tags))
            .collect();
        Ok(names.into_iter().map(str::to_string).collect())
    }

    fn region(&self) -> String {
        self.ec2
            .client()
            .config()
            .region()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

async fn run(cli: Cli, out: &Out) -> Result<u8, Failure> {
    let core = Core::connect(cli.region).await?;
    match cli.command {
        Command::Status { group } => per_group(&core, out, group, Kind::Status).await,
        Command::Check { group } => per_group(&core, out, group, Kind::Check).await,
        Command::Switchover {
            group,
            to,
            dry_run,
            yes,
        } => switchover(&core, out, group, to, dry_run, yes).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Status,
    Check,
}

/// `status` and `check`, for one group or every group: one manual action each.
/// A group that fails does not hide the others; the worst exit code wins.
async fn per_group(
    core: &Core,
    out: &Out,
    only: Option<String>,
    kind: Kind,
) -> Result<u8, Failure> {
    let single = only.is_some();
    let groups = core.groups(only).await?;
    let mut code = EXIT_OK;
    if groups.is_empty() {
        out.note(&format!(
            "no instance in {} carries the tag {}: no failover group found (wrong region or account?)",
            core.region(),
            core.config.tags.group()
        ));
        if kind == Kind::Check {
            code = EXIT_PROBLEMS;
        }
    }
    let mut responses = Vec::new();
    for group in groups {
        let command = match kind {
            Kind::Status => ManualCommand::Status { group },
            Kind::Check => ManualCommand::Check { group },
        };
        let response = match core.manual(command).await {
            Ok(response) => response,
            Err(error) => {
                let failure = Failure::Lib(error);
                out.error(&failure);
                code = code.max(failure.exit_code());
                continue;
            }
        };
        let text = match &response {
            Response::Status(report) => render::status(report, out.stdout),
            Response::Check(report) => {
                if !report.ok {
                    code = code.max(EXIT_PROBLEMS);
                }
                render::check(report, out.stdout)
            }
            other => unexpected(other)?,
        };
        if !out.json {
            if !responses.is_empty() {
                out.print("\n");
            }
            out.print(&text);
        }
        responses.push(response);
    }
    if out.json {
        match (single, responses.as_slice()) {
            (true, [response]) => out.print_json(response),
            (true, _) => {}
            (false, all) => out.print_json(all),
        }
    }
    Ok(code)
}

fn unexpected<T>(response: &Response) -> Result<T, Failure> {
    Err(Failure::Usage(format!(
        "unexpected answer from the handler: {}",
        serde_json::to_string(response).unwrap_or_default()
    )))
}

fn failover(group: &str, target: Option<String>, dry_run: bool) -> ManualCommand {
    ManualCommand::Failover {
        group: group.to_string(),
        target,
        dry_run,
    }
}

fn group_report(response: Response) -> Result<Report, Failure> {
    match response {
        Response::Group(report) => Ok(report),
        other => unexpected(&other),
    }
}

/// The switchover document of `--json`: the dry run, and what the real run did
/// (null when it did not run).
#[derive(Serialize)]
struct Switchover<'a> {
    plan: &'a Report,
    result: Option<&'a Report>,
}

/// Dry run, confirmation, then the real run pinned to the planned target.
async fn switchover(
    core: &Core,
    out: &Out,
    group: String,
    to: Option<String>,
    dry_run: bool,
    yes: bool,
) -> Result<u8, Failure> {
    let plan = group_report(core.manual(failover(&group, to, true)).await?)?;
    // Where the run stops at the plan, the plan is the output.
    let show_plan = |note: &str| {
        if out.json {
            out.print_json(&Switchover {
                plan: &plan,
                result: None,
            });
        } else {
            out.print(&render::plan(&plan, out.stdout));
        }
        if !note.is_empty() {
            out.note(note);
        }
    };
    if plan.action == Action::NoChange {
        show_plan("nothing to do: nothing was changed");
        return Ok(EXIT_OK);
    }
    if dry_run {
        show_plan("dry run: nothing was changed");
        return Ok(EXIT_OK);
    }
    // The target the plan chose runs, even if another member looks better by then.
    let Some(target) = plan.to.as_ref().map(|t| t.instance_id.clone()) else {
        show_plan("");
        return Err(Failure::Lib(Error::Refused {
            group,
            reason: plan.reason.clone(),
        }));
    };
    // People see the plan before anything is written; with --json the one
    // document waits for the result, so a person being asked reads it on stderr.
    match (out.json, yes) {
        (false, _) => out.print(&render::plan(&plan, out.stdout)),
        (true, false) => eprint!("{}", render::plan(&plan, out.stderr)),
        (true, true) => {}
    }
    if !yes {
        confirm()?;
    }
    let result = group_report(core.manual(failover(&group, Some(target), false)).await?)?;
    let holder = |r: &Report| {
        r.from
            .as_ref()
            .map_or("no single member", |f| f.instance_id.as_str())
            .to_string()
    };
    if holder(&plan) != holder(&result) {
        out.note(&format!(
            "note: the VIP moved since the plan was made; it was taken from {}",
            holder(&result)
        ));
    }
    if out.json {
        out.print_json(&Switchover {
            plan: &plan,
            result: Some(&result),
        });
    } else {
        out.print("\n");
        out.print(&render::outcome(&result, out.stdout));
    }
    Ok(EXIT_OK)
}

/// `Proceed? [y/N]` on a terminal; refuses rather than hang or guess otherwise.
fn confirm() -> Result<(), Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::Usage(
            "not confirmed: stdin is not a terminal, so there is no one to ask; \
             re-run with --yes to switch over, or --dry-run to only see the plan; nothing was changed"
                .to_string(),
        ));
    }
    eprint!("\nProceed? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if let Err(e) = stdin.lock().read_line(&mut answer) {
        return Err(Failure::Usage(format!(
            "cannot read the answer ({e}); nothing was changed"
        )));
    }
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::Usage(
            "switchover not confirmed; nothing was changed".to_string(),
        )),
    }
}
