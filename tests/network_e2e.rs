//! Failovers with real packets, in network namespaces (client, router, serverA,
//! serverB) whose router follows the emulated VPC route table:
//!
//! - issue 7, `scripts/demo-network.sh --test`: pings the VIP from the client
//!   every 20 ms, fails serverA through the Lambda runtime and reports, on its
//!   last line:
//!
//!   ```text
//!   RESULT ok=1 loss_percent=0 ... first_b_reply_ms=NN route_to_first_b_ms=NN before=serverA after=serverB
//!   ```
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
//! the probe's timings must not share two cores with the other's build. About 15 s
//! each.

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
/// About 100 to 300 ms here.
const EVENT_TO_FIRST_B_REPLY_MAX_MS: i64 = 10_000;
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

fn parse_result(lines: &[String]) -> Option<HashMap<String, String>> {
    let line = lines.iter().rev().find(|l| l.starts_with("RESULT "))?;
    Some(
        line["RESULT ".len()..]
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Runs `script --test` unless this machine cannot: its exit code and RESULT
/// fields, or `None` after saying why it was skipped.
fn run_demo(script: &str, demo: &str) -> Option<(Option<i32>, HashMap<String, String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(reason) = skip_reason(root, demo) {
        println!("SKIP network_e2e: {reason}");
        return None;
    }
    let (code, lines) = run_script(root, script);
    let Some(result) = parse_result(&lines) else {
        panic!("{script} --test exited {code:?} without a RESULT line");
    };
    if result.get("skipped").map(String::as_str) == Some("1") {
        println!("SKIP network_e2e: the script could not run here (see above)");
        return None;
    }
    Some((code, result))
}

#[test]
fn failover_carries_real_packets_from_server_a_to_server_b_without_loss() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((code, result)) = run_demo("scripts/demo-network.sh", "demo-network") else {
        return;
    };
    let get = |key: &str| -> &str {
        result
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("RESULT has no {key}: {result:?}"))
    };
    let ms = |key: &str| -> i64 {
        get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number: {result:?}"))
    };

    assert_eq!(
        get("before"),
        "serverA",
        "curl before the failover: {result:?}"
    );
    assert_eq!(
        get("after"),
        "serverB",
        "curl after the failover: {result:?}"
    );
    assert_eq!(get("lost"), "0", "echo requests lost: {result:?}");
    assert_eq!(get("loss_percent"), "0", "ping loss: {result:?}");
    assert_eq!(get("duplicates"), "0", "duplicate replies: {result:?}");
    assert!(
        ms("replies_a") > 0,
        "no reply from serverA before: {result:?}"
    );
    assert!(
        ms("replies_b") > 0,
        "no reply from serverB after: {result:?}"
    );
    let route_to_b = ms("route_to_first_b_ms");
    assert!(
        (0..=ROUTE_TO_FIRST_B_REPLY_MAX_MS).contains(&route_to_b),
        "first serverB reply {route_to_b} ms after the route write (bound {ROUTE_TO_FIRST_B_REPLY_MAX_MS} ms): {result:?}"
    );
    let event_to_b = ms("first_b_reply_ms");
    assert!(
        (0..=EVENT_TO_FIRST_B_REPLY_MAX_MS).contains(&event_to_b),
        "first serverB reply {event_to_b} ms after the event (bound {EVENT_TO_FIRST_B_REPLY_MAX_MS} ms): {result:?}"
    );
    assert_eq!(
        get("ok"),
        "1",
        "the script judged the run failed: {result:?}"
    );
    assert_eq!(code, Some(0), "scripts/demo-network.sh --test exit code");
}

#[test]
fn when_server_a_service_dies_the_probe_moves_the_vip_and_server_b_answers_within_5_s() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((code, result)) = run_demo("scripts/demo-probe.sh", "demo-probe") else {
        return;
    };
    let get = |key: &str| -> &str {
        result
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("RESULT has no {key}: {result:?}"))
    };
    let ms = |key: &str| -> i64 {
        get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number: {result:?}"))
    };

    assert_eq!(get("before"), "serverA", "curl before the kill: {result:?}");
    assert_eq!(get("after"), "serverB", "curl after the move: {result:?}");
    let kill_to_b = ms("kill_to_b_ms");
    assert!(
        (0..=KILL_TO_B_MAX_MS).contains(&kill_to_b),
        "first serverB answer {kill_to_b} ms after the kill (bound {KILL_TO_B_MAX_MS} ms): {result:?}"
    );
    assert_eq!(get("route_on_b"), "1", "VIP routes on serverB: {result:?}");
    assert_eq!(
        get("a_after_b"),
        "0",
        "serverA answered after serverB: {result:?}"
    );
    assert_eq!(
        get("failed_before"),
        "0",
        "requests failed before the kill: {result:?}"
    );
    println!(
        "network_e2e: serverB answered {kill_to_b} ms after the kill; {} requests failed",
        ms("failed_requests")
    );
    assert_eq!(
        get("ok"),
        "1",
        "the script judged the run failed: {result:?}"
    );
    assert_eq!(code, Some(0), "scripts/demo-probe.sh --test exit code");
}
