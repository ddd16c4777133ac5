//! Rule "the incumbent configuration wins": when tags disagree, the
//! configuration the group's own route tables already carry (its VPC, its VIPs,
//! the group that holds a VIP) wins, and the dissenters are set aside. A group is
//! refused only when nothing tells which side is the incumbent: one stray tag must
//! never freeze a group, nor steal its VIP.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::error::{ConfigError, MemberError};
use super::rules::{vips_of, Candidate};
use super::{display_list, group_of, is_member, table_is_tagged_for, Scope, Seal};
use crate::probe::ProbeSettings;
use crate::tags::{split_list, TagContract};
use crate::world::{InstanceRecord, RouteTableRecord};

/// Ids and ENIs of `instances`: what a route may point at and be theirs.
fn targets_of<'a>(instances: impl Iterator<Item = &'a InstanceRecord>) -> BTreeSet<&'a str> {
    instances
        .flat_map(|i| std::iter::once(i.id.as_str()).chain(i.enis.iter().map(|e| e.id.as_str())))
        .collect()
}

/// Whether `table` is one of the group's own (tagged for it, or listed in the
/// stack): the tables whose say counts.
fn own(table: &RouteTableRecord, group: &str, tags: &TagContract, scope: &Scope) -> bool {
    table_is_tagged_for(table, group, tags) || scope.listed.contains(&table.id)
}

/// Routes in the group's own tables of `vpc` (every table of `vpc` when it has
/// none of its own) whose destination is in `vips` (any, when `None`) and whose
/// target is one of `targets`.
fn routes_to(
    group: &str,
    vpc: &str,
    tables: &[RouteTableRecord],
    vips: Option<&[IpNet]>,
    targets: &BTreeSet<&str>,
    (tags, scope): (&TagContract, &Scope),
) -> usize {
    let in_vpc: Vec<&RouteTableRecord> = tables.iter().filter(|t| t.vpc_id == vpc).collect();
    let any_own = in_vpc.iter().any(|t| own(t, group, tags, scope));
    in_vpc
        .iter()
        .filter(|t| !any_own || own(t, group, tags, scope))
        .flat_map(|t| t.routes.iter())
        .filter(|r| !r.blackhole && targets.contains(r.target.id()))
        .filter(|r| match (vips, r.destination) {
            (None, _) => true,
            (Some(vips), Some(dest)) => vips.contains(&dest),
            (Some(_), None) => false,
        })
        .count()
}

/// The VPC of the group: the one its live members share; when they are in
/// several, the one whose route tables are tagged for the group, then the one
/// whose routes point at its members there. Members elsewhere are set aside.
pub(super) fn incumbent_vpc(
    name: &str,
    members: &[&InstanceRecord],
    tables: &[RouteTableRecord],
    (tags, scope): (&TagContract, &Scope),
) -> Result<String, ConfigError> {
    let vpcs = candidate_vpcs(members);
    let [first, second, ..] = vpcs.as_slice() else {
        return vpcs
            .into_iter()
            .next()
            .ok_or_else(|| ConfigError::NoUsableMember {
                group: name.to_string(),
                detail: "no member is in a VPC".to_string(),
            });
    };
    let score = |vpc: &str| {
        let tagged = tables
            .iter()
            .filter(|t| t.vpc_id == vpc && table_is_tagged_for(t, name, tags))
            .count();
        let here = targets_of(
            members
                .iter()
                .copied()
                .filter(|m| m.vpc_id.as_deref() == Some(vpc)),
        );
        (
            tagged,
            routes_to(name, vpc, tables, None, &here, (tags, scope)),
        )
    };
    let mut scored: Vec<((usize, usize), &String)> = vpcs.iter().map(|v| (score(v), v)).collect();
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    match scored.as_slice() {
        [(best, vpc), (next, _), ..] if best > next => Ok((*vpc).clone()),
        _ => Err(ConfigError::MixedVpcs {
            group: name.to_string(),
            first: first.clone(),
            second: second.clone(),
            tag_key: tags.group(),
        }),
    }
}

