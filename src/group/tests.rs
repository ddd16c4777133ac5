//! The tag contract: given tagged instances and tables, then the group is what
//! the tags say, a member that cannot serve is named, and a group that
//! contradicts itself is refused.

use super::*;
use crate::health::Grade;
use crate::testing::*;
use crate::world::AlarmState;
use std::collections::BTreeMap;

fn build_err(instances: &[InstanceRecord]) -> ConfigError {
    let mut snap = snapshot(instances, &[], &[]);
    let tables = tables_pointing_at("i-a", 1);
    snap.tables = &tables;
    let cidrs = BTreeMap::from([(
        VPC.to_string(),
        vec![net("10.0.0.0/16"), net("2600:1f18::/56")],
    )]);
    snap.vpc_cidrs = &cidrs;
    build_web(&snap).expect_err("invalid group")
}

fn says(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing in: {text}");
    }
}

fn unresolved(group: &Group) -> Vec<(&str, &str)> {
    group
        .unresolved
        .iter()
        .map(|u| (u.instance_id.as_str(), u.detail.as_str()))
        .collect()
}

#[test]
fn given_valid_tags_then_members_are_ordered_by_priority_and_tables_scoped_to_the_vpc() {
    let mut foreign = tables_pointing_at("i-a", 1).remove(0);
    foreign.id = "rtb-foreign".to_string();
    foreign.vpc_id = "vpc-2".to_string();
    let mut tables = tables_pointing_at("i-a", 2);
    tables.push(foreign);
    tables.push(table(
        "rtb-unrelated",
        vec![route("10.1.0.0/16", to_eni_of("i-a"))],
    ));

    let group = web_group(&[member("i-b", 20), member("i-a", 10)], &tables);

    let ids: Vec<_> = group
        .members
        .iter()
        .map(|m| m.instance_id.as_str())
        .collect();
    assert_eq!(ids, ["i-a", "i-b"]);
    let tables: Vec<_> = group.tables.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(tables, ["rtb-1", "rtb-2"]);
    assert_eq!(group.vips, vec![net(VIP)]);
    assert!(!group.preempt);
    assert!(group
        .members
        .iter()
        .all(|m| m.health.grade == Grade::Healthy));
}

#[test]
fn given_vip_lists_with_bare_addresses_and_ipv6_then_they_are_host_routes() {
    let group = web_group(
        &[
            with_tag(
                member("i-a", 10),
                "vip-failover:vip",
                "192.168.100.10, fd00::10/128",
            ),
            with_tag(
                member("i-b", 20),
                "vip-failover:vip",
                "fd00::10/128,192.168.100.10/32",
            ),
        ],
        &tables_pointing_at("i-a", 1),
    );
    assert_eq!(
        group.vips,
        vec![net("192.168.100.10/32"), net("fd00::10/128")]
    );
}

#[test]
fn given_a_group_tag_with_stray_spaces_then_every_path_sees_the_same_member() {
    let padded = with_tag(member("i-b", 20), "vip-failover:group", " web ");
    let group = web_group(
        &[member("i-a", 10), padded.clone()],
        &tables_pointing_at("i-a", 1),
    );
    assert_eq!(group.members.len(), 2);
    assert!(is_member(&padded, " web", &TagContract::default()));
    let names = group_names(&[member("i-a", 10), padded], &TagContract::default());
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["web"]);
}

#[test]
fn given_an_eni_tag_then_that_eni_is_the_target_and_an_unattached_one_makes_the_member_unusable() {
    let mut a = member("i-a", 10);
    a.enis.push(crate::world::EniRecord {
        id: "eni-second".into(),
        device_index: 1,
        source_dest_check: Some(false),
        vpc_id: Some(VPC.to_string()),
        private_ip: None,
        security_groups: Vec::new(),
    });
    let chosen = with_tag(a.clone(), "vip-failover:eni", "eni-second");
    let group = web_group(&[chosen, member("i-b", 20)], &tables_pointing_at("i-a", 1));
    assert_eq!(group.members[0].eni_id, "eni-second");

    let group = web_group(
        &[
            with_tag(a, "vip-failover:eni", "eni-nope"),
            member("i-b", 20),
        ],
        &tables_pointing_at("i-a", 1),
    );
    assert_eq!(group.members.len(), 1);
    let [(id, detail)] = unresolved(&group)[..] else {
        panic!("{:?}", group.unresolved)
    };
    assert_eq!(id, "i-a");
    says(detail, &["eni-nope", "vip-failover:eni", "not attached"]);
}

