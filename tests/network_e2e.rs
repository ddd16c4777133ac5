//! Failovers with real packets, in network namespaces (client, router, serverA,
//! serverB) whose router follows the emulated VPC route table:
//!
//! - issues 7 and 20, `scripts/demo-network.sh --test`: pings the VIP every 20 ms
//!   from the client in the VPC and from an on-premises client behind a Transit
//!   Gateway, fails serverA through the Lambda runtime and reports, on its last
//!   line, each client's figures (the on-premises ones prefixed `onprem_`) and
//!   the Transit Gateway route's:
//!
//!   ```text
//!   RESULT ok=1 loss_percent=0 ... first_b_reply_ms=NN route_to_first_b_ms=NN before=serverA after=serverB
//!          onprem_ok=1 onprem_loss_percent=0 ... onprem_after=serverB onprem_first_b_curl_ms=NN ...
//!          tgw_cut_off_replies=0 tgw_repair_ms=NN tgw_repaired=1 ... tgw_route_stable=1
//!   ```
//!
//!   What is emulated on the on-premises path: the Transit Gateway's data plane
//!   is a namespace (`tgw`) whose route to the VIP is written only by the route
//!   follower, from the VIP static route of an emulated Transit Gateway route
//!   table; its API is moto behind the test kit's fault proxy (its Transit
//!   Gateway emulation only: moto loses a static route's attachment and has no
//!   `ReplaceTransitGatewayRoute`). The route starts blackholed, so the
//!   on-premises client is cut off until the function's reconcile repairs it.
//!
//! - issue 16, `scripts/demo-probe.sh --test`: kills serverA's nginx while its
//!   instance keeps running; the in-VPC probe (run with the failover function in
//!   the router namespace) notices and the VIP moves. It reports:
//!
//!   ```text
//!   RESULT ok=1 kill_to_b_ms=NN failed_requests=N ... route_on_b=1 before=serverA after=serverB
//!   ```
//!
//! Both need root and network namespaces, and `.venv` (moto, boto3, cargo-lambda,
//! as `make test` installs it); without them each test says why and passes. They
//! run one after the other (one lock), never alongside each other or themselves:
//! the probe's timings must not share two cores with the other's build. Both
//! scripts run binaries built beforehand (`cargo build` with the test build's
//! features, so nothing is compiled again): about 12 and 15 s.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// From the router's route to serverB (the follower's `ip route replace`, right
/// after it saw the emulated route change) to the first echo reply from serverB.
/// With pings every 20 ms this is about 20 ms; the bound leaves room for a busy
/// machine.
const ROUTE_TO_FIRST_B_REPLY_MAX_MS: i64 = 2_000;
/// From sending the state-change event (`cargo lambda invoke`) to the first echo
/// reply from serverB: the invoke, the function's EC2 calls, the follower's poll.
/// About 100 to 300 ms here, for either client; the on-premises curl's first
/// serverB answer (every 100 ms) is held to it too.
const EVENT_TO_FIRST_B_REPLY_MAX_MS: i64 = 10_000;
/// From sending the reconcile to the on-premises client's first echo reply: the
/// function's repair of the Transit Gateway route, the tgw follower's poll.
/// About 250 to 350 ms here.
const RECONCILE_TO_ONPREM_REPLY_MAX_MS: i64 = 10_000;
/// From killing serverA's nginx to the client's first answer from serverB: the
/// probe's detection (interval 1 s, fall 2: 1 to 2 s), the decision, the
/// follower, the next curl. About 2 s here; issue 16 asks for 5 s.
const KILL_TO_B_MAX_MS: i64 = 5_000;
/// The whole script, build included; killed (and so torn down) after that.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);
/// One namespace test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// What cargo sets for a test binary and a nested cargo must not see.
const CARGO_TEST_VARS: &[&str] = &[
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_BIN_EXE_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

/// Why the test cannot run here, if it cannot (`demo`: its make target).
fn skip_reason(root: &Path, demo: &str) -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some(format!(
            "not root: network namespaces need root (run as root, or `sudo make {demo}`)"
        ));
    }
    if !root.join(".venv/bin/moto_server").exists() {
        return Some(".venv/bin/moto_server is missing: run `make tools` (or `make test`)".into());
    }
    // `ip` itself may be missing on a fresh machine: the script installs it.
    let probe = format!("vf-probe-{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(out) if out.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            None
        }
        Ok(out) => Some(format!(
            "cannot create a network namespace (`ip netns add` failed: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(_) => None,
    }
}

