//! In-memory worlds for unit tests of the pure parts (group building, decisions).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use ipnet::IpNet;

use crate::group::{self, Group, Scope, Snapshot};
use crate::tags::TagContract;
use crate::world::{
    AlarmRecord, AlarmState, CheckStatus, EniRecord, InstanceRecord, InstanceState, RouteRecord,
    RouteTableRecord, RouteTarget, StatusChecks,
};

pub(crate) const VPC: &str = "vpc-1";
pub(crate) const VIP: &str = "192.168.100.10/32";

pub(crate) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(crate) fn eni_of(instance: &str) -> String {
    format!("eni-{}", instance.trim_start_matches("i-"))
}

/// A running, healthy member of group `web` with the seed VIP.
pub(crate) fn member(id: &str, priority: u32) -> InstanceRecord {
    InstanceRecord {
        id: id.to_string(),
        state: InstanceState::Running,
        availability_zone: Some("us-east-1a".to_string()),
        vpc_id: Some(VPC.to_string()),
        enis: vec![EniRecord {
            id: eni_of(id),
            device_index: 0,
            source_dest_check: Some(false),
            vpc_id: Some(VPC.to_string()),
            private_ip: Some(std::net::IpAddr::from([10, 0, 1, 10])),
            security_groups: vec!["sg-web".to_string()],
        }],
        tags: BTreeMap::from([
            ("vip-failover:group".to_string(), "web".to_string()),
            ("vip-failover:priority".to_string(), priority.to_string()),
            ("vip-failover:vip".to_string(), VIP.to_string()),
        ]),
        launch_time: None,
        checks: StatusChecks::OK,
    }
}

pub(crate) fn with_tag(mut record: InstanceRecord, key: &str, value: &str) -> InstanceRecord {
    record.tags.insert(key.to_string(), value.to_string());
    record
}

pub(crate) fn without_tag(mut record: InstanceRecord, key: &str) -> InstanceRecord {
    record.tags.remove(key);
    record
}

pub(crate) fn stopped(mut record: InstanceRecord) -> InstanceRecord {
    record.state = InstanceState::Stopped;
    record.checks = StatusChecks::UNKNOWN;
    record
}

pub(crate) fn impaired(mut record: InstanceRecord) -> InstanceRecord {
    record.checks.system = CheckStatus::Impaired;
    record
}

pub(crate) fn route(dest: &str, target: RouteTarget) -> RouteRecord {
    RouteRecord {
        destination: Some(net(dest)),
        target,
        blackhole: false,
    }
}

pub(crate) fn to_eni_of(instance: &str) -> RouteTarget {
    RouteTarget::NetworkInterface(eni_of(instance))
}

pub(crate) fn table(id: &str, routes: Vec<RouteRecord>) -> RouteTableRecord {
    RouteTableRecord {
        id: id.to_string(),
        vpc_id: VPC.to_string(),
        tags: BTreeMap::new(),
        routes,
        subnets: Vec::new(),
        main: false,
    }
}

pub(crate) fn tagged(mut t: RouteTableRecord, groups: &str) -> RouteTableRecord {
    t.tags
        .insert("vip-failover:group".to_string(), groups.to_string());
    t
}

/// Tables `rtb-1..=n`, each with an internet route and the VIP routed to `holder`.
pub(crate) fn tables_pointing_at(holder: &str, n: usize) -> Vec<RouteTableRecord> {
    (1..=n)
        .map(|i| {
            table(
                &format!("rtb-{i}"),
                vec![
                    route("0.0.0.0/0", RouteTarget::Other("igw-1".to_string())),
                    route(VIP, to_eni_of(holder)),
                ],
            )
        })
        .collect()
}

pub(crate) fn web_group(instances: &[InstanceRecord], tables: &[RouteTableRecord]) -> Group {
    web_group_with(instances, tables, &[])
}

/// The group with alarm levels read now.
pub(crate) fn web_group_with(
    instances: &[InstanceRecord],
    tables: &[RouteTableRecord],
    alarms: &[AlarmRecord],
) -> Group {
    build_web(&snapshot(instances, tables, alarms)).expect("valid group")
}

pub(crate) fn snapshot<'a>(
    instances: &'a [InstanceRecord],
    tables: &'a [RouteTableRecord],
    alarms: &'a [AlarmRecord],
) -> Snapshot<'a> {
    Snapshot {
        instances,
        tables,
        vpc_cidrs: &VPC_CIDRS,
        scope: &NO_SCOPE,
        probes: &NO_PROBES,
        alarms,
        alarms_unread: None,
        reported_down: None,
    }
}

pub(crate) fn build_web(snapshot: &Snapshot<'_>) -> Result<Group, crate::group::ConfigError> {
    group::build("web", snapshot, &TagContract::default())
}

/// The CIDRs of `vpc-1` (10.0.0.0/16) and `vpc-2` (10.1.0.0/16).
pub(crate) static VPC_CIDRS: LazyLock<BTreeMap<String, Vec<IpNet>>> = LazyLock::new(|| {
    BTreeMap::from([
        (VPC.to_string(), vec![net("10.0.0.0/16")]),
        ("vpc-2".to_string(), vec![net("10.1.0.0/16")]),
    ])
});

/// No probe verdicts.
pub(crate) static NO_PROBES: BTreeMap<String, crate::health::ProbeSignal> = BTreeMap::new();

/// A stack that lists no table and has no member allowlist.
pub(crate) static NO_SCOPE: Scope = Scope {
    listed: BTreeSet::new(),
    members: None,
};

/// An alarm on `instance` in `state`.
pub(crate) fn alarm_on(instance: &str, state: AlarmState) -> AlarmRecord {
    AlarmRecord {
        name: format!("vip-failover-app-{instance}"),
        instance_id: instance.to_string(),
        state,
    }
}
