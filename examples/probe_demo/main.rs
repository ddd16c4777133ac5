//! The control plane of `make demo-probe` (scripts/demo-probe.sh, issue 16):
//! "kill the service, the VIP moves, with real packets".
//!
//! ```text
//! probe_demo run --server-a 10.200.1.10 --server-b 10.200.2.10 \
//!     --vpc-cidr 10.200.0.0/22 --work DIR     # in the router namespace, until killed
//! probe_demo report --work DIR --kill-at EPOCH ...  # the measurements, RESULT line
//! ```
//!
//! `run` starts the EC2 emulator (moto, on a free loopback port of the namespace
//! it runs in), seeds a VPC whose two members have the addresses the servers'
//! namespaces really use, tags them with a probe (`vip-failover:probe`), creates
//! three route tables tagged for the group with the VIP routed to serverA, and
//! runs both function binaries in the test kit's local Lambda: the probe
//! function's on-success destination is the failover function, as the template
//! wires them. It sends the probe tick, then prints one JSON line per thing that
//! happens (`ready`, `round`, `decision`, `routes`), with epoch timestamps, until
//! it is killed. Run in the router namespace, the probe function reaches the
//! servers' real addresses, so what it sees is what nginx does.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use testkit::lambda::{emulator_env, Function, Lambdas};
use testkit::topology::{self, Server, GROUP, VIP};
use testkit::{Emulator, Result};
use vip_failover::probe::ProbeSettings;

mod follow;
mod report;

const FAILOVER: &str = "vip-failover";
const PROBE: &str = "vip-failover-probe";
/// What the demo probes: nginx's page, every second, down after two failures.
const DEMO_PROBE: &str = "http:80/ interval=1s timeout=500ms fall=2 rise=2";

#[derive(Parser)]
#[command(about = "Control plane and report of `make demo-probe`")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Emulator, seed, both functions, the probe tick; then JSON lines until killed.
    Run(RunArgs),
    /// The measurements of a run, from its logs; the last line is `RESULT ...`.
    Report(report::Args),
}

#[derive(clap::Args)]
struct RunArgs {
    /// serverA's address (its eth0 in its namespace); its subnet is the /24 around it.
    #[arg(long)]
    server_a: Ipv4Addr,
    #[arg(long)]
    server_b: Ipv4Addr,
    /// The VPC's CIDR: it must hold both /24s, and not the VIP.
    #[arg(long)]
    vpc_cidr: String,
    /// The members' `vip-failover:probe` tag.
    #[arg(long, default_value = DEMO_PROBE)]
    probe: String,
    /// PROBE_ROUND_SECONDS of the failover function (5 to 840).
    #[arg(long, default_value_t = 55)]
    round_seconds: u64,
    /// Where `seed.env` and the functions' logs go.
    #[arg(long)]
    work: PathBuf,
    /// Where `vip-failover` and `vip-failover-probe` are; default: the
    /// directory above this example's (target/debug).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Stops by itself after this long, should nobody kill it.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
}

/// The seeded world: the members and the tables tagged for the group.
struct Seeded {
    vpc: String,
    a: Server,
    b: Server,
    tables: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Report(args) => report::main(&args),
    }
}

