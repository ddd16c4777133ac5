//! Reaching the VIP from outside the VPC (on-premises, other VPCs) through a
//! Transit Gateway: a Transit Gateway route table tagged for the group needs a
//! static route for each VIP towards the attachment of the members' VPC; inside
//! the VPC, the route tables of that attachment's subnets route the VIP to the
//! holder like any other group table. Pure: what to write, and the path a
//! packet from the Transit Gateway takes, hop by hop, for `check`.
//!
//! Only tagged Transit Gateway route tables are ever written, and only routes
//! whose destination is a group VIP. A failover inside the VPC changes nothing
//! here (the VPC's attachment stays the same); every run checks it anyway.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::group::{Group, Member};
use crate::plan::WriteKind;
use crate::tags::{split_list, TagContract};
use crate::world::{
    RouteTableRecord, RouteTarget, TransitAttachmentRecord, TransitRouteRecord, TransitTableRecord,
};

/// One VIP route of one tagged Transit Gateway route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransitRoute {
    pub(crate) table: String,
    pub(crate) transit_gateway: String,
    pub(crate) vip: IpNet,
    pub(crate) current: Option<TransitRouteRecord>,
    /// The members' VPC attachment on this Transit Gateway, if it has one.
    pub(crate) wanted: Option<String>,
    pub(crate) write: Option<WriteKind>,
    /// The other VPC the route leads to, where another group uses the same VIP:
    /// left alone (rule "the incumbent keeps a shared Transit Gateway route").
    pub(crate) held_elsewhere: Option<String>,
}

/// Whether a Transit Gateway route table's group tag names `group`.
pub(crate) fn tagged_for(table: &TransitTableRecord, group: &str, tags: &TagContract) -> bool {
    table
        .tags
        .get(&tags.group())
        .is_some_and(|v| split_list(v).any(|g| g == group))
}

/// The members' VPC attachment on `transit_gateway` (the lowest id when, oddly,
/// there are several).
pub(crate) fn attachment_of<'a>(
    group: &Group,
    transit_gateway: &str,
    attachments: &'a [TransitAttachmentRecord],
) -> Option<&'a TransitAttachmentRecord> {
    attachments
        .iter()
        .filter(|a| a.transit_gateway_id == transit_gateway && a.vpc_id == group.vpc_id)
        .filter(|a| a.available)
        .min_by(|a, b| a.id.cmp(&b.id))
}

/// Rule "the VIP's static route points at the members' VPC": in each table
/// tagged for the group, a missing VIP route is created, a blackholed one or one
/// to another attachment is replaced; nothing else is ever written.
///
/// Rule "the incumbent keeps a shared Transit Gateway route": a route leading to
/// another VPC where another group uses the same VIP is left alone. One table
/// reaches one of the two; replacing it would have the groups take it from each
/// other on every run.
pub(crate) fn plan(
    group: &Group,
    tables: &[TransitTableRecord],
    attachments: &[TransitAttachmentRecord],
    tags: &TagContract,
) -> Vec<TransitRoute> {
    let tagged = tables.iter().filter(|t| tagged_for(t, &group.name, tags));
    tagged
        .flat_map(|table| {
            let wanted = attachment_of(group, &table.transit_gateway_id, attachments);
            group.vips.iter().map(move |vip| {
                let current = static_route(table, vip).cloned();
                let wanted = wanted.map(|a| a.id.clone());
                let held_elsewhere = current
                    .as_ref()
                    .and_then(|c| held_by_another_group(group, (table, tags), vip, c))
                    .map(str::to_string);
                let write = match (&current, &wanted) {
                    (_, None) => None,
                    _ if held_elsewhere.is_some() => None,
                    (None, Some(_)) => Some(WriteKind::Create),
                    (Some(c), Some(w)) if c.blackhole || c.attachment.as_ref() != Some(w) => {
                        Some(WriteKind::Replace)
                    }
                    (Some(_), Some(_)) => None,
                };
                TransitRoute {
                    table: table.id.clone(),
                    transit_gateway: table.transit_gateway_id.clone(),
                    vip: *vip,
                    current,
                    wanted,
                    write,
                    held_elsewhere,
                }
            })
        })
        .collect()
}

