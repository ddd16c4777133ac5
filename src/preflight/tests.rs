//! The pre-flight check over groups built by hand.

use super::*;
use crate::testing::*;
use crate::world::RouteTarget;

fn verdicts(report: &CheckReport) -> Vec<(&str, bool)> {
    report
        .findings
        .iter()
        .map(|f| (f.check.as_str(), f.ok))
        .collect()
}

fn context<'a>(stray: &'a [StrayTable], unmapped: &'a [String]) -> Context<'a> {
    Context {
        group_tag_key: "vip-failover:group",
        stray,
        unmapped_alarms: unmapped,
        probe: ProbeContext::default(),
    }
}

#[test]
fn given_a_well_configured_group_then_every_check_passes() {
    let tables: Vec<_> = tables_pointing_at("i-a", 2)
        .into_iter()
        .map(|t| tagged(t, "web"))
        .collect();
    let report = check(
        &web_group(&[member("i-a", 10), member("i-b", 20)], &tables),
        &context(&[], &[]),
    );
    assert!(report.ok, "{report:?}");
    assert_eq!(report.findings.len(), 10);
    let membership = &report.findings[8];
    assert!(
        membership.detail.starts_with("not sealed"),
        "{membership:?}"
    );
}

#[test]
fn given_a_member_list_on_the_groups_tables_then_check_says_the_group_is_sealed_and_by_what() {
    let tables: Vec<_> = tables_pointing_at("i-a", 2)
        .into_iter()
        .map(|t| {
            let mut t = tagged(t, "web");
            t.tags.insert(
                "vip-failover:members:web".to_string(),
                "i-a,i-b".to_string(),
            );
            t
        })
        .collect();
    let report = check(
        &web_group(&[member("i-a", 10), member("i-b", 20)], &tables),
        &context(&[], &[]),
    );
    let membership = &report.findings[8];
    assert_eq!(membership.check, "membership");
    assert!(
        membership.detail.starts_with("sealed: only [i-a, i-b]")
            && membership
                .detail
                .contains("vip-failover:members:web on rtb-1"),
        "{membership:?}"
    );
}

#[test]
fn given_an_untagged_table_routing_the_vip_to_a_gateway_then_check_neither_repairs_nor_flags_it() {
    let mut tables: Vec<_> = tables_pointing_at("i-a", 2)
        .into_iter()
        .map(|t| tagged(t, "web"))
        .collect();
    tables.push(table(
        "rtb-vpn",
        vec![route(VIP, RouteTarget::Other("vgw-1".to_string()))],
    ));
    let report = check(
        &web_group(&[member("i-a", 10), member("i-b", 20)], &tables),
        &context(&[], &[]),
    );
    assert!(report.ok, "the gateway route is someone else's: {report:?}");
}

#[test]
fn given_common_mistakes_then_each_is_a_failed_check_naming_the_resource() {
    let mut b = member("i-b", 20);
    b.enis[0].source_dest_check = Some(true);
    let mut tables = tables_pointing_at("i-a", 1);
    tables.push(tagged(table("rtb-empty", vec![]), "web"));
    let group = web_group(&[impaired(member("i-a", 10)), b], &tables);
    let stray = [StrayTable {
        route_table_id: "rtb-elsewhere".to_string(),
        vpc_id: "vpc-2".to_string(),
    }];
    let unmapped = ["alarm web-cpu names no instance".to_string()];

    let report = check(&group, &context(&stray, &unmapped));

    assert!(!report.ok);
    assert_eq!(
        verdicts(&report),
        [
            ("tag_contract", true),
            ("source_dest_check", false),
            ("routes_present", false),
            ("active_member", false),
            ("healthy_standby", true),
            ("iam_scope", false),
            ("tables_in_vpc", false),
            ("alarms", false),
            ("membership", true),
            ("probe", true),
        ]
    );
    let text: String = report.problems().map(|f| f.detail.clone()).collect();
    for needle in [
        &eni_of("i-b"),
        "rtb-empty",
        "i-a",
        "rtb-1",
        "rtb-elsewhere",
        "vpc-2",
        "web-cpu",
    ] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
}

