//! The Transit Gateway emulation ([`Rules::transit`]) against a real emulator,
//! through the SDK: what moto 5.2.5 loses or lacks (a static route's attachment,
//! `ReplaceTransitGatewayRoute`, propagated routes, EC2's errors) is answered as
//! EC2 answers it, and without the emulation the answers are moto's own.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, TransitGatewayAttachmentResourceType, TransitGatewayRoute, TransitGatewayRouteState,
    TransitGatewayRouteType,
};
use aws_sdk_ec2::Client;
use vip_failover::Config;

use super::*;
use crate::topology::{self, VIP};
use crate::{client_for, patient, CallLog, Emulator};

/// A transit gateway with a route table tagged for the group, and two VPCs
/// attached (`a` and `b`), all made through the proxy so it learns them.
struct Net {
    emulator: Emulator,
    proxy: FaultProxy,
    client: Client,
    calls: CallLog,
    table: String,
    a: String,
    b: String,
    vpc_a: String,
    vpc_b: String,
}

async fn net(transit: bool) -> Net {
    let emulator = Emulator::start();
    let rules = Rules {
        transit,
        ..Rules::default()
    };
    let proxy = FaultProxy::start(&emulator.addr(), rules).await;
    // Two attempts, as the function's own client has more: one CI run (2 cores,
    // every test starting its own emulator) saw an answer without an error code,
    // a transport failure, once. A second attempt hides no EC2 answer: the
    // emulated errors are 400s, which the SDK does not retry.
    let config = Config {
        max_attempts: 2,
        ..patient()
    };
    let (client, calls) = client_for(&proxy.url(), &config);
    let tgw = topology::create_transit_gateway(&client)
        .await
        .expect("tgw");
    let tags = [("vip-failover:group", "web")];
    let table = topology::create_tgw_route_table(&client, &tgw, &tags)
        .await
        .expect("table");
    let mut attached = Vec::new();
    for (cidr, subnet) in [
        ("10.0.0.0/16", "10.0.1.0/24"),
        ("10.1.0.0/16", "10.1.1.0/24"),
    ] {
        let vpc = topology::create_vpc(&client, cidr).await.expect("vpc");
        let subnet = topology::create_subnet(&client, &vpc, subnet, "us-east-1a")
            .await
            .expect("subnet");
        let attachment = topology::attach_vpc(&client, &tgw, &vpc, &[subnet])
            .await
            .expect("attach");
        attached.push((attachment, vpc));
    }
    let [(a, vpc_a), (b, vpc_b)] = <[_; 2]>::try_from(attached).expect("two");
    calls.clear();
    Net {
        emulator,
        proxy,
        client,
        calls,
        table,
        a,
        b,
        vpc_a,
        vpc_b,
    }
}

impl Net {
    async fn replace(&self, table: &str, attachment: &str) -> Result<TransitGatewayRoute, String> {
        self.client
            .replace_transit_gateway_route()
            .transit_gateway_route_table_id(table)
            .destination_cidr_block(VIP)
            .transit_gateway_attachment_id(attachment)
            .send()
            .await
            .map(|out| out.route().expect("a route").clone())
            .map_err(|e| {
                let described = format!("{e:?}");
                let service = e.into_service_error();
                // Not a service error (a dispatch or parse failure): say what it was.
                service.code().map_or(described, str::to_string)
            })
    }

    async fn routes(&self) -> BTreeMap<String, Option<String>> {
        topology::tgw_routes(&self.client, &self.table)
            .await
            .expect("search")
    }

    /// The routes of the table passing one filter.
    async fn search(&self, name: &str, values: &[&str]) -> Vec<TransitGatewayRoute> {
        let filter = Filter::builder()
            .name(name)
            .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
            .build();
        self.client
            .search_transit_gateway_routes()
            .transit_gateway_route_table_id(&self.table)
            .filters(filter)
            .send()
            .await
            .expect("search")
            .routes()
            .to_vec()
    }

    fn last_status(&self) -> Option<u16> {
        self.calls.calls().last().and_then(|c| c.status)
    }
}

/// The attachment of a route, as (attachment, resource, resource type).
fn attachment_of(route: &TransitGatewayRoute) -> Option<(String, String, String)> {
    let attachment = route.transit_gateway_attachments().first()?;
    Some((
        attachment.transit_gateway_attachment_id()?.to_string(),
        attachment.resource_id()?.to_string(),
        attachment.resource_type()?.as_str().to_string(),
    ))
}