/// The VPCs of the live members (of every member, when none is live), sorted.
pub(super) fn candidate_vpcs(members: &[&InstanceRecord]) -> Vec<String> {
    let with_vpc = || members.iter().filter(|m| m.vpc_id.is_some());
    let live: BTreeSet<String> = with_vpc()
        .filter(|m| !m.state.is_gone())
        .filter_map(|m| m.vpc_id.clone())
        .collect();
    if !live.is_empty() {
        return live.into_iter().collect();
    }
    let all: BTreeSet<String> = with_vpc().filter_map(|m| m.vpc_id.clone()).collect();
    all.into_iter().collect()
}

/// The group's VIPs, the members that agree on them, and the dissenters set
/// aside (with why).
pub(super) type Incumbent = (Vec<IpNet>, Vec<Candidate>, Vec<(String, MemberError)>);

/// The VIPs of the group and the members that agree on them. When members
/// disagree, the configuration whose VIPs the group's own tables route to the
/// group's instances (any of them: the holder may be the one whose tag was
/// changed) wins, then the one most members carry; the others are set aside.
/// Only a tie is refused: then nothing tells which side is the incumbent.
pub(super) fn incumbent_vips(
    name: &str,
    vpc: &str,
    candidates: Vec<Candidate>,
    tables: &[RouteTableRecord],
    (tags, scope): (&TagContract, &Scope),
) -> Result<Incumbent, ConfigError> {
    let group_targets: BTreeSet<String> = candidates
        .iter()
        .flat_map(|c| [c.member.instance_id.clone(), c.member.eni_id.clone()])
        .collect();
    let targets: BTreeSet<&str> = group_targets.iter().map(String::as_str).collect();
    let mut configs: BTreeMap<Vec<IpNet>, Vec<Candidate>> = BTreeMap::new();
    for c in candidates {
        configs.entry(c.vips.clone()).or_default().push(c);
    }
    let score = |vips: &Vec<IpNet>, members: &Vec<Candidate>| {
        let routed = routes_to(name, vpc, tables, Some(vips), &targets, (tags, scope));
        (routed, members.len())
    };
    let mut ranked: Vec<((usize, usize), Vec<IpNet>)> = configs
        .iter()
        .map(|(v, m)| (score(v, m), v.clone()))
        .collect();
    ranked.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    if let [(best, _), (next, _), ..] = ranked.as_slice() {
        if best == next {
            return Err(vip_mismatch(name, &configs, tags));
        }
    }
    let Some((_, vips)) = ranked.into_iter().next() else {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    };
    let agreeing = configs.remove(&vips).unwrap_or_default();
    let dissent = configs
        .into_values()
        .flatten()
        .map(|c| {
            let error = MemberError::VipDissent {
                instance: c.member.instance_id.clone(),
                tag_key: tags.vip(),
                vips: display_list(&c.vips),
                group_vips: display_list(&vips),
            };
            (c.member.instance_id, error)
        })
        .collect();
    Ok((vips, agreeing, dissent))
}

