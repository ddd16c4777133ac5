//! Given a group whose VIP must be reachable through a Transit Gateway, which
//! VIP routes are written and which hop of the path `check` names.

use std::collections::BTreeMap;

use super::*;
use crate::testing::{
    eni_of, member, net, route, table, tagged, to_eni_of, web_group, with_tag, VIP, VPC,
};
use crate::world::{RouteTarget, TransitRouteRecord};

const TGW: &str = "tgw-1";
static TAGS: std::sync::LazyLock<TagContract> = std::sync::LazyLock::new(TagContract::default);
const ATTACHMENT: &str = "tgw-attach-vpc";

fn tgw_table(id: &str, group: Option<&str>, routes: Vec<TransitRouteRecord>) -> TransitTableRecord {
    let tags = group
        .map(|g| BTreeMap::from([("vip-failover:group".to_string(), g.to_string())]))
        .unwrap_or_default();
    TransitTableRecord {
        id: id.to_string(),
        transit_gateway_id: TGW.to_string(),
        tags,
        routes,
    }
}

fn static_to(dest: &str, attachment: Option<&str>) -> TransitRouteRecord {
    TransitRouteRecord {
        destination: Some(net(dest)),
        attachment: attachment.map(str::to_string),
        resource: None,
        blackhole: attachment.is_none(),
        propagated: false,
    }
}

fn learned(dest: &str, attachment: &str, resource: &str) -> TransitRouteRecord {
    TransitRouteRecord {
        destination: Some(net(dest)),
        attachment: Some(attachment.to_string()),
        resource: Some(resource.to_string()),
        blackhole: false,
        propagated: true,
    }
}

fn attachment(subnets: &[&str]) -> TransitAttachmentRecord {
    TransitAttachmentRecord {
        id: ATTACHMENT.to_string(),
        transit_gateway_id: TGW.to_string(),
        vpc_id: VPC.to_string(),
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        available: true,
    }
}

fn group() -> Group {
    let tables = vec![tagged(
        table("rtb-1", vec![route(VIP, to_eni_of("i-a"))]),
        "web",
    )];
    web_group(&[member("i-a", 1), member("i-b", 2)], &tables)
}

fn writes(routes: &[TransitRoute]) -> Vec<(String, Option<WriteKind>)> {
    routes.iter().map(|r| (r.table.clone(), r.write)).collect()
}

#[test]
fn a_tagged_table_without_the_vip_route_gets_one_towards_the_vpc_attachment() {
    let tables = [tgw_table("tgw-rtb-1", Some("web"), vec![])];
    let planned = plan(
        &group(),
        &tables,
        &[attachment(&["subnet-a"])],
        &TagContract::default(),
    );
    assert_eq!(
        writes(&planned),
        [("tgw-rtb-1".to_string(), Some(WriteKind::Create))]
    );
    assert_eq!(planned[0].wanted.as_deref(), Some(ATTACHMENT));
    assert_eq!(planned[0].vip, net(VIP));
}

#[test]
fn a_blackholed_or_misdirected_vip_route_is_replaced_and_a_right_one_is_left() {
    let tables = [
        tgw_table("tgw-rtb-hole", Some("web"), vec![static_to(VIP, None)]),
        tgw_table(
            "tgw-rtb-other",
            Some("web"),
            vec![static_to(VIP, Some("tgw-attach-old"))],
        ),
        tgw_table(
            "tgw-rtb-good",
            Some("web"),
            vec![static_to(VIP, Some(ATTACHMENT))],
        ),
    ];
    let planned = plan(
        &group(),
        &tables,
        &[attachment(&["subnet-a"])],
        &TagContract::default(),
    );
    assert_eq!(
        writes(&planned),
        [
            ("tgw-rtb-hole".to_string(), Some(WriteKind::Replace)),
            ("tgw-rtb-other".to_string(), Some(WriteKind::Replace)),
            ("tgw-rtb-good".to_string(), None),
        ]
    );
}