/// Runs `script --test`, echoing its output (shown with `--nocapture`), and
/// returns it.
fn run_script(root: &Path, script: &str) -> (Option<i32>, Vec<String>) {
    let mut command = Command::new("bash");
    // Not the variables cargo sets for this test (CARGO_MANIFEST_DIR, CARGO_PKG_*,
    // ...): build scripts watch some of them (ring's rerun-if-env-changed), so the
    // script's cargo would rebuild the SDK under them (the script drops them too).
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if CARGO_TEST_VARS
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            command.env_remove(name.as_ref());
        }
    }
    let mut child = command
        .arg("-c")
        .arg(format!("exec {script} --test 2>&1"))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its own process group, so the watchdog stops the script and the cargo
        // or curl it waits on at once (bash runs its cleanup trap only after the
        // foreground command ends).
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // Watchdog: SIGTERM makes the script tear everything down and exit.
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(SCRIPT_TIMEOUT).is_err() {
            eprintln!("network_e2e: script still running after {SCRIPT_TIMEOUT:?}: stopping it");
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
    });
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.unwrap_or_default();
        println!("{line}");
        lines.push(line);
    }
    let status = child.wait().expect("wait for the script");
    let _ = done_tx.send(());
    let _ = watchdog.join();
    (status.code(), lines)
}

fn parse_result(lines: &[String]) -> Option<Fields> {
    let line = lines.iter().rev().find(|l| l.starts_with("RESULT "))?;
    Some(Fields(
        line["RESULT ".len()..]
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

/// The `key=value` fields of a script's RESULT line.
struct Fields(HashMap<String, String>);

impl Fields {
    fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("RESULT has no {key}: {:?}", self.0))
    }

    fn ms(&self, key: &str) -> i64 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number: {:?}", self.0))
    }

    /// Asserts `key` equals `want`; `what` says what it is.
    fn expect(&self, key: &str, want: &str, what: &str) {
        assert_eq!(self.get(key), want, "{what} ({key}): {:?}", self.0);
    }

    /// Asserts the time `key` is within `0..=max` ms; `what` says what it is.
    fn within(&self, key: &str, max: i64, what: &str) -> i64 {
        let ms = self.ms(key);
        assert!(
            (0..=max).contains(&ms),
            "{what} ({key}): {ms} ms, bound {max} ms: {:?}",
            self.0
        );
        ms
    }
}

/// Runs `script --test` unless this machine cannot: its exit code and RESULT
/// fields, or `None` after saying why it was skipped.
fn run_demo(script: &str, demo: &str) -> Option<(Option<i32>, Fields)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(reason) = skip_reason(root, demo) {
        println!("SKIP network_e2e: {reason}");
        return None;
    }
    let (code, lines) = run_script(root, script);
    let Some(result) = parse_result(&lines) else {
        panic!("{script} --test exited {code:?} without a RESULT line");
    };
    if result.0.get("skipped").map(String::as_str) == Some("1") {
        println!("SKIP network_e2e: the script could not run here (see above)");
        return None;
    }
    Some((code, result))
}

