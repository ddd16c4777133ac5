//! Clients outside the VPC (issue 20): the VIP's static route in the Transit
//! Gateway route tables tagged for the group, kept and checked.
//!
//! Emulated: moto 5.2.5 has Transit Gateways but loses a static route's
//! attachment in its answers and does not implement ReplaceTransitGatewayRoute
//! (`../shared/TOOLING.md`); the test kit's fault proxy (`Rules::transit`)
//! fills the attachments in, answers a replace as EC2 does, and adds the
//! routes a Transit Gateway learns by propagation. Everything is seeded through
//! the proxy so it knows every route. Real: the function's calls and moto's
//! Transit Gateways, route tables, attachments and VPC routes.

use serde_json::json;
use testkit::events::scheduled;
use testkit::fault_proxy::{FaultProxy, Rules};
use testkit::topology::{self, Seed, TransitSeed, GROUP, VIP};
use testkit::{client_for, handler_for, patient, CallLog, Emulator};
use vip_failover::handler::Handler;
use vip_failover::report::{Response, RouteResult};
use vip_failover::Config;

/// A two-AZ group whose VPC is attached to a Transit Gateway with a route
/// table tagged for the group, all behind the Transit Gateway emulation.
struct Given {
    _emulator: Emulator,
    proxy: FaultProxy,
    client: aws_sdk_ec2::Client,
    seed: Seed,
    tgw: TransitSeed,
}

impl Given {
    async fn new() -> Self {
        let emulator = Emulator::start();
        let rules = Rules {
            transit: true,
            ..Rules::default()
        };
        let proxy = FaultProxy::start(&emulator.addr(), rules).await;
        let (client, _) = client_for(&proxy.url(), &patient());
        let seed = topology::seed_two_az(&client).await.expect("seed");
        let tgw = topology::seed_transit(&client, &seed, GROUP)
            .await
            .expect("transit gateway");
        Self {
            _emulator: emulator,
            proxy,
            client,
            seed,
            tgw,
        }
    }

    /// The function with `TRANSIT_ROUTES` on or off.
    fn handler(&self, transit_routes: bool) -> (Handler, CallLog) {
        let config = Config {
            transit_routes,
            ..patient()
        };
        handler_for(&self.proxy.url(), config)
    }

    async fn routes(&self, table: &str) -> std::collections::BTreeMap<String, Option<String>> {
        topology::tgw_routes(&self.client, table)
            .await
            .expect("search")
    }
}

async fn reconcile(handler: &Handler) -> vip_failover::report::Report {
    match handler.handle(scheduled(), testkit::deadline()).await {
        Ok(Response::Reconcile { groups, .. }) => groups.into_iter().next().expect("one group"),
        other => panic!("expected a reconcile, got {other:?}"),
    }
}

#[tokio::test]
async fn given_a_tagged_transit_table_without_the_vip_route_when_reconciling_then_it_is_created_once(
) {
    let given = Given::new().await;
    let (handler, _) = given.handler(true);

    let report = reconcile(&handler).await;
    assert_eq!(report.transit_routes.len(), 1, "{report:#?}");
    assert_eq!(report.transit_routes[0].result, RouteResult::Created);
    assert!(report.changed);
    let routes = given.routes(&given.tgw.table_id).await;
    assert_eq!(
        routes.get(VIP),
        Some(&Some(given.tgw.attachment_id.clone()))
    );

    // Then a second run finds it right and writes nothing.
    let (handler, calls) = given.handler(true);
    let again = reconcile(&handler).await;
    assert_eq!(again.transit_routes[0].result, RouteResult::Unchanged);
    assert!(!again.changed);
    assert_eq!(calls.count("CreateTransitGatewayRoute"), 0);
    assert_eq!(calls.count("ReplaceTransitGatewayRoute"), 0);
}

#[tokio::test]
async fn given_a_blackholed_vip_route_when_reconciling_then_it_is_replaced_towards_the_vpc() {
    let given = Given::new().await;
    topology::tgw_blackhole_route(&given.client, &given.tgw.table_id, VIP)
        .await
        .expect("blackhole");
    let (handler, calls) = given.handler(true);

    let report = reconcile(&handler).await;
    assert_eq!(report.transit_routes[0].result, RouteResult::Replaced);
    assert_eq!(
        report.transit_routes[0].before.as_deref(),
        Some("blackhole")
    );
    assert_eq!(calls.count("ReplaceTransitGatewayRoute"), 1);
    let routes = given.routes(&given.tgw.table_id).await;
    assert_eq!(
        routes.get(VIP),
        Some(&Some(given.tgw.attachment_id.clone()))
    );
}