#[test]
fn given_an_eni_of_another_vpc_then_the_member_is_unusable() {
    let mut a = member("i-a", 10);
    a.enis[0].vpc_id = Some("vpc-2".to_string());
    let group = web_group(&[a, member("i-b", 20)], &tables_pointing_at("i-a", 1));
    says(unresolved(&group)[0].1, &[&eni_of("i-a"), "vpc-2", "vpc-1"]);
}

#[test]
fn given_a_terminated_member_without_vpc_or_eni_then_it_is_a_failed_member_and_the_group_still_acts(
) {
    let mut gone = member("i-a", 10);
    gone.state = crate::world::InstanceState::Terminated;
    gone.vpc_id = None;
    gone.enis.clear();
    let group = web_group(&[gone, member("i-b", 20)], &tables_pointing_at("i-a", 1));
    assert_eq!(group.vpc_id, VPC);
    assert_eq!(group.members.len(), 1);
    says(unresolved(&group)[0].1, &["i-a", "terminated", "no VPC"]);
}

#[test]
fn given_a_bad_tag_value_on_one_member_then_that_member_is_unusable_and_named_with_the_fix() {
    let cases: Vec<(InstanceRecord, Vec<&str>)> = vec![
        (
            with_tag(member("i-a", 1), "vip-failover:priority", "high"),
            vec!["i-a", "vip-failover:priority", "high", "integer"],
        ),
        (
            with_tag(member("i-a", 1), "vip-failover:priority", "-5"),
            vec!["i-a", "-5"],
        ),
        (
            without_tag(member("i-a", 1), "vip-failover:vip"),
            vec!["i-a", "vip-failover:vip", "no"],
        ),
        (
            with_tag(member("i-a", 1), "vip-failover:vip", "not-an-ip"),
            vec!["i-a", "not-an-ip", "192.168.100.10/32"],
        ),
        (
            with_tag(member("i-a", 1), "vip-failover:vip", "192.168.100.0/24"),
            vec!["i-a", "host route", "/32"],
        ),
        (
            with_tag(member("i-a", 1), "vip-failover:vip", " , "),
            vec!["i-a", "no address"],
        ),
        (
            with_tag(member("i-a", 1), "vip-failover:preempt", "yes"),
            vec!["i-a", "vip-failover:preempt", "true or false"],
        ),
    ];
    for (a, needles) in cases {
        let group = web_group(&[a, member("i-b", 20)], &tables_pointing_at("i-a", 1));
        assert_eq!(group.members.len(), 1, "{needles:?}");
        says(unresolved(&group)[0].1, &needles);
    }
}

#[test]
fn given_members_that_contradict_each_other_then_the_group_is_refused_naming_both_and_the_fix() {
    let b = || member("i-b", 20);
    let cases: Vec<(Vec<InstanceRecord>, Vec<&str>)> = vec![
        (
            vec![
                with_tag(member("i-a", 1), "vip-failover:vip", "10.0.5.5/32"),
                with_tag(b(), "vip-failover:vip", "10.0.5.5/32"),
            ],
            vec!["10.0.5.5/32", "10.0.0.0/16", "vpc-1", "outside"],
        ),
        (
            vec![
                with_tag(member("i-a", 1), "vip-failover:vip", "2600:1f18::5/128"),
                with_tag(b(), "vip-failover:vip", "2600:1f18::5/128"),
            ],
            vec!["2600:1f18::5/128", "2600:1f18::/56"],
        ),
    ];
    for (instances, needles) in cases {
        says(&build_err(&instances).to_string(), &needles);
    }
}

#[test]
fn given_the_holders_vip_tag_changed_then_the_routed_vip_wins_and_the_holder_is_set_aside() {
    // The tables route .10 to serverA; someone retags serverA with .11. The
    // group's VIP is still .10 (its routes say so): serverA is set aside as a
    // dissenter (and so the VIP leaves it) instead of the group freezing.
    let a = with_tag(member("i-a", 1), "vip-failover:vip", "192.168.100.11/32");
    let group = web_group(&[a, member("i-b", 20)], &tables_pointing_at("i-a", 1));
    assert_eq!(group.vips, vec![net(VIP)]);
    assert_eq!(group.members.len(), 1);
    says(
        unresolved(&group)[0].1,
        &["i-a", "192.168.100.11/32", "192.168.100.10/32"],
    );
}

#[test]
fn given_members_disagreeing_on_the_vip_with_no_route_to_tell_then_the_group_is_refused() {
    let a = with_tag(member("i-a", 1), "vip-failover:vip", "192.168.100.11/32");
    let both = [a, member("i-b", 20)];
    let err = build_web(&snapshot(&both, &[], &[])).expect_err("a tie");
    says(
        &err.to_string(),
        &[
            "i-a",
            "i-b",
            "192.168.100.11/32",
            "192.168.100.10/32",
            "same",
        ],
    );
}