#[tokio::test]
async fn given_a_route_created_to_attachment_a_then_the_answer_and_search_show_a() {
    let net = net(true).await;

    let out = net
        .client
        .create_transit_gateway_route()
        .transit_gateway_route_table_id(&net.table)
        .destination_cidr_block(VIP)
        .transit_gateway_attachment_id(&net.a)
        .send()
        .await
        .expect("create");

    let route = out.route().expect("route");
    let a = Some((net.a.clone(), net.vpc_a.clone(), "vpc".to_string()));
    assert_eq!(attachment_of(route), a);
    assert_eq!(
        net.routes().await,
        BTreeMap::from([(VIP.to_string(), Some(net.a.clone()))])
    );
    let searched = net.search("type", &["static"]).await;
    assert_eq!(attachment_of(&searched[0]), a);
    assert_eq!(searched[0].state(), Some(&TransitGatewayRouteState::Active));
    assert_eq!(
        searched[0].transit_gateway_attachments()[0].resource_type(),
        Some(&TransitGatewayAttachmentResourceType::Vpc)
    );
}

#[tokio::test]
async fn given_a_route_to_a_when_replaced_to_b_then_the_answer_and_search_show_b() {
    let net = net(true).await;
    topology::tgw_route_to(&net.client, &net.table, VIP, &net.a)
        .await
        .expect("route");

    let route = net.replace(&net.table, &net.b).await.expect("replace");

    assert_eq!(net.last_status(), Some(200));
    assert_eq!(route.destination_cidr_block(), Some(VIP));
    assert_eq!(route.r#type(), Some(&TransitGatewayRouteType::Static));
    assert_eq!(route.state(), Some(&TransitGatewayRouteState::Active));
    let b = Some((net.b.clone(), net.vpc_b.clone(), "vpc".to_string()));
    assert_eq!(attachment_of(&route), b);
    assert_eq!(
        net.routes().await,
        BTreeMap::from([(VIP.to_string(), Some(net.b.clone()))])
    );
    // One call on the wire, answered by the proxy (moto has no replace).
    let replaces = net
        .proxy
        .seen()
        .iter()
        .filter(|s| s.action == "ReplaceTransitGatewayRoute")
        .count();
    assert_eq!(replaces, 1);
}

#[tokio::test]
async fn given_a_blackhole_route_when_replaced_to_b_then_it_is_active_through_b() {
    let net = net(true).await;
    topology::tgw_blackhole_route(&net.client, &net.table, VIP)
        .await
        .expect("blackhole");
    let before = net.search("type", &["static"]).await;
    assert_eq!(
        before[0].state(),
        Some(&TransitGatewayRouteState::Blackhole)
    );
    assert_eq!(
        net.routes().await,
        BTreeMap::from([(VIP.to_string(), None)])
    );

    net.replace(&net.table, &net.b).await.expect("replace");

    let after = net.search("type", &["static"]).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].state(), Some(&TransitGatewayRouteState::Active));
    assert_eq!(
        net.routes().await,
        BTreeMap::from([(VIP.to_string(), Some(net.b.clone()))])
    );
}

/// EC2 answers HTTP 400 `InvalidRoute.NotFound` for a route that is not there
/// (moto: HTTP 500), and `InvalidRouteTableID.NotFound` for a table that is not.
#[tokio::test]
async fn given_no_route_when_replaced_then_invalid_route_not_found_and_nothing_is_created() {
    let net = net(true).await;

    let missing = net.replace(&net.table, &net.b).await;
    assert_eq!(
        missing.map(|_| ()),
        Err("InvalidRoute.NotFound".to_string())
    );
    assert_eq!(net.last_status(), Some(400));
    assert!(net.routes().await.is_empty());

    let no_table = net.replace("tgw-rtb-0123456789abcdef0", &net.b).await;
    assert_eq!(
        no_table.map(|_| ()),
        Err("InvalidRouteTableID.NotFound".to_string())
    );
    assert_eq!(net.last_status(), Some(400));

    let deleted = net
        .client
        .delete_transit_gateway_route()
        .transit_gateway_route_table_id(&net.table)
        .destination_cidr_block(VIP)
        .send()
        .await;
    let code = deleted.map_err(|e| e.into_service_error().code().map(str::to_string));
    assert_eq!(
        code.map(|_| ()),
        Err(Some("InvalidRoute.NotFound".to_string()))
    );
}

