//! Operator CLI: the Lambda's manual actions (status, check, failover) from a
//! terminal, on the same core. Arguments become a [`ManualCommand`]; it runs either
//! here, on the library's [`Handler`] with the operator's credentials, or inside
//! the deployed function (`--function`), where reserved concurrency serialises it
//! with automatic failovers. This file only wires and renders.

mod render;

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use aws_config::BehaviorVersion;
use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use vip_failover::aws::Aws;
use vip_failover::config::ConfigEnvError;
use vip_failover::group;
use vip_failover::handler::Handler;
use vip_failover::plan::Action;
use vip_failover::preflight::CheckReport;
use vip_failover::report::{Report, StatusReport};
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
     or the switchover was refused (target failed, no healthy member, hold-down) or left
     some route tables not updated (failed, or pending at the deadline)
  2  usage or invalid input: bad arguments, unknown group or target, no region, invalid
     environment, confirmation declined, or no --yes while stdin is not a terminal
  3  AWS API error: credentials, permissions, throttling, endpoint unreachable

Environment:
  The usual AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...), AWS_REGION, AWS_ENDPOINT_URL
  (and AWS_ENDPOINT_URL_LAMBDA for --function).
  TAG_PREFIX, ALARM_NAME_PREFIX, EC2_ATTEMPT_TIMEOUT_MS, EC2_OPERATION_TIMEOUT_MS,
  EC2_MAX_ATTEMPTS, EC2_RATE_LIMITS and WRITE_CONCURRENCY as for the Lambda function.
  NO_COLOR disables colour (there is none unless stdout is a terminal); RUST_LOG (e.g. info)
  turns on logs, on stderr.";

#[derive(Debug, Parser)]
#[command(
    name = "vip-failover-cli",
    version,
    about = "Inspect, check and switch over vip-failover groups from a terminal",
    long_about = "Inspect, check and switch over vip-failover groups from a terminal.\n\n\
        Runs the same code as the Lambda function (its manual status, check and failover \
        actions), either here with your own AWS credentials or, with --function, inside the \
        deployed function, so a switchover never races an automatic failover.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// AWS region; defaults to the SDK's chain (AWS_REGION, profile)
    #[arg(long, global = true, value_parser = NonEmptyStringValueParser::new())]
    region: Option<String>,
    /// JSON instead of tables: the library's report for status/check (an array of
    /// them without --group), {"plan", "result", "error"} for switchover; printed
    /// also when the command fails
    #[arg(long, global = true)]
    json: bool,
    /// Run the command inside this deployed vip-failover function (name or ARN)
    /// instead of here: its reserved concurrency serialises it with automatic
    /// failovers
    #[arg(long, global = true, value_name = "FUNCTION", value_parser = NonEmptyStringValueParser::new())]
    function: Option<String>,
    /// Seconds a command run here may take: writes stop starting early enough to
    /// verify and report within it
    #[arg(long, global = true, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Members, their health, where each VIP route points, and what a reconcile would do
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
    /// The library refused or failed (here, or inside the function).
    Failed {
        error_type: String,
        message: String,
        report: Option<Value>,
    },
    /// The function could not be invoked at all.
    Invoke(String),
    Env(ConfigEnvError),
    Usage(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Failed { error_type, .. } => exit_code(error_type),
            Self::Invoke(_) => EXIT_AWS,
            Self::Env(_) | Self::Usage(_) => EXIT_USAGE,
        }
    }

    /// `{"errorType", "errorMessage"}`, as Lambda reports a function error.
    fn to_json(&self) -> Value {
        let error_type = match self {
            Self::Failed { error_type, .. } => error_type.clone(),
            Self::Invoke(_) => "InvokeFailed".to_string(),
            Self::Env(_) => "InvalidEnvironment".to_string(),
            Self::Usage(_) => "Usage".to_string(),
        };
        json!({"errorType": error_type, "errorMessage": self.to_string()})
    }

    fn report(&self) -> Option<&Value> {
        match self {
            Self::Failed { report, .. } => report.as_ref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed { message, .. } | Self::Invoke(message) | Self::Usage(message) => {
                f.write_str(message)
            }
            Self::Env(e) => e.fmt(f),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Failed {
            error_type: error.diagnostic_type(),
            report: error.report().and_then(|r| serde_json::to_value(r).ok()),
            message: error.to_string(),
        }
    }
}