#[test]
fn given_members_in_two_vpcs_then_the_vpc_the_tables_route_in_wins_and_the_other_is_set_aside() {
    let mut b = member("i-b", 20);
    b.vpc_id = Some("vpc-2".to_string());
    let group = web_group(
        &[member("i-a", 10), b.clone()],
        &tables_pointing_at("i-a", 1),
    );
    assert_eq!(group.vpc_id, VPC);
    assert_eq!(group.members.len(), 1);
    says(unresolved(&group)[0].1, &["i-b", "vpc-2", "vpc-1"]);
    // Nothing tells which VPC is the group's: refused, naming both and the fix.
    let both = [member("i-a", 10), b];
    let snap = snapshot(&both, &[], &[]);
    let err = build_web(&snap).expect_err("no incumbent VPC");
    assert!(matches!(err, ConfigError::MixedVpcs { .. }), "{err}");
    says(
        &err.to_string(),
        &["vpc-1", "vpc-2", "vip-failover:group=web"],
    );
}

#[test]
fn given_members_that_disagree_on_preemption_then_it_is_off_with_a_warning_and_nobody_is_set_aside()
{
    let group = web_group(
        &[
            with_tag(member("i-a", 1), "vip-failover:preempt", "true"),
            with_tag(member("i-b", 20), "vip-failover:preempt", "false"),
        ],
        &tables_pointing_at("i-a", 1),
    );
    assert!(!group.preempt);
    assert_eq!(group.members.len(), 2);
    says(
        &group.warnings.join(" "),
        &["preemption is off", "i-a", "i-b"],
    );
}

#[test]
fn given_no_member_then_the_group_is_unknown_and_the_tag_is_named() {
    let err = build_err(&[with_tag(member("i-a", 10), "vip-failover:group", "db")]);
    assert!(matches!(err, ConfigError::UnknownGroup { .. }));
    says(&err.to_string(), &["vip-failover:group=web"]);
}

#[test]
fn given_a_newcomer_group_claiming_a_vip_routed_to_the_incumbent_then_only_the_newcomer_is_refused()
{
    let intruder = with_tag(member("i-x", 1), "vip-failover:group", "evil");
    let instances = [member("i-a", 10), member("i-b", 20), intruder];
    let tables = tables_pointing_at("i-a", 1);
    let snap = snapshot(&instances, &tables, &[]);
    let web = build_web(&snap).expect("the incumbent keeps working");
    says(&web.warnings.join(" "), &["evil", "i-x", VIP]);
    let err = build("evil", &snap, &TagContract::default()).expect_err("newcomer");
    assert!(matches!(err, ConfigError::NewcomerVip { .. }), "{err}");
    says(&err.to_string(), &["web", "i-a", VIP]);
}

#[test]
fn given_two_groups_claiming_a_vip_no_route_points_at_then_both_are_refused() {
    let other = with_tag(member("i-x", 1), "vip-failover:group", "other");
    let instances = [member("i-a", 10), member("i-b", 20), other];
    let tables = vec![tagged(table("rtb-1", vec![]), "web")];
    let snap = snapshot(&instances, &tables, &[]);
    let err = build_web(&snap).expect_err("contested");
    assert!(matches!(err, ConfigError::ContestedVip { .. }), "{err}");
    says(&err.to_string(), &["other", "i-x", VIP]);
}

#[test]
fn given_the_same_vip_in_another_vpc_or_on_a_terminated_instance_then_there_is_no_contest() {
    let mut elsewhere = with_tag(member("i-x", 1), "vip-failover:group", "other");
    elsewhere.vpc_id = Some("vpc-2".to_string());
    let mut gone = with_tag(member("i-y", 1), "vip-failover:group", "old");
    gone.state = crate::world::InstanceState::Terminated;
    let group = web_group(
        &[member("i-a", 10), member("i-b", 20), elsewhere, gone],
        &tables_pointing_at("i-a", 1),
    );
    assert_eq!(group.members.len(), 2);
}

