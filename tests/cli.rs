//! Operator CLI scenarios: the built `vip-failover-cli` binary against a real EC2
//! API emulator, reached the way an operator's shell reaches AWS (environment
//! only). Given a topology, when a command runs, then its output, exit code and the
//! routes it leaves behind are what an operator expects.

use std::collections::BTreeMap;
use std::process::Stdio;

use aws_sdk_ec2::types::Tag;
use serde_json::Value;
use testkit::cli::Run;
use testkit::topology::{self, Seed, GROUP, VIP};
use testkit::Emulator;
use tokio::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_vip-failover-cli");

/// Runs the CLI with nothing from the developer's environment but what is set
/// here, and stdin that is not a terminal (as in CI).
async fn cli_with(endpoint: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Run {
    testkit::cli::run(CLI, endpoint, extra_env, args).await
}

struct World {
    emulator: Emulator,
    client: aws_sdk_ec2::Client,
    seed: Seed,
}

async fn given_the_two_az_seed() -> World {
    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let seed = topology::seed_two_az(&client).await.expect("seed");
    World {
        emulator,
        client,
        seed,
    }
}

impl World {
    async fn cli(&self, args: &[&str]) -> Run {
        cli_with(&self.emulator.url(), &[], args).await
    }

    /// `switchover --group web --yes` run inside the function `lambda` serves.
    async fn switchover_through(&self, lambda: &testkit::lambda::LocalLambda) -> Run {
        self.switchover_through_with(lambda, &[]).await
    }

    /// The same, with more arguments.
    async fn switchover_through_with(
        &self,
        lambda: &testkit::lambda::LocalLambda,
        more: &[&str],
    ) -> Run {
        let url = lambda.url();
        let env = [("AWS_ENDPOINT_URL_LAMBDA", url.as_str())];
        let mut args = vec![
            "switchover",
            "--group",
            GROUP,
            "--yes",
            "--function",
            "vip-failover",
        ];
        args.extend_from_slice(more);
        cli_with(&self.emulator.url(), &env, &args).await
    }

    /// `switchover --group web` followed by `args`.
    async fn switchover(&self, args: &[&str]) -> Run {
        let mut all = vec!["switchover", "--group", GROUP];
        all.extend_from_slice(args);
        self.cli(&all).await
    }

    /// Every VIP route of the seed's three tables points at `eni`.
    async fn assert_vip_on(&self, eni: &str) {
        let targets = topology::targets_of(&self.client, &self.seed.vpc_id, VIP)
            .await
            .expect("read targets");
        assert_eq!(targets.len(), 3, "{targets:?}");
        assert!(
            targets.values().all(|t| t == eni),
            "VIP routes not all on {eni}: {targets:?}"
        );
    }

    async fn routes(&self) -> BTreeMap<String, Vec<String>> {
        topology::dump_routes(&self.client, &self.seed.vpc_id)
            .await
            .expect("read routes")
    }

    /// Tags the seed's client tables for the group, as the README asks (the IAM
    /// policy only allows writes to tagged tables): the seed as a deployment has it.
    async fn tag_tables_for_the_group(&self) {
        self.client
            .create_tags()
            .set_resources(Some(self.seed.tables.clone()))
            .tags(
                Tag::builder()
                    .key("vip-failover:group")
                    .value(GROUP)
                    .build(),
            )
            .send()
            .await
            .expect("tag tables");
    }
}

#[tokio::test]
async fn given_the_seed_when_status_then_server_a_is_active_with_both_enis_azs_and_three_tables() {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    // Without --group: every group found by its tag (the seed has one).
    let run = world.cli(&["status"]).await;

    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(&format!("Group {GROUP}")), "{run:?}");
    assert!(run.stdout.contains(&format!("Active: ✓ {}", a.instance_id)));
    let active = run.line_with(&[&a.instance_id, &a.eni_id]);
    for needle in [
        "active",
        "us-east-1a",
        "10",
        "running",
        "✓ healthy",
        &a.eni_id,
        "✓ disabled",
    ] {
        assert!(active.contains(needle), "{needle} missing in {active:?}");
    }
    let standby = run.line_with(&[&b.instance_id, &b.eni_id]);
    for needle in ["standby", "us-east-1b", "20", "✓ healthy", &b.eni_id] {
        assert!(standby.contains(needle), "{needle} missing in {standby:?}");
    }
    for table in &world.seed.tables {
        let line = run.line_with(&[table]);
        assert!(line.trim_start().starts_with('✓'), "{line:?}");
        assert!(line.contains(VIP) && line.contains(&a.eni_id), "{line:?}");
    }
    assert!(run.stdout.contains("Reconcile would: nothing to do"));
    assert!(!run.stdout.contains('\x1b'), "colour on a pipe: {run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
}

#[tokio::test]
async fn given_the_seed_when_status_json_then_the_report_carries_members_and_routes() {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    let run = world.cli(&["status", "--group", GROUP, "--json"]).await;

    assert_eq!(run.code, 0, "{run:?}");
    let status = run.json();
    assert_eq!(status["group"], GROUP);
    assert_eq!(status["vpc_id"], world.seed.vpc_id.as_str());
    assert_eq!(status["vips"], serde_json::json!([VIP]));
    assert_eq!(status["active"], a.instance_id.as_str());
    assert_eq!(status["reconcile"], "no_change");
    let members = status["members"].as_array().expect("members");
    let facts: Vec<(&str, &str, &str, bool, bool)> = members
        .iter()
        .map(|m| {
            (
                m["instance_id"].as_str().unwrap(),
                m["eni_id"].as_str().unwrap(),
                m["availability_zone"].as_str().unwrap(),
                m["active"].as_bool().unwrap(),
                m["health"] == "healthy",
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            (
                a.instance_id.as_str(),
                a.eni_id.as_str(),
                "us-east-1a",
                true,
                true
            ),
            (
                b.instance_id.as_str(),
                b.eni_id.as_str(),
                "us-east-1b",
                false,
                true
            ),
        ]
    );
    let tables = status["route_tables"].as_array().expect("route tables");
    assert_eq!(tables.len(), 3);
    for table in tables {
        assert_eq!(table["destination"], VIP);
        assert_eq!(table["target"], a.eni_id.as_str());
        assert_eq!(table["member"], a.instance_id.as_str());
    }

    // Without --group: an array, one report per group.
    let all = world.cli(&["status", "--json"]).await.json();
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all[0], status);
}

#[tokio::test]
async fn given_the_seed_with_tagged_tables_when_check_then_every_check_passes() {
    let world = given_the_two_az_seed().await;
    world.tag_tables_for_the_group().await;

    let run = world.cli(&["check"]).await;

    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Check web: ✓ all"), "{run:?}");
    assert!(!run.stdout.contains('✗'), "{run:?}");

    let json = world.cli(&["check", "--group", GROUP, "--json"]).await;
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(json.json()["ok"], true);
}

#[tokio::test]
async fn given_source_dest_check_on_server_b_when_check_then_it_fails_naming_the_eni() {
    let world = given_the_two_az_seed().await;
    world.tag_tables_for_the_group().await;
    let eni = &world.seed.server_b.eni_id;
    topology::set_source_dest_check(&world.client, eni, true)
        .await
        .unwrap();

    let run = world.cli(&["check", "--group", GROUP]).await;

    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("✗ 1 of"), "{run:?}");
    let finding = run.line_with(&["source_dest_check"]);
    assert!(finding.trim_start().starts_with('✗'), "{finding:?}");
    assert!(finding.contains(eni.as_str()), "{finding:?}");
    assert!(finding.contains("--no-source-dest-check"), "{finding:?}");
}

