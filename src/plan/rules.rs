//! The rules that choose the member to hold the VIP (see [`super`] for the list).

use chrono::{DateTime, Utc};

use super::writes::{member_health, writes_towards};
use super::{Policy, Refusal, MAX_CLOCK_SKEW, PENDING_MOVE_TTL};
use crate::group::{Group, GroupTable, Member, MoveRecord};
use crate::health::Grade;

/// Where the VIP is, and where a recorded move says it is going.
#[derive(Debug, Clone)]
pub(super) struct View<'a> {
    /// Holder by majority.
    pub(super) holder: Option<&'a Member>,
    /// The newest move record carried by a majority of the tables.
    pub(super) record: Option<MoveRecord>,
    /// The recorded move's target, while it is not failed and the move is unfinished.
    pub(super) pending: Option<&'a Member>,
    /// Until when an operator's move pins the VIP on its target.
    pub(super) pinned_until: Option<DateTime<Utc>>,
}

impl<'a> View<'a> {
    pub(super) fn of(group: &'a Group, policy: &Policy, warnings: &mut Vec<String>) -> Self {
        let record = recorded_move(group, policy, warnings);
        let pending = record
            .as_ref()
            .filter(|r| policy.now < r.at + PENDING_MOVE_TTL)
            .and_then(|r| group.member(&r.to))
            .filter(|m| !m.is_failed() && !writes_towards(group, m).is_empty());
        let pinned_until = record.as_ref().and_then(|r| pin_end(r, policy));
        Self {
            holder: holder(group),
            record,
            pending,
            pinned_until,
        }
    }

    /// Rule "a recorded move is finished".
    pub(super) fn incumbent(&self) -> Option<&'a Member> {
        self.pending.or(self.holder)
    }
}

/// A chosen member and why.
pub(super) struct Choice<'a> {
    pub(super) member: &'a Member,
    pub(super) note: Option<String>,
}

/// Rules "stay while healthy", "preempt only onto healthy", "best candidate"
/// and the hold-down, for automatic triggers.
pub(super) fn choose_automatic<'a>(
    group: &'a Group,
    view: &View<'a>,
    policy: &Policy,
    warnings: &mut Vec<String>,
) -> Result<Choice<'a>, Refusal> {
    let held = view.incumbent().and_then(|m| held_until(view, m, policy));
    if let Some(incumbent) = view.incumbent().filter(|m| !m.is_failed()) {
        if incumbent.maintenance {
            return off_maintenance(group, incumbent);
        }
        let stay = Choice {
            member: incumbent,
            note: None,
        };
        let Some((better, note)) = better_than(group, incumbent, view, warnings) else {
            return Ok(stay);
        };
        let Some(until) = held else {
            return Ok(Choice {
                member: better,
                note: Some(note),
            });
        };
        // Rule "the hold-down never turns a kept, not-healthy holder into
        // success": the retry and the schedule come back once it ends.
        if incumbent.health.grade != Grade::Healthy {
            return Err(held_down(view, incumbent, until));
        }
        warnings.push(format!(
            "hold-down: {} waits until {} to take the VIP from {}",
            better.instance_id,
            until.to_rfc3339(),
            incumbent.instance_id
        ));
        return Ok(stay);
    }
    let best = best_candidate(group, None).ok_or_else(|| Refusal::NoHealthyMember {
        members: member_health(group),
    })?;
    match (view.incumbent(), held) {
        (Some(incumbent), Some(until)) if incumbent.health.failed_by_soft_signals_only() => {
            Err(held_down(view, incumbent, until))
        }
        _ => Ok(Choice {
            member: best,
            note: None,
        }),
    }
}

/// Rule "maintenance takes a member out of candidacy": on the holder, the VIP
/// moves away as an operator's switchover would (no hold-down, for
/// preference); with nowhere fit to go it stays, refused, naming why.
fn off_maintenance<'a>(group: &'a Group, holder: &Member) -> Result<Choice<'a>, Refusal> {
    let member =
        best_candidate(group, Some(holder)).ok_or_else(|| Refusal::MaintenanceRefused {
            holder: holder.instance_id.clone(),
            members: member_health(group),
        })?;
    let note = format!(
        "maintenance: {} is in maintenance; the VIP moves to {}, as an operator's switchover would",
        holder.instance_id, member.instance_id
    );
    Ok(Choice {
        member,
        note: Some(note),
    })
}