/// The exit code of a Lambda `errorType` such as `FailoverRefused.Retryable`.
fn exit_code(error_type: &str) -> u8 {
    match error_type.split('.').next().unwrap_or_default() {
        "InvalidEvent" | "UnknownGroup" | "UnknownTarget" => EXIT_USAGE,
        "Ec2ApiError" | "CloudWatchApiError" => EXIT_AWS,
        _ => EXIT_PROBLEMS,
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

    /// One readable line on stderr, whatever the output format.
    fn error(&self, failure: &Failure) {
        let label = self.stderr.paint(render::Style::Bad, "error:");
        eprintln!("{label} {}", failure.to_string().replace('\n', " "));
        if failure.exit_code() == EXIT_AWS {
            eprintln!(
                "hint: check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID...), the region \
                 (--region, AWS_REGION) and AWS_ENDPOINT_URL, and that they allow the call"
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

/// Where manual commands run.
enum Backend {
    Here {
        handler: Box<Handler>,
        timeout: Duration,
    },
    Function {
        client: aws_sdk_lambda::Client,
        name: String,
        /// How long to wait for the function while it is busy with another run.
        timeout: Duration,
    },
}

impl Backend {
    /// `--timeout`: the longest any one command may take.
    fn timeout(&self) -> Duration {
        match self {
            Self::Here { timeout, .. } | Self::Function { timeout, .. } => *timeout,
        }
    }
}

/// What every command needs: the backend, and the AWS adapter and tag contract
/// to list groups with.
struct Core {
    backend: Backend,
    aws: Aws,
    config: Config,
    region: String,
}

impl Core {
    /// Same wiring as the Lambda (`Config::from_env`, `Aws::from_env`); `--region`
    /// overrides the SDK's region.
    async fn connect(cli: &Cli) -> Result<Self, Failure> {
        let config = Config::from_env().map_err(Failure::Env)?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(vip_failover::aws::retry_config())
            .timeout_config(vip_failover::aws::timeout_config(&config));
        if let Some(region) = &cli.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        let Some(region) = sdk.region().map(ToString::to_string) else {
            return Err(Failure::Usage(
                "no AWS region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
                    .to_string(),
            ));
        };
        let aws = Aws::new(
            aws_sdk_ec2::Client::new(&sdk),
            aws_sdk_cloudwatch::Client::new(&sdk),
            &config,
        );
        let backend = match &cli.function {
            Some(name) => Backend::Function {
                client: lambda_client(&sdk, Duration::from_secs(cli.timeout)),
                name: name.clone(),
                timeout: Duration::from_secs(cli.timeout),
            },
            None => Backend::Here {
                handler: Box::new(Handler::new(aws.clone(), config.clone()).without_metrics()),
                timeout: Duration::from_secs(cli.timeout),
            },
        };
        Ok(Self {
            backend,
            aws,
            config,
            region,
        })
    }

    /// Runs one manual command and reads its answer as `T`.
    async fn manual<T: DeserializeOwned>(&self, command: ManualCommand) -> Result<T, Failure> {
        let answer = match &self.backend {
            Backend::Here { handler, timeout } => {
                let deadline = handler.deadline_after(*timeout);
                let response = handler
                    .handle_trigger(Trigger::Manual(command), deadline)
                    .await?;
                serde_json::to_value(response).map_err(|e| Failure::Usage(e.to_string()))?
            }
            Backend::Function {
                client,
                name,
                timeout,
            } => invoke(client, name, &command, *timeout).await?,
        };
        serde_json::from_value(answer.clone())
            .map_err(|e| Failure::Usage(format!("unexpected answer ({e}): {answer}")))
    }

    /// `--group`, or every group that an instance's group tag names.
    async fn groups(&self, only: Option<String>) -> Result<Vec<String>, Failure> {
        if let Some(group) = only {
            return Ok(vec![group]);
        }
        let until = tokio::time::Instant::now() + self.backend.timeout();
        let tagged = self
            .aws
            .tagged_instances(&self.config.tags.group(), until)
            .await
            .map_err(Error::from)?;
        let names: BTreeSet<String> = group::group_names(&tagged, &self.config.tags);
        Ok(names.into_iter().collect())
    }
}

/// The Lambda client: one run of the function takes up to its own timeout, not
/// the EC2 attempt timeout the other clients use.
fn lambda_client(sdk: &aws_config::SdkConfig, wait: Duration) -> aws_sdk_lambda::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(wait + Duration::from_secs(60))
        .build();
    let config = aws_sdk_lambda::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// The function runs the command; a function error comes back as its
/// `errorType` and `errorMessage`. With reserved concurrency 1, a synchronous
/// invoke while the function runs is refused (`TooManyRequestsException`), not
/// queued: it is sent again every two seconds, for up to `wait`.
async fn invoke(
    client: &aws_sdk_lambda::Client,
    name: &str,
    command: &ManualCommand,
    wait: Duration,
) -> Result<Value, Failure> {
    let payload = serde_json::to_vec(command).map_err(|e| Failure::Usage(e.to_string()))?;
    let give_up = std::time::Instant::now() + wait;
    let mut noted = false;
    let out = loop {
        let sent = client
            .invoke()
            .function_name(name)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.clone()))
            .send()
            .await;
        let busy = matches!(&sent, Err(e) if e.as_service_error().is_some_and(|s| s.is_too_many_requests_exception()));
        if !busy || std::time::Instant::now() >= give_up {
            break sent.map_err(|e| {
                Failure::Invoke(format!(
                    "Lambda Invoke of {name} failed: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ))
            })?;
        }
        if !std::mem::replace(&mut noted, true) {
            eprintln!("note: {name} is busy with another run; waiting for it (up to --timeout)");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let body: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    if out.function_error().is_none() {
        return Ok(body);
    }
    let field = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    Err(Failure::Failed {
        error_type: field("errorType"),
        message: field("errorMessage"),
        report: None,
    })
}

async fn run(cli: Cli, out: &Out) -> Result<u8, Failure> {
    let core = Core::connect(&cli).await?;
    match cli.command {
        Command::Status { group } => per_group(&core, out, group, Kind::Status).await,
        Command::Check { group } => per_group(&core, out, group, Kind::Check).await,
        Command::Switchover {
            group,
            to,
            dry_run,
            yes,
        } => {
            switchover(
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
            core.region,
            core.config.tags.group()
        ));
        if kind == Kind::Check {
            code = EXIT_PROBLEMS;
        }
    }
    let mut documents = Vec::new();
    let mut printed = 0;
    for group in groups {
        let (document, text, group_code) = one_group(core, out, group, kind).await;
        code = code.max(group_code);
        if let (false, Some(text)) = (out.json, text) {
            if printed > 0 {
                out.print("\n");
            }
            out.print(&text);
            printed += 1;
        }
        documents.push(document);
    }
    if out.json {
        match documents.as_slice() {
            [document] if single => out.print_json(document),
            all => out.print_json(all),
        }
    }
    Ok(code)
}

/// One group's status or check: its JSON document, its text, its exit code.
async fn one_group(
    core: &Core,
    out: &Out,
    group: String,
    kind: Kind,
) -> (Value, Option<String>, u8) {
    let answer = match kind {
        Kind::Status => core
            .manual::<StatusReport>(ManualCommand::Status {
                group: group.clone(),
            })
            .await
            .map(|r| (json!(r), render::status(&r, out.stdout), EXIT_OK)),
        Kind::Check => core
            .manual::<CheckReport>(ManualCommand::Check {
                group: group.clone(),
            })
            .await
            .map(|r| {
                let code = if r.ok { EXIT_OK } else { EXIT_PROBLEMS };
                (json!(r), render::check(&r, out.stdout), code)
            }),
    };
    match answer {
        Ok((document, text, code)) => (document, Some(text), code),
        Err(failure) => {
            out.error(&failure);
            let document = json!({"group": group, "error": failure.to_json()});
            (document, None, failure.exit_code())
        }
    }
}

fn failover(group: &str, target: Option<String>, dry_run: bool) -> ManualCommand {
    ManualCommand::Failover {
        group: group.to_string(),
        target,
        dry_run,
    }
}

/// The switchover document of `--json`: the dry run, what the real run did
/// (null when it did not run), and the error that stopped it.
#[derive(Serialize)]
struct Switchover<'a> {
    plan: Option<&'a Report>,
    result: Option<Value>,
    error: Option<Value>,
}

/// What the operator asked for.
struct Switch {
    group: String,
    to: Option<String>,
    dry_run: bool,
    yes: bool,
}

/// Dry run, confirmation, then the real run pinned to the planned target.
async fn switchover(core: &Core, out: &Out, ask: Switch) -> Result<u8, Failure> {
    let plan: Report = match core
        .manual(failover(&ask.group, ask.to.clone(), true))
        .await
    {
        Ok(plan) => plan,
        Err(failure) => return refused(out, failure),
    };
    let show_plan = |note: &str| {
        if out.json {
            out.print_json(&Switchover {
                plan: Some(&plan),
                result: None,
                error: None,
            });
        } else {
            out.print(&render::plan(&plan, out.stdout));
        }
        out.note(note);
    };
    if plan.action == Action::NoChange {
        show_plan("nothing to do: nothing was changed");
        return Ok(EXIT_OK);
    }
    if ask.dry_run {
        show_plan("dry run: nothing was changed");
        return Ok(EXIT_OK);
    }
    // The target the plan chose runs, even if another member looks better by then.
    let target = plan.to.as_ref().map(|t| t.instance_id.clone());
    // People see the plan before anything is written; with --json the one
    // document waits for the result, so a person being asked reads it on stderr.
    match (out.json, ask.yes) {
        (false, _) => out.print(&render::plan(&plan, out.stdout)),
        (true, false) => eprint!("{}", render::plan(&plan, out.stderr)),
        (true, true) => {}
    }
    if !ask.yes {
        confirm()?;
    }
    let result = core
        .manual::<Report>(failover(&ask.group, target, false))
        .await;
    finish(out, &plan, result)
}

/// The dry run itself was refused: the plan it made (when there is one) and why.
fn refused(out: &Out, failure: Failure) -> Result<u8, Failure> {
    let plan = failure
        .report()
        .and_then(|r| serde_json::from_value::<Report>(r.clone()).ok());
    if out.json {
        let error = Some(failure.to_json());
        out.print_json(&Switchover {
            plan: plan.as_ref(),
            result: None,
            error,
        });
    } else if let Some(plan) = &plan {
        out.print(&render::plan(plan, out.stdout));
    }
    out.error(&failure);
    Ok(failure.exit_code())
}

/// Prints what the real run did, or why it stopped (with its report when there
/// is one), and notes a holder that changed since the plan.
fn finish(out: &Out, plan: &Report, result: Result<Report, Failure>) -> Result<u8, Failure> {
    let (report, failure) = match result {
        Ok(report) => (Some(report), None),
        Err(failure) => {
            let report = failure
                .report()
                .and_then(|r| serde_json::from_value::<Report>(r.clone()).ok());
            (report, Some(failure))
        }
    };
    let holder = |r: &Report| {
        r.from
            .as_ref()
            .map_or("no member".to_string(), |f| f.instance_id.clone())
    };
    if let Some(report) = report.as_ref().filter(|r| holder(r) != holder(plan)) {
        out.note(&format!(
            "note: the VIP moved since the plan was made; it was taken from {}",
            holder(report)
        ));
    }
    if out.json {
        let result = report.as_ref().map(|r| json!(r));
        let error = failure.as_ref().map(Failure::to_json);
        out.print_json(&Switchover {
            plan: Some(plan),
            result,
            error,
        });
    } else if let Some(report) = &report {
        out.print("\n");
        out.print(&render::outcome(report, out.stdout));
    }
    match failure {
        Some(failure) => {
            out.error(&failure);
            Ok(failure.exit_code())
        }
        None => Ok(EXIT_OK),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_type_has_the_documented_exit_code() {
        for (error_type, code) in [
            ("InvalidEvent.NotRetryable", EXIT_USAGE),
            ("UnknownGroup.NotRetryable", EXIT_USAGE),
            ("UnknownTarget.NotRetryable", EXIT_USAGE),
            ("Ec2ApiError.Retryable", EXIT_AWS),
            ("CloudWatchApiError.Retryable", EXIT_AWS),
            ("FailoverRefused.Retryable", EXIT_PROBLEMS),
            ("TargetUnhealthy.Retryable", EXIT_PROBLEMS),
            ("HeldDown.Retryable", EXIT_PROBLEMS),
            ("InvalidGroupConfiguration.NotRetryable", EXIT_PROBLEMS),
            ("PartialFailure.Retryable", EXIT_PROBLEMS),
            ("DeadlineReached.Retryable", EXIT_PROBLEMS),
        ] {
            assert_eq!(exit_code(error_type), code, "{error_type}");
        }
    }
}