#[tokio::test]
async fn given_the_seed_when_switching_over_with_yes_then_every_table_moves_to_b_and_back_with_to()
{
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    let run = world.switchover(&["--yes"]).await;

    assert_eq!(run.code, 0, "{run:?}");
    world.assert_vip_on(&b.eni_id).await;
    assert!(
        run.stdout.contains("Plan for group web: moving the VIP"),
        "{run:?}"
    );
    assert!(run.stdout.contains("Group web: ✓ VIP moved in"), "{run:?}");
    for table in &world.seed.tables {
        let done = run
            .stdout
            .lines()
            .rfind(|l| l.contains(table.as_str()))
            .unwrap();
        assert!(done.trim_start().starts_with('✓'), "{done:?}");
        assert!(
            done.contains(&a.eni_id) && done.contains(&b.eni_id),
            "{done:?}"
        );
        assert!(done.ends_with("replaced"), "{done:?}");
    }

    let back = world.switchover(&["--to", &a.instance_id, "--yes"]).await;

    assert_eq!(back.code, 0, "{back:?}");
    world.assert_vip_on(&a.eni_id).await;
}

#[tokio::test]
async fn given_the_seed_when_switching_over_with_dry_run_then_the_plan_is_shown_and_nothing_written(
) {
    let world = given_the_two_az_seed().await;
    let before = world.routes().await;

    let run = world.switchover(&["--dry-run"]).await;

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(world.routes().await, before);
    assert_eq!(run.stdout.matches("would replace").count(), 3, "{run:?}");
    assert!(run.stdout.contains(&world.seed.server_b.eni_id));
    assert!(
        run.stderr.contains("dry run: nothing was changed"),
        "{run:?}"
    );
}

