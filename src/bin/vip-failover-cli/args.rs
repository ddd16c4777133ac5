//! The command line: flags and subcommands (clap), and the help text's exit codes
//! and environment.

use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};

pub(crate) const AFTER_HELP: &str = "\
Exit codes:
  0  ok: status shown, every check passed, switchover done (or nothing to do, or --dry-run)
  1  problems: a check failed (invalid group tags included; `check` found no group at all),
     or the switchover was refused (target failed, no healthy member, hold-down) or left
     some route tables not updated (failed, or pending at the deadline)
  2  usage or invalid input: bad arguments, unknown group, target, stack or function, no
     region, invalid environment, confirmation declined, or no --yes while stdin is not a
     terminal
  3  AWS API error: credentials, permissions, throttling, endpoint unreachable

Environment:
  The usual AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...), AWS_REGION, AWS_ENDPOINT_URL
  (and AWS_ENDPOINT_URL_LAMBDA for --function).
  TAG_PREFIX, ALARM_NAME_PREFIX (unset here: every alarm of the account is read, so the CLI
  never misses an alarm the function heeds), EC2_ATTEMPT_TIMEOUT_MS, EC2_OPERATION_TIMEOUT_MS,
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
pub(crate) struct Cli {
    /// AWS region; defaults to the SDK's chain (AWS_REGION, profile)
    #[arg(long, global = true, value_parser = NonEmptyStringValueParser::new())]
    pub(crate) region: Option<String>,
    /// JSON instead of tables: the library's report for status/check (an array of
    /// them without --group), {"plan", "result", "error"} for switchover; printed
    /// also when the command fails
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Run the command inside this deployed vip-failover function (name or ARN)
    /// instead of here: its reserved concurrency serialises it with automatic
    /// failovers
    #[arg(long, global = true, value_name = "FUNCTION", value_parser = NonEmptyStringValueParser::new(), conflicts_with = "stack")]
    pub(crate) function: Option<String>,
    /// The same, naming the deployed stack instead: its `FunctionName` output is
    /// the function (and its `LogGroupName` output the logs `history` reads)
    #[arg(long, global = true, value_name = "STACK", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) stack: Option<String>,
    /// Seconds a command run here may take: writes stop starting early enough to
    /// verify and report within it
    #[arg(long, global = true, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) timeout: u64,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Recent moves of the VIP (time, trigger, from, to, tables, duration), from the
    /// function's decision logs in CloudWatch Logs (needs --stack, --function or
    /// --log-group)
    #[command(after_help = AFTER_HELP)]
    History {
        /// Only this group
        #[arg(long, short, value_parser = NonEmptyStringValueParser::new())]
        group: Option<String>,
        /// The function's log group (default: the stack's LogGroupName output, or
        /// /aws/lambda/FUNCTION)
        #[arg(long, value_parser = NonEmptyStringValueParser::new())]
        log_group: Option<String>,
        /// How far back, in hours
        #[arg(long, default_value_t = 24 * 7, value_parser = clap::value_parser!(u64).range(1..=24 * 90))]
        hours: u64,
        /// At most this many moves, newest first
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
    },
    /// End an operator's pin: preemption may move the VIP again (a switchover
    /// pins the VIP on its target against preemption for PIN_SECONDS)
    #[command(after_help = AFTER_HELP)]
    Release {
        /// The group (value of the instances' group tag, e.g. vip-failover:group)
        #[arg(long, short, value_parser = NonEmptyStringValueParser::new())]
        group: String,
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
