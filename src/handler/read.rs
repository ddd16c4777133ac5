//! Reading one group's world: the member list (cached in a warm container),
//! then status checks, route tables, VPC CIDRs and alarm levels in one round.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ipnet::IpNet;
use tokio::time::Instant;
use tracing::warn;

use super::{Error, Handler, Hints};
use crate::alarms::{merge_levels, Alarms, EventAlarm, Levels};
use crate::aws::cloudwatch::AlarmSelect;
use crate::aws::ec2::TableSelect;
use crate::group::{self, ConfigError, Group, Snapshot};
use crate::tags::TagContract;
use crate::world::{InstanceRecord, RouteTableRecord, StatusChecks};

/// One group's world as read now.
pub(super) struct Loaded {
    pub(super) group: Group,
    /// Alarms under the prefix that name no instance (for `check`).
    pub(super) unmapped_alarms: Vec<String>,
    /// The CIDRs of the group's VPC (for `check`).
    pub(super) vpc_cidrs: Vec<IpNet>,
    /// Every route table of the group's VPC, with its subnets (for `check`'s
    /// Transit Gateway path).
    pub(super) vpc_tables: Vec<RouteTableRecord>,
}

impl Handler {
    /// Every instance carrying the group tag key, kept as the member list.
    pub(super) async fn list(&self, until: Instant) -> Result<Arc<Vec<InstanceRecord>>, Error> {
        let instances = self
            .aws
            .tagged_instances(&self.config.tags.group(), until)
            .await?;
        Ok(self.membership.store(instances))
    }

    /// Reads one group's world (by `until`: for a run that may write, the last
    /// moment a write may start, since reading later is of no use). With a
    /// member list read now, the rest is one
    /// concurrent round. With a fresh list from an earlier run, the list is read
    /// again in that same round and, where the guess was wrong, the rest is read
    /// once more (a read that failed for the right place is not sent again);
    /// without one, the list comes first.
    pub(super) async fn load(
        &self,
        name: &str,
        listing: Option<Arc<Vec<InstanceRecord>>>,
        hints: &Hints,
        until: Instant,
    ) -> Result<Loaded, Error> {
        let tags = &self.config.tags;
        let (listing, guessed) = match (listing, self.membership.fresh()) {
            (Some(listing), _) => (listing, None),
            (None, Some(cached)) => match Place::of(name, &cached, tags) {
                Ok(guess) => {
                    let (listing, rest) =
                        tokio::join!(self.list(until), self.read_rest(&guess, hints, until));
                    (listing?, Some((guess, rest)))
                }
                Err(_) => (self.list(until).await?, None),
            },
            (None, None) => (self.list(until).await?, None),
        };
        // The listing read now is the truth: what a cached guess got wrong (a
        // new member, a vanished one, another VPC) is read once more.
        let place = Place::of(name, &listing, tags)?;
        let rest = match guessed {
            Some((guess, rest)) if guess == place => rest?,
            _ => self.read_rest(&place, hints, until).await?,
        };
        let instances = rest.instances(&listing);
        let probes = self.probe_signals(name);
        let snapshot = Snapshot {
            instances: &instances,
            tables: &rest.tables,
            vpc_cidrs: &rest.cidrs,
            scope: &self.config.scope,
            probes: &probes,
            alarms: &rest.alarms.alarms,
            alarms_unread: rest.alarms_unread.as_deref(),
            reported_down: hints
                .reported_down
                .as_ref()
                .map(|(id, r)| (id.as_str(), *r)),
        };
        let group = group::build(name, &snapshot, tags)?;
        let vpc_cidrs = rest.cidrs.get(&group.vpc_id).cloned().unwrap_or_default();
        let vpc_tables = rest
            .tables
            .into_iter()
            .filter(|t| t.vpc_id == group.vpc_id)
            .collect();
        Ok(Loaded {
            group,
            unmapped_alarms: rest.alarms.unmapped,
            vpc_cidrs,
            vpc_tables,
        })
    }

    /// Status checks, route tables, VPC CIDRs and alarm levels, concurrently.
    /// The tables and CIDRs are read for every VPC the members are in (one call
    /// each, usually one VPC): which one is the group's is the group's rule.
    async fn read_rest(&self, place: &Place, hints: &Hints, until: Instant) -> Result<Rest, Error> {
        let cidrs = futures_util::future::join_all(
            place.vpcs.iter().map(|vpc| self.aws.vpc_cidrs(vpc, until)),
        );
        let (checks, tables, cidrs, (alarms, alarms_unread)) = tokio::join!(
            self.aws.status_checks(place.ids.clone(), until),
            self.aws
                .route_tables(TableSelect::Vpcs(place.vpcs.clone()), until),
            cidrs,
            self.alarm_levels(hints, until),
        );
        let mut by_vpc = BTreeMap::new();
        for (vpc, read) in place.vpcs.iter().zip(cidrs) {
            by_vpc.insert(vpc.clone(), read?);
        }
        Ok(Rest {
            checks: checks?,
            tables: tables?,
            cidrs: by_vpc,
            alarms,
            alarms_unread,
        })
    }

    /// The alarms of the deployment's prefix (an alarm event outside it was
    /// refused before anything was read). When they cannot be read, the event's
    /// own alarm is taken at its word, and every
    /// member's health is at best unknown.
    async fn alarm_levels(&self, hints: &Hints, until: Instant) -> Levels {
        match &hints.shared_alarms {
            Some(once) => once
                .get_or_init(|| self.read_alarm_levels(hints, until))
                .await
                .clone(),
            None => self.read_alarm_levels(hints, until).await,
        }
    }

    async fn read_alarm_levels(&self, hints: &Hints, until: Instant) -> Levels {
        let select = match &self.config.alarm_name_prefix {
            Some(prefix) => AlarmSelect::Prefix(prefix.clone()),
            None => AlarmSelect::All,
        };
        let read = self
            .aws
            .alarms(&select, self.config.tags.prefix(), until)
            .await
            .map_err(|e| {
                warn!(error = %e, "alarm levels could not be read");
                e.to_string()
            });
        let event = hints.alarm.as_ref().map(|h| EventAlarm {
            name: &h.alarm,
            instance_id: &h.instance_id,
            state: h.state,
        });
        merge_levels(read, event.as_ref())
    }
}

/// Where a group lives: its members' ids and the VPCs they are in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    ids: Vec<String>,
    vpcs: Vec<String>,
}

impl Place {
    fn of(name: &str, listing: &[InstanceRecord], tags: &TagContract) -> Result<Self, ConfigError> {
        let members = group::members_of(name, listing, tags)?;
        let mut ids: Vec<String> = members.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        Ok(Self {
            ids,
            vpcs: group::vpcs_of(&members),
        })
    }
}

/// What is read beside the member list.
struct Rest {
    checks: HashMap<String, StatusChecks>,
    tables: Vec<RouteTableRecord>,
    cidrs: BTreeMap<String, Vec<IpNet>>,
    alarms: Alarms,
    alarms_unread: Option<String>,
}

impl Rest {
    /// The member list with the status checks filled in.
    fn instances(&self, listing: &[InstanceRecord]) -> Vec<InstanceRecord> {
        listing
            .iter()
            .cloned()
            .map(|mut i| {
                if let Some(checks) = self.checks.get(&i.id) {
                    i.checks = *checks;
                }
                i
            })
            .collect()
    }
}