/// `--json` is for scripts: stdout must be exactly the document.
#[tokio::test]
async fn given_the_seed_when_switching_over_with_dry_run_json_then_stdout_is_one_json_document() {
    let world = given_the_two_az_seed().await;

    let run = world.switchover(&["--dry-run", "--json"]).await;

    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["plan"]["dry_run"], true);
    assert_eq!(
        doc["plan"]["to"]["instance_id"],
        world.seed.server_b.instance_id.as_str()
    );
    assert_eq!(doc["result"], Value::Null);
}

#[tokio::test]
async fn given_a_stopped_server_b_when_switching_over_to_it_then_it_is_refused_and_routes_stay() {
    let world = given_the_two_az_seed().await;
    let b = &world.seed.server_b;
    topology::stop(&world.client, &b.instance_id).await.unwrap();
    let before = world.routes().await;

    let run = world.switchover(&["--to", &b.instance_id, "--yes"]).await;

    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(run.stderr.contains("unhealthy"), "{run:?}");
    assert!(run.stderr.contains(&b.instance_id), "{run:?}");
    assert_eq!(world.routes().await, before, "routes changed");
    world.assert_vip_on(&world.seed.server_a.eni_id).await;
}

#[tokio::test]
async fn given_no_yes_and_stdin_not_a_terminal_when_switching_over_then_it_refuses_and_writes_nothing(
) {
    let world = given_the_two_az_seed().await;
    let before = world.routes().await;

    let run = world.switchover(&[]).await;

    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a terminal"), "{run:?}");
    assert!(run.stderr.contains("--yes"), "{run:?}");
    assert!(!run.stderr.contains("Proceed?"), "{run:?}");
    assert_eq!(world.routes().await, before);
}

#[tokio::test]
async fn given_an_unknown_group_when_any_command_runs_then_exit_2_names_the_group_and_tag() {
    let world = given_the_two_az_seed().await;
    let before = world.routes().await;

    for args in [
        &["status", "--group", "nope"][..],
        &["check", "--group", "nope"],
        &["switchover", "--group", "nope", "--yes"],
    ] {
        let run = world.cli(args).await;

        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr
                .contains("no instance carries tag vip-failover:group=nope"),
            "{args:?}: {run:?}"
        );
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    assert_eq!(world.routes().await, before);
}

#[tokio::test]
async fn given_the_seed_in_us_east_1_when_asking_another_region_then_no_group_is_found() {
    let world = given_the_two_az_seed().await;

    let status = world.cli(&["status", "--region", "eu-west-1"]).await;
    let check = world
        .cli(&["check", "--region", "eu-west-1", "--json"])
        .await;

    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.is_empty(), "{status:?}");
    assert!(
        status
            .stderr
            .contains("no instance in eu-west-1 carries the tag vip-failover:group"),
        "{status:?}"
    );
    assert_eq!(check.code, 1, "{check:?}");
    assert_eq!(check.json(), serde_json::json!([]));
}

#[tokio::test]
async fn given_no_ec2_endpoint_when_status_then_exit_3_names_the_call() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();

    let run = cli_with(
        &format!("http://127.0.0.1:{port}"),
        &[("EC2_MAX_ATTEMPTS", "1")],
        &["status"],
    )
    .await;

    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("error: EC2 DescribeInstances failed"),
        "{run:?}"
    );
    assert!(run.stderr.contains("AWS_ENDPOINT_URL"), "{run:?}");
}