/// Rule "the incumbent keeps a shared Transit Gateway route": group `db` in
/// another VPC uses the same VIP, and a table tagged for both routes it there.
/// Replacing it would have the two groups take it from each other on every
/// run; it is left alone. A route to a VPC where nobody else uses the VIP is
/// still replaced, a blackhole still repaired, and a table tagged for `web`
/// alone is web's even when its route leads to db's VPC.
#[test]
fn a_vip_route_to_another_vpc_using_the_same_vip_is_left_alone() {
    let mut other = with_tag(member("i-db", 1), "vip-failover:group", "db");
    other.vpc_id = Some("vpc-db".to_string());
    other.enis[0].vpc_id = Some("vpc-db".to_string());
    let tables = vec![tagged(
        table("rtb-1", vec![route(VIP, to_eni_of("i-a"))]),
        "web",
    )];
    let web = web_group(&[member("i-a", 1), member("i-b", 2), other], &tables);
    let to_vpc = |attachment: &str, vpc: &str| TransitRouteRecord {
        resource: Some(vpc.to_string()),
        ..static_to(VIP, Some(attachment))
    };
    let tables = [
        tgw_table(
            "tgw-rtb-shared",
            Some("web,db"),
            vec![to_vpc("tgw-attach-db", "vpc-db")],
        ),
        tgw_table(
            "tgw-rtb-stale",
            Some("web"),
            vec![to_vpc("tgw-attach-old", "vpc-old")],
        ),
        tgw_table("tgw-rtb-hole", Some("web"), vec![static_to(VIP, None)]),
        // Tagged for web alone: web's table, whatever db uses; repaired.
        tgw_table(
            "tgw-rtb-web-only",
            Some("web"),
            vec![to_vpc("tgw-attach-db", "vpc-db")],
        ),
    ];

    let planned = plan(&web, &tables, &[attachment(&["subnet-a"])], &TAGS);

    assert_eq!(
        writes(&planned),
        [
            ("tgw-rtb-shared".to_string(), None),
            ("tgw-rtb-stale".to_string(), Some(WriteKind::Replace)),
            ("tgw-rtb-hole".to_string(), Some(WriteKind::Replace)),
            ("tgw-rtb-web-only".to_string(), Some(WriteKind::Replace)),
        ]
    );
    assert_eq!(planned[0].held_elsewhere.as_deref(), Some("vpc-db"));
    assert_eq!(planned[1].held_elsewhere, None);

    // `check` says the same: the hop fails, and a reconcile does not fix it.
    let vpc = vpc_tables(true);
    let attachments = [attachment(&["subnet-tgw"])];
    let path = Path {
        group: &web,
        holder: web.members.iter().find(|m| m.instance_id == "i-a"),
        attachments: &attachments,
        vpc_tables: &vpc,
        tags: &TAGS,
    };
    let hops = trace(&tables[0], &path);
    assert_eq!(failing(&hops), ["static route"], "{hops:#?}");
    assert!(
        hops[0].detail.contains("a reconcile leaves it") && hops[0].detail.contains("vpc-db"),
        "{}",
        hops[0].detail
    );
}

#[test]
fn untagged_and_other_groups_tables_are_never_planned() {
    let tables = [
        tgw_table("tgw-rtb-untagged", None, vec![]),
        tgw_table("tgw-rtb-db", Some("db"), vec![]),
        tgw_table("tgw-rtb-both", Some("db, web"), vec![]),
    ];
    let planned = plan(
        &group(),
        &tables,
        &[attachment(&["subnet-a"])],
        &TagContract::default(),
    );
    assert_eq!(
        writes(&planned),
        [("tgw-rtb-both".to_string(), Some(WriteKind::Create))]
    );
}

#[test]
fn only_the_vip_route_is_planned_whatever_else_the_table_holds() {
    let tables = [tgw_table(
        "tgw-rtb-1",
        Some("web"),
        vec![
            static_to("0.0.0.0/0", None),
            learned("10.9.0.0/16", "tgw-attach-vpn", "vpn-1"),
        ],
    )];
    let planned = plan(
        &group(),
        &tables,
        &[attachment(&["subnet-a"])],
        &TagContract::default(),
    );
    assert!(planned.iter().all(|r| r.vip == net(VIP)));
    assert_eq!(planned.len(), 1);
}

#[test]
fn without_an_available_attachment_nothing_is_written() {
    let mut pending = attachment(&["subnet-a"]);
    pending.available = false;
    let tables = [tgw_table("tgw-rtb-1", Some("web"), vec![])];
    let planned = plan(&group(), &tables, &[pending], &TagContract::default());
    assert_eq!(writes(&planned), [("tgw-rtb-1".to_string(), None)]);
}

/// A VPC with the attachment subnet `subnet-tgw` associated to `rtb-tgw`.
fn vpc_tables(tgw_table_routes_vip: bool) -> Vec<RouteTableRecord> {
    let routes = if tgw_table_routes_vip {
        vec![route(VIP, to_eni_of("i-a"))]
    } else {
        vec![route("0.0.0.0/0", RouteTarget::Other("igw-1".to_string()))]
    };
    let mut attached = table("rtb-tgw", routes);
    attached.subnets = vec!["subnet-tgw".to_string()];
    let mut main = table("rtb-main", vec![route(VIP, to_eni_of("i-a"))]);
    main.main = true;
    vec![attached, main]
}