/// The VPC `route` (in `table`) leads to, when another group uses `vip` there
/// and `table` is tagged for that group too (rule "the incumbent keeps a shared
/// Transit Gateway route"). A table tagged for this group alone is this
/// group's: its route is repaired.
fn held_by_another_group<'r>(
    group: &Group,
    (table, tags): (&TransitTableRecord, &TagContract),
    vip: &IpNet,
    route: &'r TransitRouteRecord,
) -> Option<&'r str> {
    let vpc = route.resource.as_deref().filter(|_| !route.blackhole)?;
    let there = group.vips_elsewhere.get(vip)?.get(vpc)?;
    there
        .iter()
        .any(|other| tagged_for(table, other, tags))
        .then_some(vpc)
}

fn static_route<'a>(table: &'a TransitTableRecord, vip: &IpNet) -> Option<&'a TransitRouteRecord> {
    table
        .routes
        .iter()
        .find(|r| !r.propagated && r.destination.as_ref() == Some(vip))
}

/// One hop of the path from a Transit Gateway route table to the holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub hop: String,
    pub ok: bool,
    /// What is there, or what to fix.
    pub detail: String,
}

/// Everything the path trace reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path<'a> {
    pub(crate) group: &'a Group,
    pub(crate) holder: Option<&'a Member>,
    pub(crate) attachments: &'a [TransitAttachmentRecord],
    /// Every route table of the members' VPC (with their subnet associations).
    pub(crate) vpc_tables: &'a [RouteTableRecord],
    pub(crate) tags: &'a TagContract,
}

/// The path of a packet for the VIP arriving at `table`, hop by hop: the VIP's
/// static route, the members' VPC attachment, its subnets, those subnets'
/// route tables (where a Transit Gateway's packet is routed: easy to forget),
/// and the holder's source/dest check. Then whether the VIP overlaps a route
/// the Transit Gateway learns from elsewhere.
pub(crate) fn trace(table: &TransitTableRecord, path: &Path<'_>) -> Vec<Hop> {
    let attachment = attachment_of(path.group, &table.transit_gateway_id, path.attachments);
    let mut hops = vec![static_hop((table, path.tags), path.group, attachment)];
    hops.push(attachment_hop(table, path.group, attachment));
    hops.push(subnets_hop(attachment));
    hops.push(subnet_tables_hop(path, attachment));
    hops.push(source_dest_hop(path.holder));
    hops.push(overlap_hop(table, path.group));
    hops
}

fn hop(name: &str, problems: Vec<String>, fine: String) -> Hop {
    Hop {
        hop: name.to_string(),
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            fine
        } else {
            problems.join("; ")
        },
    }
}

fn static_hop(
    (table, tags): (&TransitTableRecord, &TagContract),
    group: &Group,
    attachment: Option<&TransitAttachmentRecord>,
) -> Hop {
    let wanted = attachment.map(|a| a.id.as_str());
    let problems = group
        .vips
        .iter()
        .filter_map(|vip| {
            let route = static_route(table, vip);
            let held = route.and_then(|r| held_by_another_group(group, (table, tags), vip, r));
            match (route, held, wanted) {
                (None, _, _) => Some(format!("{} has no static route for {vip}; a reconcile creates it towards the members' VPC attachment", table.id)),
                (Some(r), _, _) if r.blackhole => Some(format!("{} routes {vip} to a blackhole; a reconcile replaces it", table.id)),
                (Some(_), Some(vpc), _) => Some(format!(
                    "{} routes {vip} to {vpc}, where another group uses the same VIP; a reconcile leaves it: tag the table for one group only, or give the groups different VIPs",
                    table.id
                )),
                (Some(r), None, Some(w)) if r.attachment.as_deref() != Some(w) => Some(format!(
                    "{} routes {vip} to {} instead of {w}; a reconcile replaces it",
                    table.id,
                    r.attachment.as_deref().unwrap_or("nothing")
                )),
                _ => None,
            }
        })
        .collect();
    let fine = format!("{} routes the VIPs to {}", table.id, wanted.unwrap_or("-"));
    hop("static route", problems, fine)
}

fn attachment_hop(
    table: &TransitTableRecord,
    group: &Group,
    attachment: Option<&TransitAttachmentRecord>,
) -> Hop {
    match attachment {
        Some(a) => hop("attachment", Vec::new(), format!("{} attaches {} to {}", a.id, a.vpc_id, a.transit_gateway_id)),
        None => hop(
            "attachment",
            vec![format!(
                "{} has no available attachment of {}: attach the VPC (aws ec2 create-transit-gateway-vpc-attachment --transit-gateway-id {} --vpc-id {} --subnet-ids ...)",
                table.transit_gateway_id, group.vpc_id, table.transit_gateway_id, group.vpc_id
            )],
            String::new(),
        ),
    }
}