#[tokio::test]
async fn given_a_static_route_when_created_again_then_route_already_exists() {
    let net = net(true).await;
    topology::tgw_route_to(&net.client, &net.table, VIP, &net.a)
        .await
        .expect("route");

    let again = topology::tgw_route_to(&net.client, &net.table, VIP, &net.b).await;

    assert!(again.is_err(), "a second static route");
    assert_eq!(net.last_status(), Some(400));
    let refused = net
        .client
        .create_transit_gateway_route()
        .transit_gateway_route_table_id(&net.table)
        .destination_cidr_block(VIP)
        .blackhole(true)
        .send()
        .await
        .map_err(|e| e.into_service_error().code().map(str::to_string));
    assert_eq!(
        refused.map(|_| ()),
        Err(Some("RouteAlreadyExists".to_string()))
    );
    assert_eq!(
        net.routes().await,
        BTreeMap::from([(VIP.to_string(), Some(net.a.clone()))])
    );
}

/// Without the emulation, moto's own answers: the attachment is lost, replace is
/// an internal error, and no propagated route shows. (What the tests above would
/// see without it.)
#[tokio::test]
async fn given_no_transit_emulation_then_moto_loses_the_attachment_and_cannot_replace() {
    let net = net(false).await;
    topology::tgw_route_to(&net.client, &net.table, VIP, &net.a)
        .await
        .expect("route");
    net.proxy
        .add_propagated_route(&net.table, "10.50.0.0/16", &net.b, &net.vpc_b);

    assert_eq!(
        net.routes().await,
        BTreeMap::from([(VIP.to_string(), None)])
    );
    assert!(net.replace(&net.table, &net.b).await.is_err());
    assert_eq!(net.last_status(), Some(500));
    let all = net.search("type", &["static", "propagated"]).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].r#type(), Some(&TransitGatewayRouteType::Static));

    // The proxy learned all along: turning the emulation on shows the attachment.
    net.proxy.set_rules(Rules {
        transit: true,
        ..Rules::default()
    });
    assert_eq!(
        net.routes().await,
        BTreeMap::from([(VIP.to_string(), Some(net.a.clone()))])
    );
}

/// moto keeps propagations but propagates no routes: the test declares them, and
/// searches show them as EC2 does, filtered by `type`, `state` and exact match.
#[tokio::test]
async fn given_a_propagated_route_then_search_shows_it_as_propagated_and_filters_apply() {
    let net = net(true).await;
    topology::tgw_route_to(&net.client, &net.table, VIP, &net.a)
        .await
        .expect("route");
    net.proxy
        .add_propagated_route(&net.table, "10.1.0.0/16", &net.b, &net.vpc_b);
    net.proxy
        .add_propagated_route("tgw-rtb-other", "10.9.0.0/16", &net.b, &net.vpc_b);

    let all = net.search("type", &["static", "propagated"]).await;
    let kinds: Vec<_> = all
        .iter()
        .map(|r| {
            (
                r.destination_cidr_block().unwrap_or_default(),
                r.r#type().cloned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (VIP, Some(TransitGatewayRouteType::Static)),
            ("10.1.0.0/16", Some(TransitGatewayRouteType::Propagated)),
        ]
    );
    let b = Some((net.b.clone(), net.vpc_b.clone(), "vpc".to_string()));
    assert_eq!(attachment_of(&all[1]), b);
    assert_eq!(all[1].state(), Some(&TransitGatewayRouteState::Active));

    let propagated = net.search("type", &["propagated"]).await;
    assert_eq!(propagated.len(), 1);
    assert_eq!(propagated[0].destination_cidr_block(), Some("10.1.0.0/16"));
    assert_eq!(
        net.routes().await.len(),
        1,
        "type static: the static route only"
    );
    let exact = net
        .search("route-search.exact-match", &["10.1.0.0/16"])
        .await;
    assert_eq!(exact.len(), 1);
    assert!(net.search("state", &["blackhole"]).await.is_empty());
}

/// An attachment made around the proxy (with the emulator's own client): the
/// proxy asks moto for its VPC.
#[tokio::test]
async fn given_an_attachment_made_around_the_proxy_then_its_vpc_is_looked_up() {
    let net = net(true).await;
    let (direct, _) = net.emulator.client();
    let tgw = topology::create_transit_gateway(&direct)
        .await
        .expect("tgw");
    let vpc = topology::create_vpc(&direct, "10.2.0.0/16")
        .await
        .expect("vpc");
    let subnet = topology::create_subnet(&direct, &vpc, "10.2.1.0/24", "us-east-1b")
        .await
        .expect("subnet");
    let attachment = topology::attach_vpc(&direct, &tgw, &vpc, &[subnet])
        .await
        .expect("attach");

    topology::tgw_route_to(&net.client, &net.table, VIP, &attachment)
        .await
        .expect("route");

    let searched = net.search("type", &["static"]).await;
    assert_eq!(
        attachment_of(&searched[0]),
        Some((attachment, vpc, "vpc".to_string()))
    );
}
