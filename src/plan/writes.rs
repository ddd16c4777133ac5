//! The writes towards a chosen member, and what the plan warns about.

use super::{RouteWrite, WriteKind};
use crate::group::{Group, Member};
use crate::health::Grade;
use crate::world::RouteTarget;

/// The writes that make every VIP route of the group point at `member`'s ENI.
pub(super) fn writes_towards(group: &Group, member: &Member) -> Vec<RouteWrite> {
    let wanted = RouteTarget::NetworkInterface(member.eni_id.clone());
    group
        .routes()
        .filter_map(|(table, route)| {
            let kind = match &route.current {
                Some(r) if r.target == wanted && !r.blackhole => return None,
                Some(r) if group.leaves_alone(table, r) => return None,
                Some(_) => WriteKind::Replace,
                None if table.tagged => WriteKind::Create,
                // An untagged table opted in by holding a VIP route; we only move
                // routes there, never add ones its owner did not create.
                None => return None,
            };
            Some(RouteWrite {
                route_table_id: table.id.clone(),
                destination: route.vip,
                kind,
                before: route.current.as_ref().map(|r| r.target.clone()),
                eni_id: member.eni_id.clone(),
                may_create: table.tagged,
            })
        })
        .collect()
}

/// The routes the trust boundary ([`Group::leaves_alone`]) keeps out of every
/// plan, one warning each.
pub(super) fn foreign_routes(group: &Group) -> Vec<String> {
    group
        .routes()
        .filter_map(|(table, route)| {
            let current = route.current.as_ref()?;
            group.leaves_alone(table, current).then(|| {
                format!(
                    "{} is not tagged for the group and routes {} to {}, which is not the group's: left alone; tag the table for the group to have it follow the VIP",
                    table.id,
                    route.vip,
                    current.target.id()
                )
            })
        })
        .collect()
}

/// One line per member that is not healthy, and per tagged instance that cannot
/// be a member.
pub(super) fn health_warnings(group: &Group) -> Vec<String> {
    let in_maintenance = group.members.iter().filter(|m| m.maintenance).map(|m| {
        format!(
            "member {} is in maintenance: not a candidate until its maintenance tag is removed",
            m.instance_id
        )
    });
    let mut warnings: Vec<String> = in_maintenance.collect();
    warnings.extend(
        group
            .members
            .iter()
            .filter(|m| m.health.grade != Grade::Healthy)
            .map(|m| match m.health.grade {
                Grade::Failed => format!("member {} failed: {}", m.instance_id, m.health.summary()),
                _ => format!(
                    "member {} health is unknown: {}",
                    m.instance_id,
                    m.health.summary()
                ),
            }),
    );
    warnings.extend(group.unresolved.iter().map(|u| {
        format!(
            "instance {} is tagged for the group but cannot be a member: {}",
            u.instance_id, u.detail
        )
    }));
    if group.members.len() + group.unresolved.len() < 2 {
        warnings.push(format!(
            "group {} has a single member: there is nothing to fail over to",
            group.name
        ));
    }
    warnings
}

pub(super) fn target_warnings(group: &Group, chosen: &Member) -> Vec<String> {
    let mut warnings = Vec::new();
    if chosen.health.grade == Grade::Unknown {
        // An operator may name (or leave) a target of unknown health while
        // another member is healthy; only say "none is" when it is true.
        let none_healthy = group
            .members
            .iter()
            .all(|m| m.health.grade != Grade::Healthy);
        warnings.push(format!(
            "{} was chosen although its health is unknown ({}){}",
            chosen.instance_id,
            chosen.health.summary(),
            if none_healthy {
                ": no member is healthy"
            } else {
                ""
            }
        ));
    }
    if chosen.source_dest_check == Some(true) {
        warnings.push(format!(
            "ENI {} of {} has source/dest check enabled and will drop traffic for the VIP; disable it (aws ec2 modify-network-interface-attribute --network-interface-id {} --no-source-dest-check)",
            chosen.eni_id, chosen.instance_id, chosen.eni_id
        ));
    }
    warnings
}

/// `i-a (failed: state stopped); i-b (healthy)`.
pub(super) fn member_health(group: &Group) -> String {
    let members = group.members.iter().map(|m| {
        let grade = match m.health.grade {
            Grade::Healthy => "healthy".to_string(),
            Grade::Unknown => format!("unknown: {}", m.health.summary()),
            Grade::Failed => format!("failed: {}", m.health.summary()),
        };
        // A member set aside for maintenance says so: "healthy" alone would
        // read as a candidate that was overlooked.
        let aside = if m.maintenance {
            ", in maintenance"
        } else {
            ""
        };
        format!("{} ({grade}{aside})", m.instance_id)
    });
    let unresolved = group
        .unresolved
        .iter()
        .map(|u| format!("{} (failed: {})", u.instance_id, u.detail));
    members.chain(unresolved).collect::<Vec<_>>().join("; ")
}
