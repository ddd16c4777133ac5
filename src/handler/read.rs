//! Reading one group's world: the member list (cached in a warm container),
//! then status checks, route tables, VPC CIDRs and alarm levels in one round.

use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;
use tokio::time::Instant;
use tracing::warn;

use super::{Error, Handler, Hints};
use crate::alarms::{merge_levels, Alarms, EventAlarm, Levels};
use crate::aws::cloudwatch::AlarmSelect;
use crate::aws::ec2::TableSelect;
use crate::aws::AwsError;
use crate::group::{self, ConfigError, Group, Snapshot};
use crate::tags::TagContract;
use crate::world::{InstanceRecord, RouteTableRecord, StatusChecks};

/// One group's world as read now.
pub(super) struct Loaded {
    pub(super) group: Group,
    /// Alarms under the prefix that name no instance (for `check`).
    pub(super) unmapped_alarms: Vec<String>,
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
        let snapshot = Snapshot {
            instances: &instances,
            tables: &rest.tables,
            vpc_cidrs: &rest.cidrs,
            alarms: &rest.alarms.alarms,
            alarms_unread: rest.alarms_unread.as_deref(),
            reported_down: hints
                .reported_down
                .as_ref()
                .map(|(id, r)| (id.as_str(), *r)),
        };
        let group = group::build(name, &snapshot, tags)?;
        Ok(Loaded {
            group,
            unmapped_alarms: rest.alarms.unmapped,
        })
    }

    /// Status checks, route tables, VPC CIDRs and alarm levels, concurrently.
    async fn read_rest(&self, place: &Place, hints: &Hints, until: Instant) -> Result<Rest, Error> {
        let (checks, tables, cidrs, (alarms, alarms_unread)) = tokio::join!(
            self.aws.status_checks(place.ids.clone(), until),
            self.aws
                .route_tables(TableSelect::Vpc(place.vpc.clone()), until),
            self.aws.vpc_cidrs(&place.vpc, until),
            self.alarm_levels(hints, until),
        );
        Ok(Rest {
            checks: checks?,
            tables: tables?,
            cidrs: cidrs?,
            alarms,
            alarms_unread,
        })
    }

    /// The alarms of the deployment's prefix, and the event's own alarm when it
    /// lies outside it. An alarm that cannot be read is taken at the event's
    /// word when the event names it; when the prefix cannot be read, every
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
        let prefix = self.config.alarm_name_prefix.clone();
        let outside = hints
            .alarm
            .as_ref()
            .filter(|h| !prefix.as_deref().is_some_and(|p| h.alarm.starts_with(p)));
        let by_prefix = prefix.map(AlarmSelect::Prefix);
        let by_name = outside.map(|h| AlarmSelect::Names(vec![h.alarm.clone()]));
        let (by_prefix, by_name) = tokio::join!(
            self.read_alarms(by_prefix.as_ref(), until),
            self.read_alarms(by_name.as_ref(), until)
        );
        let unread = |what: &str, e: AwsError| {
            warn!(error = %e, "{what} could not be read");
            e.to_string()
        };
        let event = hints.alarm.as_ref().map(|h| EventAlarm {
            name: &h.alarm,
            instance_id: &h.instance_id,
            state: h.state,
        });
        merge_levels(
            by_prefix.map_err(|e| unread("alarm levels", e)),
            by_name.map_err(|e| unread("the event's alarm", e)),
            event.as_ref(),
        )
    }

    async fn read_alarms(
        &self,
        select: Option<&AlarmSelect>,
        until: Instant,
    ) -> Result<Alarms, AwsError> {
        match select {
            Some(select) => {
                self.aws
                    .alarms(select, self.config.tags.prefix(), until)
                    .await
            }
            None => Ok(Alarms::default()),
        }
    }
}

/// Where a group lives: its members' ids and its VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    ids: Vec<String>,
    vpc: String,
}

impl Place {
    fn of(name: &str, listing: &[InstanceRecord], tags: &TagContract) -> Result<Self, ConfigError> {
        let vpc = group::vpc_of(name, listing, tags)?;
        let mut ids: Vec<String> = listing
            .iter()
            .filter(|i| group::is_member(i, name, tags))
            .map(|i| i.id.clone())
            .collect();
        ids.sort();
        Ok(Self { ids, vpc })
    }
}

/// What is read beside the member list.
struct Rest {
    checks: HashMap<String, StatusChecks>,
    tables: Vec<RouteTableRecord>,
    cidrs: Vec<IpNet>,
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