fn held_down(view: &View<'_>, holder: &Member, until: DateTime<Utc>) -> Refusal {
    Refusal::HeldDown {
        holder: holder.instance_id.clone(),
        health: holder.health.summary(),
        moved_at: view
            .record
            .as_ref()
            .map(|r| r.at.to_rfc3339())
            .unwrap_or_default(),
        until: until.to_rfc3339(),
    }
}

/// An operator's move: to the named member unless it failed, or away from the
/// holder to the best other member. Never held down.
pub(super) fn choose_manual<'a>(
    group: &'a Group,
    view: &View<'a>,
    target: Option<&str>,
) -> Result<Choice<'a>, Refusal> {
    let Some(target) = target else {
        let member =
            best_candidate(group, view.incumbent()).ok_or_else(|| Refusal::NoOtherMember {
                members: member_health(group),
            })?;
        return Ok(Choice { member, note: None });
    };
    if let Some(unusable) = group.unresolved.iter().find(|u| u.instance_id == target) {
        return Err(Refusal::TargetFailed {
            target: target.to_string(),
            health: unusable.detail.clone(),
        });
    }
    let member = group.member(target).ok_or_else(|| Refusal::UnknownTarget {
        target: target.to_string(),
        members: group.member_ids(),
    })?;
    if member.maintenance {
        return Err(Refusal::TargetInMaintenance {
            target: target.to_string(),
        });
    }
    if member.is_failed() {
        return Err(Refusal::TargetFailed {
            target: target.to_string(),
            health: member.health.summary(),
        });
    }
    Ok(Choice { member, note: None })
}

/// Rule "holder by majority": the member most of the group's VIP routes in its
/// voting tables point at (blackholes count for nobody); a tie goes to the
/// preferred member. When the voting tables route the VIP to no member yet (a
/// table just tagged), the other tables' routes tell where it is.
pub(crate) fn holder(group: &Group) -> Option<&Member> {
    let voting: Vec<&GroupTable> = group.voting_tables().collect();
    let all: Vec<&GroupTable> = group.tables.iter().collect();
    majority(group, &voting).or_else(|| majority(group, &all))
}

fn majority<'g>(group: &'g Group, tables: &[&GroupTable]) -> Option<&'g Member> {
    let mut best: Option<(&Member, usize)> = None;
    for member in &group.members {
        let held = tables
            .iter()
            .flat_map(|t| t.routes.iter())
            .filter_map(|r| r.current.as_ref())
            .filter(|c| !c.blackhole && member.is_target_of(&c.target))
            .count();
        if held > best.map_or(0, |(_, n)| n) {
            best = Some((member, held));
        }
    }
    best.map(|(m, _)| m)
}

/// How fit a member is as a target, best first: healthy with every alarm OK,
/// healthy with an alarm without data (rule "INSUFFICIENT_DATA is no verdict":
/// it ranks after), of unknown health; a failed member is never a target.
fn rank(group: &Group, member: &Member) -> Option<u8> {
    if member.maintenance {
        return None;
    }
    match member.health.grade {
        Grade::Healthy if vouched_for(group, member) => Some(0),
        Grade::Healthy => Some(1),
        Grade::Unknown => Some(2),
        Grade::Failed => None,
    }
}

/// Rule "best candidate": the best-ranked member, the preferred one among
/// equals; never a failed one, never `excluding`.
pub(super) fn best_candidate<'a>(
    group: &'a Group,
    excluding: Option<&Member>,
) -> Option<&'a Member> {
    group
        .members
        .iter()
        .filter(|m| excluding.map(|e| &e.instance_id) != Some(&m.instance_id))
        .filter_map(|m| rank(group, m).map(|r| (r, m)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, m)| m)
}