#[tokio::test]
async fn given_bad_arguments_then_exit_2_and_help_documents_the_exit_codes() {
    let endpoint = "http://127.0.0.1:9";

    let missing = cli_with(endpoint, &[], &["switchover"]).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("--group"), "{missing:?}");

    // A deadline that would overflow the clock is a wrong argument, not a panic.
    let huge = [
        "--timeout",
        "18446744073709551615",
        "status",
        "--group",
        "web",
    ];
    let huge = cli_with(endpoint, &[], &huge).await;
    assert_eq!(huge.code, 2, "{huge:?}");
    assert!(huge.stderr.contains("--timeout"), "{huge:?}");
    assert!(!huge.stderr.contains("panicked"), "{huge:?}");

    let help = cli_with(endpoint, &[], &["--help"]).await;
    assert_eq!(help.code, 0, "{help:?}");
    for needle in [
        "Exit codes:",
        "  1  problems",
        "  2  usage",
        "  3  AWS API error",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {help:?}");
    }
}

#[tokio::test]
async fn given_a_stopped_server_b_when_switching_over_to_it_with_json_then_stdout_is_the_refused_plan_and_stderr_one_line(
) {
    let world = given_the_two_az_seed().await;
    let b = &world.seed.server_b;
    topology::stop(&world.client, &b.instance_id).await.unwrap();

    let run = world
        .switchover(&["--to", &b.instance_id, "--yes", "--json"])
        .await;

    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(
        doc["error"]["errorType"], "TargetUnhealthy.Retryable",
        "{doc:#}"
    );
    assert_eq!(doc["plan"]["group"], GROUP, "{doc:#}");
    assert_eq!(doc["plan"]["action"], "refused", "{doc:#}");
    assert_eq!(doc["result"], Value::Null);
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    world.assert_vip_on(&world.seed.server_a.eni_id).await;
}

#[tokio::test]
async fn given_a_deadline_too_short_for_every_table_when_switching_over_then_the_json_lists_what_is_pending(
) {
    use testkit::fault_proxy::{Bucket, FaultProxy, Rules, TokenBuckets};
    let world = given_the_two_az_seed().await;
    // One ReplaceRoute a second, and a run of two seconds, one of them reserved.
    let buckets = TokenBuckets::default().with("ReplaceRoute", Bucket::new(1, 1));
    let rules = Rules {
        buckets: Some(buckets),
        ..Rules::default()
    };
    let proxy = FaultProxy::start(&world.emulator.addr(), rules).await;
    let args = [
        "switchover",
        "--group",
        GROUP,
        "--yes",
        "--json",
        "--timeout",
        "2",
    ];

    let run = cli_with(&proxy.url(), &[("DEADLINE_RESERVE_MS", "1000")], &args).await;

    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(
        doc["error"]["errorType"], "DeadlineReached.Retryable",
        "{doc:#}"
    );
    let results: Vec<&str> = doc["result"]["route_tables"]
        .as_array()
        .expect("the run's report")
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert!(
        results.contains(&"replaced") && results.contains(&"pending"),
        "{results:?}"
    );
    assert!(run.stderr.contains("still to write"), "{run:?}");
}