#[test]
fn given_alarms_and_a_down_event_then_they_grade_the_members_they_name() {
    let instances = [member("i-a", 10), member("i-b", 20), member("i-c", 30)];
    let tables = tables_pointing_at("i-a", 1);
    let alarms = [
        alarm_on("i-a", AlarmState::Alarm),
        alarm_on("i-zzz", AlarmState::Alarm),
    ];
    let mut snap = snapshot(&instances, &tables, &alarms);
    snap.reported_down = Some((
        "i-b",
        crate::health::ReportedDown {
            state: crate::world::InstanceState::Stopping,
            at: None,
        },
    ));
    let group = build_web(&snap).unwrap();
    let grades: Vec<_> = group
        .members
        .iter()
        .map(|m| (m.instance_id.as_str(), m.health.grade))
        .collect();
    assert_eq!(
        grades,
        [
            ("i-a", Grade::Failed),
            ("i-b", Grade::Failed),
            ("i-c", Grade::Healthy)
        ]
    );
}

#[test]
fn given_move_records_then_only_those_on_the_group_tables_are_read() {
    let mut tables = tables_pointing_at("i-a", 1);
    tables[0].tags.insert(
        "vip-failover:last-move:web".into(),
        "2026-11-24T03:00:00Z i-a>i-b".into(),
    );
    let mut elsewhere = table(
        "rtb-unrelated",
        vec![route("10.1.0.0/16", to_eni_of("i-a"))],
    );
    elsewhere.tags.insert(
        "vip-failover:last-move:web".into(),
        "2099-01-01T00:00:00Z i-a>i-b".into(),
    );
    tables.push(elsewhere);
    let group = web_group(&[member("i-a", 10), member("i-b", 20)], &tables);
    let records: Vec<_> = group.tables.iter().map(|t| t.record.as_deref()).collect();
    assert_eq!(records, [Some("2026-11-24T03:00:00Z i-a>i-b")]);
}

#[test]
fn given_a_group_name_too_long_for_its_move_record_key_then_it_is_refused_naming_the_limit() {
    let long = "w".repeat(105);
    let instances = [
        with_tag(member("i-a", 10), "vip-failover:group", &long),
        with_tag(member("i-b", 20), "vip-failover:group", &long),
    ];
    let tables = tables_pointing_at("i-a", 1);
    let err = build(
        &long,
        &snapshot(&instances, &tables, &[]),
        &TagContract::default(),
    )
    .expect_err("a 128-character tag key");
    assert!(
        matches!(
            err,
            ConfigError::GroupNameTooLong {
                len: 128,
                max: 127,
                ..
            }
        ),
        "{err}"
    );
    says(
        &err.to_string(),
        &["vip-failover:last-move:", "127", "shorten"],
    );
    let fits = "w".repeat(104);
    let instances = instances.map(|i| with_tag(i, "vip-failover:group", &fits));
    assert!(build(
        &fits,
        &snapshot(&instances, &tables, &[]),
        &TagContract::default()
    )
    .is_ok());
}

/// The group's own tables with `vip-failover:members:web` set to `list`.
fn sealed_to(table: RouteTableRecord, list: &str) -> RouteTableRecord {
    let mut table = tagged(table, "web");
    table
        .tags
        .insert("vip-failover:members:web".to_string(), list.to_string());
    table
}

#[test]
fn given_a_member_list_on_the_groups_tables_then_a_newcomer_tagged_for_the_group_is_set_aside() {
    let tables: Vec<_> = tables_pointing_at("i-a", 2)
        .into_iter()
        .map(|t| sealed_to(t, "i-a,i-b"))
        .collect();
    // i-c tags itself into the group with the best priority.
    let instances = [member("i-a", 10), member("i-b", 20), member("i-c", 1)];

    let group = web_group(&instances, &tables);

    let seal = group.seal.as_ref().expect("sealed");
    assert_eq!(
        seal.members.iter().map(String::as_str).collect::<Vec<_>>(),
        ["i-a", "i-b"]
    );
    assert_eq!(group.members.len(), 2);
    let set_aside = unresolved(&group);
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(set_aside[0].0, "i-c");
    says(
        set_aside[0].1,
        &["sealed member list", "vip-failover:members:web on rtb-1"],
    );
}

#[test]
fn given_member_lists_that_disagree_then_the_group_is_sealed_to_what_they_share() {
    let tables = vec![
        sealed_to(tables_pointing_at("i-a", 1).remove(0), "i-a,i-b"),
        sealed_to(tables_pointing_at("i-a", 2).remove(1), "i-a,i-c"),
    ];
    let instances = [member("i-a", 10), member("i-b", 20), member("i-c", 30)];

    let group = web_group(&instances, &tables);

    assert_eq!(group.members.len(), 1, "only i-a is on both lists");
    let mut set_aside: Vec<_> = unresolved(&group).into_iter().map(|u| u.0).collect();
    set_aside.sort_unstable();
    assert_eq!(set_aside, ["i-b", "i-c"]);
}