#[test]
fn given_an_unusable_member_and_a_stray_route_then_both_are_named() {
    let mut tables: Vec<_> = tables_pointing_at("i-a", 3)
        .into_iter()
        .map(|t| tagged(t, "web"))
        .collect();
    tables[2].routes[1].target = to_eni_of("i-b");
    let unattached = with_tag(member("i-c", 30), "vip-failover:eni", "eni-gone");
    let group = web_group(&[member("i-a", 10), member("i-b", 20), unattached], &tables);

    let report = check(&group, &context(&[], &[]));

    let contract = &report.findings[0];
    assert!(
        !contract.ok && contract.detail.contains("i-c") && contract.detail.contains("eni-gone")
    );
    let active = &report.findings[3];
    assert!(
        !active.ok && active.detail.contains("1 VIP routes point elsewhere"),
        "{active:?}"
    );
}

#[test]
fn given_tables_tagged_for_the_group_in_another_vpc_then_only_those_are_stray() {
    let group = web_group(
        &[member("i-a", 10), member("i-b", 20)],
        &tables_pointing_at("i-a", 1),
    );
    let mut elsewhere = tagged(table("rtb-far", vec![]), "db, web");
    elsewhere.vpc_id = "vpc-2".to_string();
    let mut other_group = tagged(table("rtb-db", vec![]), "db");
    other_group.vpc_id = "vpc-2".to_string();
    let home = tagged(table("rtb-home", vec![]), "web");

    let stray = stray_tables(
        &group,
        &[elsewhere, other_group, home],
        &crate::tags::TagContract::default(),
    );

    assert_eq!(
        stray,
        [StrayTable {
            route_table_id: "rtb-far".to_string(),
            vpc_id: "vpc-2".to_string()
        }]
    );
}

#[test]
fn given_a_probed_group_then_check_says_whether_each_member_lets_the_prober_in() {
    use crate::world::{Ingress, SecurityGroupRecord};
    let probed = |m| with_tag(m, "vip-failover:probe", "tcp:5432");
    let group = web_group(
        &[probed(member("i-a", 10)), probed(member("i-b", 20))],
        &tables_pointing_at("i-a", 1),
    );
    let rule = |groups: &[&str], cidrs: &[&str]| Ingress {
        protocol: "tcp".to_string(),
        from_port: Some(5432),
        to_port: Some(5432),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        cidrs: cidrs.iter().map(|c| net(c)).collect(),
    };
    let vpc = [net("10.0.0.0/16")];
    let verdict = |ingress: Vec<Ingress>, function: Option<&str>| {
        let groups = [SecurityGroupRecord {
            id: "sg-web".to_string(),
            ingress,
        }];
        let mut ctx = context(&[], &[]);
        ctx.probe = ProbeContext {
            function,
            security_group: Some("sg-probe"),
            groups: &groups,
            vpc_cidrs: &vpc,
        };
        let report = check(&group, &ctx);
        report
            .findings
            .into_iter()
            .find(|f| f.check == "probe")
            .unwrap()
    };
    assert!(verdict(vec![rule(&["sg-probe"], &[])], Some("probe")).ok);
    assert!(verdict(vec![rule(&[], &["10.0.0.0/8"])], Some("probe")).ok);
    let closed = verdict(vec![rule(&["sg-other"], &["10.0.5.0/24"])], Some("probe"));
    assert!(
        !closed.ok && closed.detail.contains("i-a") && closed.detail.contains("5432"),
        "{closed:?}"
    );
    let no_function = verdict(vec![rule(&["sg-probe"], &[])], None);
    assert!(
        !no_function.ok && no_function.detail.contains("ProbeSubnetIds"),
        "{no_function:?}"
    );
}