#[tokio::test]
async fn given_the_deployed_function_when_switching_over_through_it_then_it_runs_there_and_every_table_moves(
) {
    use testkit::lambda::{emulator_env, Function, LocalLambda};
    let world = given_the_two_az_seed().await;
    let lambda = LocalLambda::start(
        Function::new("vip-failover", env!("CARGO_BIN_EXE_vip-failover"))
            .envs(emulator_env(&world.emulator.url())),
    );
    let run = world.switchover_through(&lambda).await;

    assert_eq!(run.code, 0, "{run:?}\n{}", lambda.log_text());
    world.assert_vip_on(&world.seed.server_b.eni_id).await;
    assert!(run.stdout.contains("VIP moved"), "{run:?}");
    // The plan and the move both ran inside the function, one after the other.
    let answered = lambda
        .events()
        .iter()
        .filter(|e| matches!(e, testkit::lambda::RuntimeEvent::Response { .. }))
        .count();
    assert_eq!(answered, 2, "{:?}", lambda.events());

    let refused = world
        .switchover_through_with(&lambda, &["--to", "i-0123456789abcdef0"])
        .await;
    assert_eq!(
        refused.code, 2,
        "an unknown target is a usage error: {refused:?}"
    );
    assert!(
        refused.stderr.contains("i-0123456789abcdef0"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn given_a_direct_switchover_racing_the_function_then_the_race_is_reported_and_never_left_split_silently(
) {
    use testkit::fault_proxy::{FaultProxy, Rules, TokenBuckets};
    let mut world = given_the_two_az_seed().await;
    let c = topology::launch_server_c(&world.client, &world.seed)
        .await
        .unwrap();
    topology::with_tables(&world.client, &mut world.seed, 30)
        .await
        .unwrap();
    // One account, one set of EC2 buckets, AWS-like round trips: the two runs overlap.
    let rules = Rules {
        buckets: Some(TokenBuckets::documented()),
        latency: Some(std::time::Duration::from_millis(100)),
        ..Rules::default()
    };
    let proxy = FaultProxy::start(&world.emulator.addr(), rules).await;
    let (function, _) = testkit::handler_for(&proxy.url(), testkit::patient());
    let to_b = serde_json::json!({"action": "failover", "group": GROUP, "target": world.seed.server_b.instance_id});
    let cli_args = [
        "switchover",
        "--group",
        GROUP,
        "--to",
        c.instance_id.as_str(),
        "--yes",
        "--json",
    ];

    let url = proxy.url();
    let (by_function, by_operator) = tokio::join!(
        function.handle(to_b, testkit::deadline()),
        cli_with(&url, &[], &cli_args),
    );

    let targets = topology::targets_of(&world.client, &world.seed.vpc_id, VIP)
        .await
        .unwrap();
    let split = targets
        .values()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let function_text = match &by_function {
        Ok(response) => serde_json::to_string(response).unwrap(),
        Err(e) => format!("{e} {}", serde_json::to_string(&e.report()).unwrap()),
    };
    let operator_text = format!("{} {}", by_operator.stdout, by_operator.stderr);
    if split {
        assert!(
            by_function.is_err() || by_operator.code != 0,
            "tables left split silently: {targets:?}"
        );
    }
    assert!(
        function_text.contains("another writer") || operator_text.contains("another writer"),
        "neither run noticed the other:\n{function_text}\n{operator_text}"
    );
}

#[tokio::test]
async fn given_the_function_busy_with_another_run_when_switching_over_through_it_then_the_cli_waits_its_turn(
) {
    use aws_sdk_lambda::types::InvocationType;
    use testkit::fault_proxy::{FaultProxy, Rules};
    use testkit::lambda::{emulator_env, Function, LocalLambda};
    let world = given_the_two_az_seed().await;
    // Every AWS call of the function takes a second: one run lasts a few.
    let slow = Rules {
        latency: Some(std::time::Duration::from_secs(1)),
        ..Rules::default()
    };
    let proxy = FaultProxy::start(&world.emulator.addr(), slow).await;
    let lambda = LocalLambda::start(
        Function::new("vip-failover", env!("CARGO_BIN_EXE_vip-failover"))
            .envs(emulator_env(&proxy.url())),
    );
    let busy = lambda
        .client()
        .invoke()
        .function_name("vip-failover")
        .invocation_type(InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(
            serde_json::json!({"action": "reconcile"}).to_string(),
        ))
        .send()
        .await
        .expect("an asynchronous run");
    assert_eq!(busy.status_code(), 202);
    let run = world.switchover_through(&lambda).await;

    assert_eq!(run.code, 0, "{run:?}\n{}", lambda.log_text());
    assert!(run.stderr.contains("busy with another run"), "{run:?}");
    world.assert_vip_on(&world.seed.server_b.eni_id).await;
}

/// Issue 17, item 16. Old behaviour caught: run here, the CLI read only the
/// alarms of its own default prefix, so with a stack whose prefix differs it
/// could choose a member the function considers failed.
#[tokio::test]
async fn given_an_alarm_of_another_prefix_failing_b_when_switching_over_here_then_b_is_refused() {
    use aws_sdk_cloudwatch::types::StateValue;
    let world = given_the_two_az_seed().await;
    let cloudwatch = world.emulator.cloudwatch();
    let b = &world.seed.server_b.instance_id;
    testkit::cloudwatch::put_status_alarm(&cloudwatch, "acme-b-health", b, None)
        .await
        .unwrap();
    testkit::cloudwatch::set_alarm_state(&cloudwatch, "acme-b-health", StateValue::Alarm)
        .await
        .unwrap();

    let run = world.switchover(&["--to", b, "--yes"]).await;

    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("TargetUnhealthy") || run.stderr.contains("unhealthy"),
        "{run:?}"
    );
    world.assert_vip_on(&world.seed.server_a.eni_id).await;
}

/// Issue 17, item 6, as the operator sees it: after a switchover in a group
/// that preempts, `status` says the move is pinned and how to release it;
/// `release` says it is released, and `status` no longer shows the pin.
#[tokio::test]
async fn given_preemption_when_switching_over_then_status_shows_the_pin_and_release_ends_it() {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    for server in [a, b] {
        world
            .client
            .create_tags()
            .resources(&server.instance_id)
            .tags(
                Tag::builder()
                    .key("vip-failover:preempt")
                    .value("true")
                    .build(),
            )
            .send()
            .await
            .expect("tag preempt");
    }
    let moved = world.switchover(&["--to", &b.instance_id, "--yes"]).await;
    assert_eq!(moved.code, 0, "{moved:?}");

    let pinned = world.cli(&["status", "--group", GROUP]).await;

    let line = pinned.line_with(&["Pinned:"]);
    assert!(line.contains(&format!("on {}", b.instance_id)), "{line}");
    assert!(line.contains("preemption waits"), "{line}");
    assert!(line.contains("Release: vip-failover-cli release"), "{line}");
    let released = world.cli(&["release", "--group", GROUP]).await;
    assert_eq!(released.code, 0, "{released:?}");
    assert!(
        released.stdout.starts_with(&format!("{GROUP}: ")),
        "{released:?}"
    );
    let after = world.cli(&["status", "--group", GROUP]).await;
    assert!(!after.stdout.contains("Pinned:"), "{after:?}");
    assert!(after.stdout.contains("Reconcile would: "), "{after:?}");
}

/// Issue 17, "optional sealed membership", as the operator sees it: `status`
/// says whether tags on instances can add a member, and where the list is.
#[tokio::test]
async fn given_a_member_list_on_a_table_when_status_then_membership_says_sealed_and_where() {
    let world = given_the_two_az_seed().await;
    world.tag_tables_for_the_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let open = world.cli(&["status", "--group", GROUP]).await;
    assert!(
        open.line_with(&["Membership:"])
            .contains("open: any instance tagged for the group joins it"),
        "{open:?}"
    );
    let table = &world.seed.tables[0];
    let list = format!("{},{}", a.instance_id, b.instance_id);
    world
        .client
        .create_tags()
        .resources(table)
        .tags(
            Tag::builder()
                .key(format!("vip-failover:members:{GROUP}"))
                .value(list)
                .build(),
        )
        .send()
        .await
        .expect("tag the member list");

    let sealed = world.cli(&["status", "--group", GROUP]).await;

    let line = sealed.line_with(&["Membership:"]);
    assert!(line.contains("sealed to"), "{line}");
    for needle in [&a.instance_id, &b.instance_id, table] {
        assert!(line.contains(needle.as_str()), "{needle} missing in {line}");
    }
}

/// Issue 17, item 19. Old behaviour caught: tag text reached the terminal raw,
/// so a control sequence in a tag could rewrite the operator's screen.
#[tokio::test]
async fn given_a_group_name_with_a_control_sequence_when_status_then_it_is_shown_escaped() {
    let world = given_the_two_az_seed().await;
    // U+009B is the 8-bit CSI ("2J" clears the screen); XML, and so the EC2
    // API, cannot carry an ESC itself.
    let name = "evil\u{9b}2J";
    topology::launch(
        &world.client,
        &world.seed.subnets[0],
        "evil",
        &[
            ("vip-failover:group", name),
            ("vip-failover:vip", "192.168.200.1/32"),
        ],
    )
    .await
    .unwrap();

    let run = world.cli(&["status"]).await;

    assert!(!run.stdout.contains('\u{9b}'), "{run:?}");
    assert!(!run.stderr.contains('\u{9b}'), "{run:?}");
    assert!(
        run.stdout.contains("evil\\u{9b}2J") || run.stderr.contains("evil\\u{9b}2J"),
        "{run:?}"
    );
}

/// Issue 19. Old behaviour caught: `status --json | head -1` panicked on the
/// closed pipe (exit 101).
#[tokio::test]
async fn given_a_reader_that_goes_away_when_status_json_then_the_cli_exits_quietly() {
    let world = given_the_two_az_seed().await;
    let mut child = Command::new(CLI)
        .args(["status", "--group", GROUP, "--json"])
        .env_clear()
        .env("AWS_ENDPOINT_URL", world.emulator.url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());

    let output = child.wait_with_output().await.expect("wait");

    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