#[tokio::test]
async fn given_the_vip_routed_to_another_attachment_then_it_is_replaced_and_nothing_else_changes() {
    let given = Given::new().await;
    // Another VPC on the same Transit Gateway, which the VIP was pointed at.
    let other_vpc = topology::create_vpc(&given.client, "10.7.0.0/16")
        .await
        .expect("vpc");
    let subnet = topology::create_subnet(&given.client, &other_vpc, "10.7.1.0/24", "us-east-1a")
        .await
        .expect("subnet");
    let other = topology::attach_vpc(&given.client, &given.tgw.tgw_id, &other_vpc, &[subnet])
        .await
        .expect("attach");
    topology::tgw_route_to(&given.client, &given.tgw.table_id, VIP, &other)
        .await
        .expect("route");
    topology::tgw_route_to(&given.client, &given.tgw.table_id, "10.7.0.0/16", &other)
        .await
        .expect("route");
    let (handler, _) = given.handler(true);

    let report = reconcile(&handler).await;
    assert_eq!(report.transit_routes[0].result, RouteResult::Replaced);
    let routes = given.routes(&given.tgw.table_id).await;
    assert_eq!(
        routes.get(VIP),
        Some(&Some(given.tgw.attachment_id.clone()))
    );
    assert_eq!(
        routes.get("10.7.0.0/16"),
        Some(&Some(other)),
        "never collateral damage"
    );
}

/// Given group `db` in another VPC using the same VIP, attached to the same
/// Transit Gateway, and a route table tagged for both groups whose VIP route
/// leads to db's VPC, when reconciles run, then nobody writes it: `web` leaves
/// it to the incumbent and says why. Before, each group replaced it towards its
/// own VPC on every run, and the route flip-flopped between them.
#[tokio::test]
async fn given_a_table_shared_by_two_vpcs_using_one_vip_then_the_incumbent_keeps_it() {
    let given = Given::new().await;
    let db_vpc = topology::create_vpc(&given.client, "10.7.0.0/16")
        .await
        .expect("vpc");
    let subnet = topology::create_subnet(&given.client, &db_vpc, "10.7.1.0/24", "us-east-1a")
        .await
        .expect("subnet");
    let db_tags = [
        ("vip-failover:group", "db"),
        ("vip-failover:vip", VIP),
        ("vip-failover:priority", "1"),
    ];
    let db = topology::launch(&given.client, &subnet, "db-1", &db_tags)
        .await
        .expect("db member");
    let db_table = topology::create_table(&given.client, &db_vpc, &db_tags[..1], None)
        .await
        .expect("db table");
    topology::route_to_eni(&given.client, &db_table, VIP, &db.eni_id)
        .await
        .expect("db route");
    let db_attachment = topology::attach_vpc(
        &given.client,
        &given.tgw.tgw_id,
        &db_vpc,
        std::slice::from_ref(&subnet),
    )
    .await
    .expect("attach");
    topology::tgw_route_to(&given.client, &given.tgw.table_id, VIP, &db_attachment)
        .await
        .expect("route");
    given
        .client
        .create_tags()
        .resources(&given.tgw.table_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("vip-failover:group")
                .value("web,db")
                .build(),
        )
        .send()
        .await
        .expect("tag for both");
    let (handler, calls) = given.handler(true);

    for _ in 0..2 {
        let response = handler
            .handle(scheduled(), testkit::deadline())
            .await
            .expect("reconcile");
        let Response::Reconcile { groups, .. } = response else {
            panic!("expected a reconcile, got {response:?}");
        };
        let web = groups.iter().find(|g| g.group == GROUP).expect("web");
        assert!(
            web.warnings
                .iter()
                .any(|w| w.contains("left alone") && w.contains(&db_vpc)),
            "{:?}",
            web.warnings
        );
        assert_eq!(
            given.routes(&given.tgw.table_id).await.get(VIP),
            Some(&Some(db_attachment.clone()))
        );
    }
    let writes =
        calls.count("CreateTransitGatewayRoute") + calls.count("ReplaceTransitGatewayRoute");
    assert_eq!(writes, 0, "no group takes the route from the other");
}