/// A member that should take the VIP from an incumbent that has not failed:
/// rule "prefer healthy over unknown" (an incumbent of unknown health yields to
/// the preferred healthy member), then rule "preempt only onto healthy", which
/// an operator's pin holds off.
fn better_than<'a>(
    group: &'a Group,
    incumbent: &Member,
    view: &View<'_>,
    warnings: &mut Vec<String>,
) -> Option<(&'a Member, String)> {
    if incumbent.health.grade == Grade::Unknown {
        let healthy =
            best_candidate(group, Some(incumbent)).filter(|m| m.health.grade == Grade::Healthy)?;
        let note = format!(
            "{} is healthy and {}'s health is unknown ({})",
            healthy.instance_id,
            incumbent.instance_id,
            incumbent.health.summary()
        );
        return Some((healthy, note));
    }
    let better = preemptor(group, incumbent)?;
    if let Some(until) = view.pinned_until.filter(|_| view.holder == Some(incumbent)) {
        warnings.push(format!(
            "pinned: an operator moved the VIP to {} and preemption waits until {} (release it with `vip-failover-cli release --group {}`, or move it back)",
            incumbent.instance_id,
            until.to_rfc3339(),
            group.name
        ));
        return None;
    }
    let note = format!(
        "preemption: {} (priority {}) is healthy and preferred over {} (priority {})",
        better.instance_id, better.priority, incumbent.instance_id, incumbent.priority
    );
    Some((better, note))
}

/// Rule "preempt only onto healthy": every signal of the preemptor says so.
fn preemptor<'a>(group: &'a Group, incumbent: &Member) -> Option<&'a Member> {
    if !group.preempt {
        return None;
    }
    group
        .members
        .iter()
        .find(|m| vouched_for(group, m) && !m.maintenance && m.priority < incumbent.priority)
}

/// Rule "preference needs every signal to vouch": healthy, every alarm with
/// data, and in a probed group a fresh verdict that saw the service answer. A
/// container with no verdict yet (a cold start) vouches for nobody, so it never
/// preempts onto a service the probe last saw dead.
pub(super) fn vouched_for(group: &Group, member: &Member) -> bool {
    let probe_says_up = member.probe.as_ref().is_some_and(|p| p.up);
    member.health.fully_healthy() && (group.probe.is_none() || probe_says_up)
}

/// Rule "an operator's move sticks": until when the recorded move pins its
/// target, capped at [`Policy::pin`] after the move (a forged far date pins no
/// longer than a genuine one).
pub(super) fn pin_end(record: &MoveRecord, policy: &Policy) -> Option<DateTime<Utc>> {
    let cap = record
        .at
        .checked_add_signed(chrono::Duration::from_std(policy.pin).ok()?)?;
    let until = record.pinned_until?.min(cap);
    (policy.now < until).then_some(until)
}

/// End of the hold-down protecting `holder`, if it is the target of the recorded
/// move and that move is recent. Records dated further ahead than
/// [`MAX_CLOCK_SKEW`] were dropped, so a skewed clock extends a hold-down by five
/// minutes at most.
fn held_until(view: &View<'_>, holder: &Member, policy: &Policy) -> Option<DateTime<Utc>> {
    let record = view
        .record
        .as_ref()
        .filter(|r| r.to == holder.instance_id)?;
    let hold = chrono::Duration::from_std(policy.hold_down).ok()?;
    let until = record.at.checked_add_signed(hold)?;
    (policy.now < until).then_some(until)
}

/// The newest move record that a majority of the group's voting tables carry.
/// A record on a few tables only, dated in the future or unreadable is not
/// authority: it is reported and ignored (anyone allowed to tag a route table can
/// write one); a record on a table that does not vote is not read at all.
pub(super) fn recorded_move(
    group: &Group,
    policy: &Policy,
    warnings: &mut Vec<String>,
) -> Option<MoveRecord> {
    let own: Vec<&GroupTable> = group.voting_tables().collect();
    let quorum = own.len() / 2 + 1;
    let mut carried: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for table in &own {
        if let Some(value) = table.record.as_deref() {
            carried.entry(value).or_default().push(&table.id);
        }
    }
    let mut valid: Vec<MoveRecord> = Vec::new();
    for (value, tables) in carried {
        let problem = match MoveRecord::parse(value) {
            None => Some("cannot be read".to_string()),
            Some(r) if r.at > policy.now + MAX_CLOCK_SKEW => {
                Some("is dated in the future".to_string())
            }
            Some(_) if tables.len() < quorum => Some(format!(
                "is carried by {} of {} tables",
                tables.len(),
                own.len()
            )),
            Some(r) => {
                valid.push(r);
                None
            }
        };
        if let Some(problem) = problem {
            warnings.push(format!(
                "move record {value:?} on {} {problem}; ignored",
                tables.join(", ")
            ));
        }
    }
    valid.into_iter().max_by_key(|r| r.at)
}
