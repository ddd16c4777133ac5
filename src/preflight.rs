//! The pre-flight check: everything that would make a failover fail or black-hole
//! traffic, found before it is needed. Pure, over a group snapshot: one function
//! per finding, listed once in [`check`].

use serde::{Deserialize, Serialize};

use crate::group::{self, ConfigError, Group, GroupTable};
use crate::health::Grade;
use crate::plan;
use crate::probe::Check;
use crate::tags::TagContract;
use crate::transit;
use crate::world::{RouteTableRecord, SecurityGroupRecord, TransitTableRecord};

use ipnet::IpNet;

/// One verdict of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// Answer to the manual `check` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub group: String,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.ok)
    }

    /// More findings (read beside the group, like the Transit Gateway path).
    pub(crate) fn add(&mut self, findings: Vec<Finding>) {
        self.ok &= findings.iter().all(|f| f.ok);
        self.findings.extend(findings);
    }
}

/// A group whose tags contradict themselves fails one check: the tag contract.
pub(crate) fn invalid(group: &str, error: &ConfigError) -> CheckReport {
    CheckReport {
        group: group.to_string(),
        ok: false,
        findings: vec![Finding {
            check: "tag_contract".to_string(),
            ok: false,
            detail: error.to_string(),
        }],
    }
}

/// A route table tagged for the group in a VPC other than the members'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StrayTable {
    pub(crate) route_table_id: String,
    pub(crate) vpc_id: String,
}

/// The tables tagged for `group` outside its VPC, among all tables carrying the
/// group tag key: the failover ignores them (a route there could not reach the
/// members), so only the pre-flight reports them.
pub(crate) fn stray_tables(
    group: &Group,
    tagged: &[RouteTableRecord],
    tags: &TagContract,
) -> Vec<StrayTable> {
    tagged
        .iter()
        .filter(|t| t.vpc_id != group.vpc_id)
        .filter(|t| group::table_is_tagged_for(t, &group.name, tags))
        .map(|t| StrayTable {
            route_table_id: t.id.clone(),
            vpc_id: t.vpc_id.clone(),
        })
        .collect()
}

/// What the check looks at besides the group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) group_tag_key: &'a str,
    pub(crate) stray: &'a [StrayTable],
    /// Alarms of the deployment's prefix that name no instance or several.
    pub(crate) unmapped_alarms: &'a [String],
    pub(crate) probe: ProbeContext<'a>,
}

/// What the probe check needs: the stack's probe function and security group,
/// and the members' security groups as read now.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProbeContext<'a> {
    pub(crate) function: Option<&'a str>,
    pub(crate) security_group: Option<&'a str>,
    pub(crate) groups: &'a [SecurityGroupRecord],
    /// The VPC's CIDRs: a rule admitting all of them admits the prober too.
    pub(crate) vpc_cidrs: &'a [IpNet],
}

pub(crate) fn check(group: &Group, context: &Context<'_>) -> CheckReport {
    let findings = vec![
        tag_contract(group),
        source_dest_check(group),
        routes_present(group, context.group_tag_key),
        active_member(group),
        healthy_standby(group),
        iam_scope(group, context.group_tag_key),
        tables_in_vpc(group, context),
        alarms(context),
        membership(group, context.group_tag_key),
        probe_reachable(group, &context.probe),
    ];
    CheckReport {
        group: group.name.clone(),
        ok: findings.iter().all(|f| f.ok),
        findings,
    }
}

/// The path from each Transit Gateway route table tagged for the group to the
/// holder, hop by hop ([`transit::trace`]): one finding per hop and table, so
/// a broken hop is named with its fix.
pub(crate) fn transit_paths(
    tables: &[TransitTableRecord],
    path: &transit::Path<'_>,
) -> Vec<Finding> {
    let tagged = tables
        .iter()
        .filter(|t| transit::tagged_for(t, &path.group.name, path.tags));
    tagged
        .flat_map(|table| {
            transit::trace(table, path).into_iter().map(|hop| Finding {
                check: format!("transit {}", hop.hop),
                ok: hop.ok,
                detail: format!("{}: {}", table.id, hop.detail),
            })
        })
        .collect()
}

fn finding(check: &'static str, problems: Vec<String>, fine: String) -> Finding {
    Finding {
        check: check.to_string(),
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            fine
        } else {
            problems.join("; ")
        },
    }
}