fn failing(hops: &[Hop]) -> Vec<&str> {
    hops.iter()
        .filter(|h| !h.ok)
        .map(|h| h.hop.as_str())
        .collect()
}

#[test]
fn a_whole_path_traces_clean() {
    let g = group();
    let tables = vpc_tables(true);
    let attachments = [attachment(&["subnet-tgw"])];
    let path = Path {
        group: &g,
        holder: g.members.iter().find(|m| m.instance_id == "i-a"),
        attachments: &attachments,
        vpc_tables: &tables,
        tags: &TAGS,
    };
    let tgw = tgw_table(
        "tgw-rtb-1",
        Some("web"),
        vec![static_to(VIP, Some(ATTACHMENT))],
    );
    let hops = trace(&tgw, &path);
    assert_eq!(failing(&hops), Vec::<&str>::new(), "{hops:#?}");
    assert_eq!(hops.len(), 6);
}

#[test]
fn each_broken_hop_is_named_with_its_fix() {
    let g = group();
    let tables = vpc_tables(false);
    let attachments = [attachment(&["subnet-tgw"])];
    let mut holder = g.members.iter().find(|m| m.instance_id == "i-a").cloned();
    if let Some(h) = holder.as_mut() {
        h.source_dest_check = Some(true);
    }
    let path = Path {
        group: &g,
        holder: holder.as_ref(),
        attachments: &attachments,
        vpc_tables: &tables,
        tags: &TAGS,
    };
    let tgw = tgw_table(
        "tgw-rtb-1",
        Some("web"),
        vec![
            static_to(VIP, None),
            learned("192.168.0.0/16", "tgw-attach-vpn", "vpn-1"),
        ],
    );
    let hops = trace(&tgw, &path);
    assert_eq!(
        failing(&hops),
        [
            "static route",
            "subnet route tables",
            "source/dest check",
            "overlap"
        ]
    );
    let detail = |name: &str| {
        hops.iter()
            .find(|h| h.hop == name)
            .map(|h| h.detail.clone())
    };
    assert!(detail("static route").is_some_and(|d| d.contains("blackhole")));
    assert!(detail("subnet route tables")
        .is_some_and(|d| d.contains("rtb-tgw") && d.contains("vip-failover:group=web")));
    assert!(detail("source/dest check").is_some_and(|d| d.contains(&eni_of("i-a"))));
    assert!(detail("overlap").is_some_and(|d| d.contains("192.168.0.0/16")));
}

#[test]
fn a_subnet_without_its_own_table_uses_the_main_table() {
    let g = group();
    let tables = vpc_tables(false);
    let attachments = [attachment(&["subnet-unassociated"])];
    let path = Path {
        group: &g,
        holder: g.members.iter().find(|m| m.instance_id == "i-a"),
        attachments: &attachments,
        vpc_tables: &tables,
        tags: &TAGS,
    };
    let tgw = tgw_table(
        "tgw-rtb-1",
        Some("web"),
        vec![static_to(VIP, Some(ATTACHMENT))],
    );
    let hops = trace(&tgw, &path);
    assert_eq!(failing(&hops), Vec::<&str>::new(), "{hops:#?}");
    assert!(hops[3].detail.contains("rtb-main"));
}

#[test]
fn without_an_attachment_the_fix_is_the_attach_command() {
    let g = group();
    let tables = vpc_tables(true);
    let path = Path {
        group: &g,
        holder: g.members.first(),
        attachments: &[],
        vpc_tables: &tables,
        tags: &TAGS,
    };
    let tgw = tgw_table("tgw-rtb-1", Some("web"), vec![]);
    let hops = trace(&tgw, &path);
    let attach = hops.iter().find(|h| h.hop == "attachment");
    assert!(
        attach.is_some_and(|h| !h.ok && h.detail.contains("create-transit-gateway-vpc-attachment"))
    );
}

#[test]
fn an_attachment_without_subnets_is_named() {
    // EC2 requires a subnet per attachment; an emulator (or a half-deleted
    // attachment) may show none, and the packet then has no way in.
    let g = group();
    let tables = vpc_tables(true);
    let attachments = [attachment(&[])];
    let path = Path {
        group: &g,
        holder: g.members.first(),
        attachments: &attachments,
        vpc_tables: &tables,
        tags: &TAGS,
    };
    let tgw = tgw_table(
        "tgw-rtb-1",
        Some("web"),
        vec![static_to(VIP, Some(ATTACHMENT))],
    );
    let hops = trace(&tgw, &path);
    assert!(failing(&hops).contains(&"attachment subnets"), "{hops:#?}");
}