#[tokio::test]
async fn given_an_untagged_transit_table_then_it_is_never_written() {
    let given = Given::new().await;
    let untagged =
        topology::create_tgw_route_table(&given.client, &given.tgw.tgw_id, &[("Name", "shared")])
            .await
            .expect("table");
    let other_group = [("vip-failover:group", "db")];
    let foreign = topology::create_tgw_route_table(&given.client, &given.tgw.tgw_id, &other_group)
        .await
        .expect("table");
    topology::tgw_blackhole_route(&given.client, &untagged, VIP)
        .await
        .expect("route");
    let (handler, calls) = given.handler(true);

    let report = reconcile(&handler).await;
    let tables: Vec<&str> = report
        .transit_routes
        .iter()
        .map(|r| r.route_table_id.as_str())
        .collect();
    assert_eq!(tables, [given.tgw.table_id.as_str()]);
    assert_eq!(
        given.routes(&untagged).await.get(VIP),
        Some(&None),
        "still a blackhole"
    );
    assert!(given.routes(&foreign).await.is_empty());
    // One write in all: the tagged table's.
    let writes =
        calls.count("CreateTransitGatewayRoute") + calls.count("ReplaceTransitGatewayRoute");
    assert_eq!(writes, 1);
}

#[tokio::test]
async fn given_transit_routes_off_then_no_transit_gateway_call_is_made() {
    let given = Given::new().await;
    let (handler, calls) = given.handler(false);

    let report = reconcile(&handler).await;
    assert!(report.transit_routes.is_empty());
    let actions = calls.actions();
    assert!(
        actions.iter().all(|a| !a.contains("TransitGateway")),
        "{actions:?}"
    );
    assert!(given.routes(&given.tgw.table_id).await.is_empty());
}

#[tokio::test]
async fn given_a_dry_run_then_the_transit_route_is_planned_not_written() {
    let given = Given::new().await;
    let (handler, _) = given.handler(true);
    let event = json!({"action": "failover", "group": GROUP, "dry_run": true});

    let report = match handler.handle(event, testkit::deadline()).await {
        Ok(Response::Group(report)) => report,
        other => panic!("expected a group report, got {other:?}"),
    };
    assert_eq!(report.transit_routes.len(), 1, "{report:#?}");
    assert_eq!(report.transit_routes[0].result, RouteResult::WouldCreate);
    assert!(given.routes(&given.tgw.table_id).await.is_empty());
}

/// `check`'s Transit Gateway findings: the names of the failing hops, and the
/// detail of each finding by name.
async fn transit_check(given: &Given) -> (Vec<String>, Vec<(String, String)>) {
    let (handler, _) = given.handler(true);
    let event = json!({"action": "check", "group": GROUP});
    let check = match handler.handle(event, testkit::deadline()).await {
        Ok(Response::Check(report)) => report,
        other => panic!("expected a check report, got {other:?}"),
    };
    let transit: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.check.starts_with("transit "))
        .collect();
    assert!(!transit.is_empty(), "no transit finding: {check:#?}");
    let failing = transit
        .iter()
        .filter(|f| !f.ok)
        .map(|f| f.check.clone())
        .collect();
    let details = transit
        .iter()
        .map(|f| (f.check.clone(), f.detail.clone()))
        .collect();
    (failing, details)
}

fn detail<'a>(details: &'a [(String, String)], hop: &str) -> &'a str {
    details
        .iter()
        .find(|(name, _)| name == hop)
        .map_or("", |(_, d)| d.as_str())
}

#[tokio::test]
async fn given_a_whole_path_when_checking_then_every_hop_passes() {
    let given = Given::new().await;
    topology::tgw_route_to(
        &given.client,
        &given.tgw.table_id,
        VIP,
        &given.tgw.attachment_id,
    )
    .await
    .expect("route");
    let (failing, details) = transit_check(&given).await;
    assert!(failing.is_empty(), "{details:#?}");
    assert_eq!(details.len(), 6, "six hops: {details:#?}");
}

#[tokio::test]
async fn hop_1_given_no_static_vip_route_when_checking_then_the_static_route_hop_names_the_fix() {
    let given = Given::new().await;
    let (failing, details) = transit_check(&given).await;
    assert_eq!(failing, ["transit static route"], "{details:#?}");
    assert!(detail(&details, "transit static route").contains("a reconcile creates it"));
}