/// The tags agree; every tagged instance can serve as a member.
fn tag_contract(group: &Group) -> Finding {
    let problems = group
        .unresolved
        .iter()
        .map(|u| format!("{} cannot be a member: {}", u.instance_id, u.detail))
        .collect();
    let vips: Vec<String> = group.vips.iter().map(ToString::to_string).collect();
    let fine = format!(
        "{} members in {}, VIPs [{}] outside the VPC CIDRs",
        group.members.len(),
        group.vpc_id,
        vips.join(", ")
    );
    finding("tag_contract", problems, fine)
}

/// Source/dest check on a member's ENI drops the VIP's packets once it holds it.
fn source_dest_check(group: &Group) -> Finding {
    let problems = group
        .members
        .iter()
        .filter(|m| m.source_dest_check != Some(false))
        .map(|m| {
            format!(
                "ENI {} of {} has source/dest check {}; disable it: aws ec2 modify-network-interface-attribute --network-interface-id {} --no-source-dest-check",
                m.eni_id,
                m.instance_id,
                if m.source_dest_check == Some(true) { "enabled" } else { "unknown" },
                m.eni_id
            )
        })
        .collect();
    finding(
        "source_dest_check",
        problems,
        "disabled on every member ENI".to_string(),
    )
}

/// Every tagged table has its VIP routes; none is a blackhole.
fn routes_present(group: &Group, group_tag_key: &str) -> Finding {
    let mut problems = Vec::new();
    if group.tables.is_empty() {
        problems.push(format!(
            "no route table holds a VIP route or is tagged {group_tag_key}={}; tag the clients' route tables",
            group.name
        ));
    }
    for (table, route) in group.routes() {
        match &route.current {
            None if table.tagged => problems.push(format!(
                "{} is tagged for the group but has no route for {}; a failover will create it, or run a reconcile",
                table.id, route.vip
            )),
            Some(r) if r.blackhole => problems.push(format!(
                "{} routes {} to {}, which is gone (blackhole)",
                table.id,
                route.vip,
                r.target.id()
            )),
            _ => {}
        }
    }
    let fine = format!("{} route tables carry the VIP routes", group.tables.len());
    finding("routes_present", problems, fine)
}

/// The holder is healthy and every VIP route agrees on it.
fn active_member(group: &Group) -> Finding {
    let holder = plan::holder(group);
    // A route the trust boundary leaves alone is not the group's to repair.
    let stray = group
        .routes()
        .filter(|(t, r)| {
            let Some(c) = r.current.as_ref() else {
                return false;
            };
            let on_holder = !c.blackhole && holder.is_some_and(|h| h.is_target_of(&c.target));
            !on_holder && !group.leaves_alone(t, c)
        })
        .count();
    let mut problems = Vec::new();
    match holder {
        Some(h) if h.maintenance => problems.push(format!(
            "the VIP is on {}, which is in maintenance; the next run moves it to a fit member",
            h.instance_id
        )),
        Some(h) if h.health.grade != Grade::Healthy => problems.push(format!(
            "the VIP is on {}, which is not healthy ({}); a reconcile or failover acts on it",
            h.instance_id,
            h.health.summary()
        )),
        None if !group.tables.is_empty() => {
            problems.push("no VIP route points at a member; run a reconcile".to_string())
        }
        _ => {}
    }
    if stray > 0 && holder.is_some() {
        problems.push(format!(
            "{stray} VIP routes point elsewhere than the holder; a reconcile repairs them"
        ));
    }
    let fine = holder
        .map(|h| format!("{} holds the VIP and is healthy", h.instance_id))
        .unwrap_or_else(|| "no route yet".to_string());
    finding("active_member", problems, fine)
}

/// A failure of the holder can be absorbed.
fn healthy_standby(group: &Group) -> Finding {
    let holder = plan::holder(group).map(|h| h.instance_id.as_str());
    let standbys: Vec<&str> = group
        .members
        .iter()
        .filter(|m| m.health.grade == Grade::Healthy && Some(m.instance_id.as_str()) != holder)
        .filter(|m| !m.maintenance)
        .map(|m| m.instance_id.as_str())
        .collect();
    let resting: Vec<&str> = group
        .members
        .iter()
        .filter(|m| m.maintenance)
        .map(|m| m.instance_id.as_str())
        .collect();
    let aside = if resting.is_empty() {
        String::new()
    } else {
        format!(" ({} in maintenance: out of candidacy)", resting.join(", "))
    };
    let problems = if standbys.is_empty() {
        vec![format!(
            "no healthy standby{aside}: a failure of the active member cannot be absorbed"
        )]
    } else {
        Vec::new()
    };
    finding(
        "healthy_standby",
        problems,
        format!("healthy standbys: {}{aside}", standbys.join(", ")),
    )
}