fn vip_mismatch(
    name: &str,
    configs: &BTreeMap<Vec<IpNet>, Vec<Candidate>>,
    tags: &TagContract,
) -> ConfigError {
    let detail = configs
        .iter()
        .map(|(vips, members)| {
            let ids: Vec<&str> = members
                .iter()
                .map(|c| c.member.instance_id.as_str())
                .collect();
            format!("[{}] on {}", display_list(vips), ids.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" but ");
    ConfigError::VipMismatch {
        group: name.to_string(),
        tag_key: tags.vip(),
        detail: format!(
            "members disagree on the VIPs ({detail}) and no route table tells which is the group's"
        ),
    }
}

/// Rule "preemption needs every member to say true": one newcomer cannot turn it
/// on, and a disagreement turns it off, with a warning, instead of freezing the
/// group.
pub(super) fn group_preempt(
    candidates: &[Candidate],
    tags: &TagContract,
) -> (bool, Option<String>) {
    let yes: Vec<&str> = candidates
        .iter()
        .filter(|c| c.preempt == Some(true))
        .map(|c| c.member.instance_id.as_str())
        .collect();
    if yes.is_empty() || yes.len() == candidates.len() {
        return (!yes.is_empty(), None);
    }
    let others: Vec<&str> = candidates
        .iter()
        .filter(|c| c.preempt != Some(true))
        .map(|c| c.member.instance_id.as_str())
        .collect();
    let warning = format!(
        "preemption is off: {} say {}=true but {} do not; it needs every member to say true",
        yes.join(", "),
        tags.preempt(),
        others.join(", ")
    );
    (false, Some(warning))
}

/// Rule "the members agree on the probe, like on the VIP": the group is probed
/// only when every member carries the same valid probe tag; otherwise it is not
/// probed (as before the tag existed), with a warning that says how to fix it.
pub(super) fn group_probe(
    candidates: &[Candidate],
    tags: &TagContract,
) -> (Option<ProbeSettings>, Option<String>) {
    let key = tags.probe();
    let mut seen: Vec<(&str, String)> = Vec::new();
    for c in candidates {
        let id = c.member.instance_id.as_str();
        match &c.probe {
            Some(Err(why)) => {
                return (
                    None,
                    Some(format!("probing is off: instance {id} has {key}: {why}")),
                );
            }
            Some(Ok(settings)) => seen.push((id, settings.to_string())),
            None => seen.push((id, "(none)".to_string())),
        }
    }
    let first = candidates.first().and_then(|c| c.probe.clone());
    match (first, seen.iter().all(|(_, s)| *s == seen[0].1)) {
        (Some(Ok(settings)), true) => (Some(settings), None),
        (None, true) => (None, None),
        _ => {
            let each: Vec<String> = seen.iter().map(|(id, s)| format!("{id}: {s}")).collect();
            let warning = format!(
                "probing is off: members disagree on {key} ({}); give every member the same value",
                each.join(", ")
            );
            (None, Some(warning))
        }
    }
}

/// Rule "one VIP, one group per VPC": a VIP claimed by two groups in one VPC
/// belongs to the one whose members the VIP's routes point at (the incumbent),
/// which keeps working with a warning; the newcomer is refused. When the routes
/// tell neither (or both), both are refused until the tags agree.
pub(super) fn uncontested(
    name: &str,
    vpc: &str,
    vips: &[IpNet],
    instances: &[InstanceRecord],
    tables: &[RouteTableRecord],
    tags: &TagContract,
) -> Result<Option<String>, ConfigError> {
    let ours = targets_of(instances.iter().filter(|i| is_member(i, name, tags)));
    let mut warnings = Vec::new();
    for (vip, others) in claims(name, vpc, vips, instances, tags) {
        let theirs = targets_of(
            instances
                .iter()
                .filter(|i| group_of(i, tags).is_some_and(|g| others.contains_key(g))),
        );
        let routed = |targets: &BTreeSet<&str>| {
            let in_vpc = || tables.iter().filter(|t| t.vpc_id == vpc);
            in_vpc()
                .flat_map(|t| t.route_to(&vip))
                .filter(|r| !r.blackhole && targets.contains(r.target.id()))
                .count()
        };
        let claimants = others
            .iter()
            .map(|(g, ids)| format!("{g} (instance {})", ids.join(", ")))
            .collect::<Vec<_>>()
            .join(", ");
        match (routed(&ours), routed(&theirs)) {
            (mine, 0) if mine > 0 => warnings.push(format!(
                "VIP {vip} is also claimed by group {claimants}; this group holds it, so the other is refused until its tags change"
            )),
            (0, held) if held > 0 => {
                return Err(ConfigError::NewcomerVip {
                    group: name.to_string(),
                    vip: vip.to_string(),
                    incumbent: claimants,
                    tag_key: tags.vip(),
                })
            }
            _ => {
                return Err(ConfigError::ContestedVip {
                    group: name.to_string(),
                    vip: vip.to_string(),
                    vpc: vpc.to_string(),
                    others: claimants,
                    tag_key: tags.group(),
                })
            }
        }
    }
    Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
}

/// Other groups with live instances outside `vpc` claiming one of `vips`: by
/// VIP, by their VPC. Two VPCs may use the same VIP; one Transit Gateway route
/// table can reach only one of them (rule "the incumbent keeps a shared Transit
/// Gateway route").
pub(super) fn vips_elsewhere(
    name: &str,
    vpc: &str,
    vips: &[IpNet],
    instances: &[InstanceRecord],
    tags: &TagContract,
) -> BTreeMap<IpNet, BTreeMap<String, BTreeSet<String>>> {
    let mut elsewhere: BTreeMap<IpNet, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (vip, instance, other) in other_claims(name, vips, instances, tags) {
        let Some(their_vpc) = instance.vpc_id.as_deref().filter(|v| *v != vpc) else {
            continue;
        };
        elsewhere
            .entry(vip)
            .or_default()
            .entry(their_vpc.to_string())
            .or_default()
            .insert(other.to_string());
    }
    elsewhere
}

/// Other groups' live instances in `vpc` claiming one of `vips`: by VIP, the
/// claiming groups and their instances.
fn claims(
    name: &str,
    vpc: &str,
    vips: &[IpNet],
    instances: &[InstanceRecord],
    tags: &TagContract,
) -> BTreeMap<IpNet, BTreeMap<String, Vec<String>>> {
    let mut claims: BTreeMap<IpNet, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (vip, instance, other) in other_claims(name, vips, instances, tags) {
        if instance.vpc_id.as_deref() == Some(vpc) {
            claims
                .entry(vip)
                .or_default()
                .entry(other.to_string())
                .or_default()
                .push(instance.id.clone());
        }
    }
    claims
}

/// Every claim by a live instance of another group than `name` on one of
/// `vips`: the VIP, the instance and its group, wherever it is.
fn other_claims<'a>(
    name: &'a str,
    vips: &'a [IpNet],
    instances: &'a [InstanceRecord],
    tags: &'a TagContract,
) -> impl Iterator<Item = (IpNet, &'a InstanceRecord, &'a str)> + 'a {
    instances
        .iter()
        .filter(|i| !i.state.is_gone())
        .filter_map(move |i| Some((i, group_of(i, tags).filter(|g| *g != name)?)))
        .flat_map(move |(i, other)| {
            let claimed = vips_of(i, tags).unwrap_or_default();
            claimed
                .into_iter()
                .filter(|vip| vips.contains(vip))
                .map(move |vip| (vip, i, other))
        })
}

/// Optional sealed membership: a member list on the group's own route tables
/// (`<prefix>members:<group>`), and the stack's allowlist. With either, tags on
/// instances cannot add a member. Tables that disagree seal to what they share.
pub(super) fn seal_of(
    name: &str,
    vpc: &str,
    tables: &[RouteTableRecord],
    (tags, scope): (&TagContract, &Scope),
) -> Option<Seal> {
    let key = tags.members(name);
    let mut sources = Vec::new();
    let mut members: Option<BTreeSet<String>> = None;
    let mut narrow = |list: BTreeSet<String>| {
        members = Some(match members.take() {
            Some(m) => m.intersection(&list).cloned().collect(),
            None => list,
        });
    };
    let sealing = tables
        .iter()
        .filter(|t| t.vpc_id == vpc && own(t, name, tags, scope));
    for table in sealing {
        if let Some(value) = table.tags.get(&key) {
            narrow(split_list(value).map(str::to_string).collect());
            sources.push(format!("{key} on {}", table.id));
        }
    }
    if let Some(allowed) = &scope.members {
        narrow(allowed.clone());
        sources.push("the stack's MemberInstanceIds".to_string());
    }
    members.map(|members| Seal { members, sources })
}