async fn run(args: RunArgs) -> Result<()> {
    args.probe
        .parse::<ProbeSettings>()
        .map_err(|e| format!("--probe {:?}: {e}", args.probe))?;
    let bins = binaries(&args)?;
    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let seeded = seed(&client, &args).await?;
    write_env(&args.work, &emulator, &seeded)?;
    let lambdas = Lambdas::start(vec![
        Function::new(FAILOVER, &bins[0])
            .envs(emulator_env(&emulator.url()))
            .env("PROBE_FUNCTION", PROBE)
            .env("PROBE_ROUND_SECONDS", &args.round_seconds.to_string())
            .timeout(Duration::from_secs(120))
            .log(args.work.join("failover.log")),
        Function::new(PROBE, &bins[1])
            .on_success(FAILOVER)
            .timeout(Duration::from_secs(args.round_seconds + 15))
            .log(args.work.join("probe.log")),
    ]);
    // The scheduled tick (`rate(1 minute)` in the template): it starts the loop.
    lambdas.get(FAILOVER).invoke_async(r#"{"action": "probe"}"#);
    emit("tick", json!({}));
    let until = Instant::now() + Duration::from_secs(args.max_seconds);
    follow::follow(&client, &lambdas, &seeded, until).await
}

/// The two function binaries, built beside this example.
fn binaries(args: &RunArgs) -> Result<[PathBuf; 2]> {
    let dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => {
            let exe = std::env::current_exe()?;
            // target/debug/examples/probe_demo -> target/debug
            exe.parent()
                .and_then(Path::parent)
                .ok_or("no directory above the example")?
                .to_path_buf()
        }
    };
    let bins = [dir.join(FAILOVER), dir.join(PROBE)];
    for bin in &bins {
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: cargo build --locked --example probe_demo --bin vip-failover --bin vip-failover-probe",
                bin.display()
            )
            .into());
        }
    }
    Ok(bins)
}

/// A VPC over the namespaces' links, serverA (priority 10, us-east-1a) and
/// serverB (20, us-east-1b) at their real addresses with the probe tag, and
/// three tables tagged for the group routing the VIP to serverA.
async fn seed(client: &aws_sdk_ec2::Client, args: &RunArgs) -> Result<Seeded> {
    let vpc = topology::create_vpc(client, &args.vpc_cidr).await?;
    let mut servers = Vec::new();
    for (name, priority, ip, az) in [
        ("serverA", "10", args.server_a, "us-east-1a"),
        ("serverB", "20", args.server_b, "us-east-1b"),
    ] {
        let [a, b, c, _] = ip.octets();
        let cidr = format!("{a}.{b}.{c}.0/24");
        let subnet = topology::create_subnet(client, &vpc, &cidr, az).await?;
        let mut tags = topology::member_tags(priority);
        tags.push(("vip-failover:probe", args.probe.as_str()));
        let address = ip.to_string();
        let server = topology::launch_at(client, &subnet, name, &tags, Some(&address)).await?;
        servers.push(server);
    }
    let (b, a) = (
        servers.pop().ok_or("no serverB")?,
        servers.pop().ok_or("no serverA")?,
    );
    let mut tables = Vec::new();
    for name in ["clients-a", "clients-b", "clients-extra"] {
        let tags = [("Name", name), ("vip-failover:group", GROUP)];
        let table = topology::create_table(client, &vpc, &tags, None).await?;
        topology::route_to_eni(client, &table, VIP, &a.eni_id).await?;
        tables.push(table);
    }
    Ok(Seeded { vpc, a, b, tables })
}

/// `seed.env` for the script: the emulator's endpoint, the members, the tables.
fn write_env(work: &Path, emulator: &Emulator, s: &Seeded) -> Result<()> {
    let text = format!(
        "AWS_ENDPOINT_URL={}\nVPC_ID={}\nSERVER_A={}\nSERVER_A_ENI={}\nSERVER_B={}\n\
         SERVER_B_ENI={}\nTABLES=\"{}\"\n",
        emulator.url(),
        s.vpc,
        s.a.instance_id,
        s.a.eni_id,
        s.b.instance_id,
        s.b.eni_id,
        s.tables.join(" ")
    );
    // Written whole, then renamed: the script never reads half a file.
    let part = work.join("seed.env.part");
    std::fs::write(&part, text)?;
    std::fs::rename(part, work.join("seed.env"))?;
    Ok(())
}

/// Seconds since the epoch of a past instant.
fn epoch_of(at: Instant) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    now - at.elapsed().as_secs_f64()
}

/// One JSON line on stdout: `{"event": NAME, "at": EPOCH, ...fields}`.
fn emit_at(event: &str, at: f64, mut fields: Value) {
    fields["event"] = json!(event);
    fields["at"] = json!((at * 1e6).round() / 1e6);
    println!("{fields}");
}

fn emit(event: &str, fields: Value) {
    emit_at(event, epoch_of(Instant::now()), fields);
}