#[tokio::test]
async fn hop_2_given_a_transit_gateway_the_vpc_is_not_attached_to_then_the_attachment_hop_names_the_command(
) {
    let given = Given::new().await;
    topology::tgw_route_to(
        &given.client,
        &given.tgw.table_id,
        VIP,
        &given.tgw.attachment_id,
    )
    .await
    .expect("route");
    let other = topology::create_transit_gateway(&given.client)
        .await
        .expect("tgw");
    let tags = [("vip-failover:group", GROUP)];
    let table = topology::create_tgw_route_table(&given.client, &other, &tags)
        .await
        .expect("table");
    let (failing, details) = transit_check(&given).await;
    assert!(
        failing.contains(&"transit attachment".to_string()),
        "{details:#?}"
    );
    let attachment = details
        .iter()
        .find(|(name, d)| name == "transit attachment" && d.starts_with(&table))
        .map(|(_, d)| d.as_str())
        .unwrap_or_default();
    assert!(
        attachment.contains("create-transit-gateway-vpc-attachment"),
        "{details:#?}"
    );
}

#[tokio::test]
async fn hop_4_given_an_attachment_subnets_table_without_the_vip_route_then_that_table_is_named() {
    let given = Given::new().await;
    topology::tgw_route_to(
        &given.client,
        &given.tgw.table_id,
        VIP,
        &given.tgw.attachment_id,
    )
    .await
    .expect("route");
    given
        .client
        .delete_route()
        .route_table_id(&given.seed.tables[0])
        .destination_cidr_block(VIP)
        .send()
        .await
        .expect("delete");
    let (failing, details) = transit_check(&given).await;
    assert_eq!(failing, ["transit subnet route tables"], "{details:#?}");
    let hop = detail(&details, "transit subnet route tables");
    assert!(
        hop.contains(&given.seed.tables[0]) && hop.contains("vip-failover:group=web"),
        "{hop}"
    );
}

#[tokio::test]
async fn hop_5_given_source_dest_check_on_the_holder_then_the_hop_gives_the_command() {
    let given = Given::new().await;
    topology::tgw_route_to(
        &given.client,
        &given.tgw.table_id,
        VIP,
        &given.tgw.attachment_id,
    )
    .await
    .expect("route");
    given
        .client
        .modify_network_interface_attribute()
        .network_interface_id(&given.seed.server_a.eni_id)
        .source_dest_check(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(true)
                .build(),
        )
        .send()
        .await
        .expect("source/dest check on");
    let (failing, details) = transit_check(&given).await;
    assert!(
        failing.contains(&"transit source/dest check".to_string()),
        "{details:#?}"
    );
    assert!(detail(&details, "transit source/dest check").contains("--no-source-dest-check"));
}

#[tokio::test]
async fn given_a_learned_route_covering_the_vip_when_checking_then_the_overlap_is_reported() {
    let given = Given::new().await;
    topology::tgw_route_to(
        &given.client,
        &given.tgw.table_id,
        VIP,
        &given.tgw.attachment_id,
    )
    .await
    .expect("route");
    // The Transit Gateway learns 192.168.0.0/16 from on premises: it covers the VIP.
    given.proxy.add_propagated_route(
        &given.tgw.table_id,
        "192.168.0.0/16",
        "tgw-attach-0vpn",
        "vpn-0onprem",
    );
    let (failing, details) = transit_check(&given).await;
    assert_eq!(failing, ["transit overlap"], "{details:#?}");
    assert!(detail(&details, "transit overlap").contains("192.168.0.0/16"));
}

#[tokio::test]
async fn given_a_missing_transit_route_then_status_shows_what_a_reconcile_would_write() {
    let given = Given::new().await;
    let (handler, calls) = given.handler(true);
    let event = json!({"action": "status", "group": GROUP});
    let status = match handler.handle(event, testkit::deadline()).await {
        Ok(Response::Status(status)) => status,
        other => panic!("expected a status, got {other:?}"),
    };
    assert_eq!(status.transit_routes.len(), 1, "{status:#?}");
    assert_eq!(status.transit_routes[0].route_table_id, given.tgw.table_id);
    assert_eq!(status.transit_routes[0].result, RouteResult::WouldCreate);
    calls.assert_no_writes();
}