/// The deployment's IAM policy only lets the function write to route tables that
/// carry the group tag (or are listed in its RouteTableIds parameter).
fn iam_scope(group: &Group, group_tag_key: &str) -> Finding {
    let ours = |t: &GroupTable| {
        t.routes
            .iter()
            .filter_map(|r| r.current.as_ref())
            .any(|c| !group.leaves_alone(t, c))
    };
    let problems = group
        .tables
        .iter()
        .filter(|t| !t.own() && ours(t))
        .map(|t| {
            format!(
                "{} holds a VIP route but is not tagged {group_tag_key}; tag it or list it in the stack's RouteTableIds, or the route write is denied",
                t.id
            )
        })
        .collect();
    finding(
        "iam_scope",
        problems,
        "every route table the group writes is tagged for it or listed".to_string(),
    )
}

fn tables_in_vpc(group: &Group, context: &Context<'_>) -> Finding {
    let problems = context
        .stray
        .iter()
        .map(|t| {
            format!(
                "{} in {} is tagged {}={} but the members are in {}; remove the tag or tag a table of {}",
                t.route_table_id, t.vpc_id, context.group_tag_key, group.name, group.vpc_id, group.vpc_id
            )
        })
        .collect();
    let fine = format!(
        "every route table tagged for the group is in {}",
        group.vpc_id
    );
    finding("tables_in_vpc", problems, fine)
}

/// Optional sealed membership: whether tags on instances alone can add a
/// member. Informative: an open group is not a failure.
fn membership(group: &Group, group_tag_key: &str) -> Finding {
    let fine = match &group.seal {
        Some(seal) => format!(
            "sealed: only [{}] may be members ({})",
            seal.members.iter().cloned().collect::<Vec<_>>().join(", "),
            seal.sources.join("; ")
        ),
        None => format!(
            "not sealed: any instance of {} tagged {group_tag_key}={} joins the group; to seal it, tag its route tables {} with the member ids, or set the stack's MemberInstanceIds",
            group.vpc_id,
            group.name,
            group_tag_key.replace("group", &format!("members:{}", group.name))
        ),
    };
    finding("membership", Vec::new(), fine)
}

/// A probed group: the stack probes, and each member's security groups let the
/// prober in on the probe port (from its security group, or from address ranges
/// covering the VPC).
fn probe_reachable(group: &Group, probe: &ProbeContext<'_>) -> Finding {
    let Some(settings) = &group.probe else {
        return finding("probe", Vec::new(), "not probed (no probe tag)".to_string());
    };
    let port = match &settings.check {
        Check::Tcp { port } | Check::Http { port, .. } => *port,
    };
    if probe.function.is_none() {
        let fix = "the members carry a probe tag but the stack has no probe function; deploy it with ProbeSubnetIds (and ProbeVpcId), or remove the tag";
        return finding("probe", vec![fix.to_string()], String::new());
    }
    let problems = group
        .members
        .iter()
        .filter(|m| {
            !probe
                .groups
                .iter()
                .filter(|g| m.security_groups.contains(&g.id))
                .flat_map(|g| g.ingress.iter())
                .any(|rule| rule.admits(port, probe.security_group, probe.vpc_cidrs))
        })
        .map(|m| {
            format!(
                "{}'s security groups ({}) do not let the prober ({}) in on TCP {port}; add an inbound rule for it",
                m.instance_id,
                m.security_groups.join(", "),
                probe.security_group.unwrap_or("its security group")
            )
        })
        .collect();
    let fine = format!("every member accepts the prober on TCP {port} ({settings})");
    finding("probe", problems, fine)
}

/// An alarm that names no instance is read but counts for nobody.
fn alarms(context: &Context<'_>) -> Finding {
    let problems = context
        .unmapped_alarms
        .iter()
        .map(|a| format!("{a}; it counts for no member"))
        .collect();
    finding(
        "alarms",
        problems,
        "every alarm of the deployment names one instance".to_string(),
    )
}

#[cfg(test)]
mod tests;