/// One client's pings and curls across the planned switch (`prefix`: its
/// fields' prefix): curl answered serverA before and serverB after, no echo
/// request lost, serverB's first reply soon after the router's route changed.
fn assert_client_switched_without_loss(r: &Fields, prefix: &str) {
    let key = |name: &str| format!("{prefix}{name}");
    let who = if prefix.is_empty() {
        "the client in the VPC"
    } else {
        "the on-premises client"
    };
    r.expect(
        &key("before"),
        "serverA",
        &format!("{who}'s curl before the failover"),
    );
    r.expect(
        &key("after"),
        "serverB",
        &format!("{who}'s curl after the failover"),
    );
    r.expect(&key("lost"), "0", &format!("echo requests {who} lost"));
    r.expect(&key("loss_percent"), "0", &format!("{who}'s ping loss"));
    r.expect(
        &key("duplicates"),
        "0",
        &format!("duplicate replies to {who}"),
    );
    assert!(
        r.ms(&key("replies_a")) > 0,
        "no serverA reply to {who} before: {:?}",
        r.0
    );
    assert!(
        r.ms(&key("replies_b")) > 0,
        "no serverB reply to {who} after: {:?}",
        r.0
    );
    r.within(
        &key("route_to_first_b_ms"),
        ROUTE_TO_FIRST_B_REPLY_MAX_MS,
        &format!("{who}: router's route to serverB -> first serverB reply"),
    );
    r.within(
        &key("first_b_reply_ms"),
        EVENT_TO_FIRST_B_REPLY_MAX_MS,
        &format!("{who}: event sent -> first serverB reply"),
    );
}

#[test]
fn failover_carries_real_packets_to_server_b_without_loss_in_the_vpc_and_from_on_premises() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((code, r)) = run_demo("scripts/demo-network.sh", "demo-network") else {
        return;
    };

    // The client in the VPC, behind the router only.
    assert_client_switched_without_loss(&r, "");

    // On premises: the Transit Gateway dropped the VIP until the function's
    // reconcile repaired its static route towards the VPC's attachment.
    r.expect(
        "tgw_cut_off_replies",
        "0",
        "on-premises replies while the Transit Gateway route was broken",
    );
    r.expect("tgw_repaired", "1", "the Transit Gateway route repaired");
    r.within(
        "tgw_repair_ms",
        RECONCILE_TO_ONPREM_REPLY_MAX_MS,
        "reconcile sent -> first on-premises reply",
    );
    // Then the on-premises client crossed the failover as the VPC's did ...
    assert_client_switched_without_loss(&r, "onprem_");
    r.within(
        "onprem_first_b_curl_ms",
        EVENT_TO_FIRST_B_REPLY_MAX_MS,
        "event sent -> the on-premises curl's first serverB answer",
    );
    // ... and the failover inside the VPC left the Transit Gateway route alone.
    r.expect(
        "tgw_changes_after_repair",
        "0",
        "Transit Gateway route changes after the repair",
    );
    r.expect(
        "tgw_route_stable",
        "1",
        "the Transit Gateway route unchanged",
    );

    r.expect("ok", "1", "the script's own verdict");
    assert_eq!(code, Some(0), "scripts/demo-network.sh --test exit code");
}

#[test]
fn when_server_a_service_dies_the_probe_moves_the_vip_and_server_b_answers_within_5_s() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((code, r)) = run_demo("scripts/demo-probe.sh", "demo-probe") else {
        return;
    };

    r.expect("before", "serverA", "curl before the kill");
    r.expect("after", "serverB", "curl after the move");
    let kill_to_b = r.within(
        "kill_to_b_ms",
        KILL_TO_B_MAX_MS,
        "kill -> first serverB answer",
    );
    r.expect("route_on_b", "1", "VIP routes on serverB");
    r.expect("a_after_b", "0", "serverA answered after serverB");
    r.expect("failed_before", "0", "requests failed before the kill");
    println!(
        "network_e2e: serverB answered {kill_to_b} ms after the kill; {} requests failed",
        r.ms("failed_requests")
    );
    r.expect("ok", "1", "the script's own verdict");
    assert_eq!(code, Some(0), "scripts/demo-probe.sh --test exit code");
}