fn subnets_hop(attachment: Option<&TransitAttachmentRecord>) -> Hop {
    match attachment {
        Some(a) if !a.subnets.is_empty() => hop(
            "attachment subnets",
            Vec::new(),
            format!("traffic enters through {}", a.subnets.join(", ")),
        ),
        Some(a) => hop(
            "attachment subnets",
            vec![format!(
                "{} has no subnet: add one in each AZ of the members",
                a.id
            )],
            String::new(),
        ),
        None => hop(
            "attachment subnets",
            vec!["no attachment".to_string()],
            String::new(),
        ),
    }
}

/// The route table a subnet uses: its own association, else the VPC's main
/// table.
fn table_of<'a>(subnet: &str, tables: &'a [RouteTableRecord]) -> Option<&'a RouteTableRecord> {
    tables
        .iter()
        .find(|t| t.subnets.iter().any(|s| s == subnet))
        .or_else(|| tables.iter().find(|t| t.main))
}

fn subnet_tables_hop(path: &Path<'_>, attachment: Option<&TransitAttachmentRecord>) -> Hop {
    let Some(attachment) = attachment else {
        return hop(
            "subnet route tables",
            vec!["no attachment".to_string()],
            String::new(),
        );
    };
    let Some(holder) = path.holder else {
        let problem = "no member holds the VIP: nothing to route to".to_string();
        return hop("subnet route tables", vec![problem], String::new());
    };
    let wanted = RouteTarget::NetworkInterface(holder.eni_id.clone());
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for subnet in &attachment.subnets {
        let Some(table) = table_of(subnet, path.vpc_tables) else {
            problems.push(format!("subnet {subnet} has no route table"));
            continue;
        };
        for vip in &path.group.vips {
            let on_holder = table
                .route_to(vip)
                .is_some_and(|r| r.target == wanted && !r.blackhole);
            if !on_holder {
                problems.push(format!(
                    "{} (the table of attachment subnet {subnet}) does not route {vip} to {} ({}): tag it {}={} so a reconcile keeps the route",
                    table.id, holder.instance_id, holder.eni_id, path.tags.group(), path.group.name
                ));
            }
        }
        seen.push(table.id.clone());
    }
    seen.sort();
    seen.dedup();
    hop(
        "subnet route tables",
        problems,
        format!(
            "{} route the VIPs to {}",
            seen.join(", "),
            holder.instance_id
        ),
    )
}

fn source_dest_hop(holder: Option<&Member>) -> Hop {
    match holder {
        Some(h) if h.source_dest_check == Some(false) => hop(
            "source/dest check",
            Vec::new(),
            format!("disabled on {} of {}", h.eni_id, h.instance_id),
        ),
        Some(h) => hop(
            "source/dest check",
            vec![format!(
                "{} of {} does not have source/dest check disabled: packets for the VIP are dropped (aws ec2 modify-network-interface-attribute --network-interface-id {} --no-source-dest-check)",
                h.eni_id, h.instance_id, h.eni_id
            )],
            String::new(),
        ),
        None => hop("source/dest check", vec!["no holder".to_string()], String::new()),
    }
}

/// A route the Transit Gateway learns from elsewhere that covers a VIP: with
/// the static route missing, on-premises traffic would go there.
fn overlap_hop(table: &TransitTableRecord, group: &Group) -> Hop {
    let problems = table
        .routes
        .iter()
        .filter(|r| r.propagated && r.resource.as_deref() != Some(group.vpc_id.as_str()))
        .filter_map(|r| {
            let net = r.destination?;
            let vip = group.vips.iter().find(|v| net.contains(*v))?;
            Some(format!(
                "{vip} is inside {net}, which {} learns from {}: the static /32 wins while it exists, but clients there may answer for it; pick a VIP outside every range the Transit Gateway learns",
                table.id,
                r.attachment.as_deref().unwrap_or("another attachment")
            ))
        })
        .collect();
    hop(
        "overlap",
        problems,
        "no learned route covers the VIPs".to_string(),
    )
}

#[cfg(test)]
mod tests;
