//! The operator's read-only and bookkeeping actions: `status`, `check`,
//! `release`.

use tracing::info;

use super::read::Loaded;
use super::{Error, Handler, Hints};
use crate::aws::ec2::TableSelect;
use crate::aws::Window;
use crate::deadline::Deadline;
use crate::group::ConfigError;
use crate::plan::{self, Intent};
use crate::preflight;
use crate::report::{self, Response, StatusReport};
use crate::transit;

impl Handler {
    pub(super) async fn status(&self, name: &str, deadline: Deadline) -> Result<Response, Error> {
        let hints = Hints::default();
        let loaded = Box::pin(self.load(name.trim(), None, &hints, deadline.end())).await?;
        let policy = self.policy();
        let plan = plan::decide(&loaded.group, &Intent::Automatic, &policy);
        let pin = plan::pin(&loaded.group, &policy);
        let mut status = StatusReport::new(&loaded.group, &plan, pin.as_ref());
        let transit = self.transit(&loaded.group, true, deadline).await;
        status.transit_routes = report::transit_routes(&transit.outcomes, true);
        status.warnings.extend(transit.warnings);
        Ok(Response::Status(status))
    }

    /// The pre-flight check. Contradicting tags are a finding, an unknown group
    /// is a wrong request.
    pub(super) async fn check(&self, name: &str, deadline: Deadline) -> Result<Response, Error> {
        let key = self.config.tags.group();
        let hints = Hints::default();
        let (loaded, tagged) = tokio::join!(
            Box::pin(self.load(name.trim(), None, &hints, deadline.end())),
            self.aws
                .route_tables(TableSelect::TagKey(key.clone()), deadline.end()),
        );
        let report = match loaded {
            Ok(loaded) => {
                let group = &loaded.group;
                let stray = preflight::stray_tables(group, &tagged?, &self.config.tags);
                let groups = match &group.probe {
                    Some(_) => {
                        let ids = group.members.iter().flat_map(|m| m.security_groups.clone());
                        let ids: std::collections::BTreeSet<String> = ids.collect();
                        let until = deadline.end();
                        self.aws
                            .security_groups(ids.into_iter().collect(), until)
                            .await?
                    }
                    None => Vec::new(),
                };
                let context = preflight::Context {
                    group_tag_key: &key,
                    stray: &stray,
                    unmapped_alarms: &loaded.unmapped_alarms,
                    probe: preflight::ProbeContext {
                        function: self.config.probe_function.as_deref(),
                        security_group: self.config.probe_security_group.as_deref(),
                        groups: &groups,
                        vpc_cidrs: &loaded.vpc_cidrs,
                    },
                };
                let mut report = preflight::check(group, &context);
                report.add(self.transit_findings(&loaded, deadline).await);
                report
            }
            Err(Error::Config(e)) if matches!(*e, ConfigError::UnknownGroup { .. }) => {
                return Err(Error::Config(e))
            }
            Err(Error::Config(e)) => preflight::invalid(name.trim(), &e),
            Err(e) => return Err(e),
        };
        info!(group = %report.group, ok = report.ok, problems = report.problems().count(), "check");
        Ok(Response::Check(report))
    }

    /// The Transit Gateway path, hop by hop, when `TRANSIT_ROUTES` is on; a
    /// read that fails is a finding too (the permissions are the usual cause).
    async fn transit_findings(
        &self,
        loaded: &Loaded,
        deadline: Deadline,
    ) -> Vec<preflight::Finding> {
        if !self.config.transit_routes {
            return Vec::new();
        }
        let group = &loaded.group;
        match self.read_transit(group, deadline).await {
            Ok((tables, attachments)) => {
                let path = transit::Path {
                    group,
                    holder: plan::holder(group),
                    attachments: &attachments,
                    vpc_tables: &loaded.vpc_tables,
                    tags: &self.config.tags,
                };
                preflight::transit_paths(&tables, &path)
            }
            Err(e) => vec![preflight::Finding {
                check: "transit".to_string(),
                ok: false,
                detail: format!("the Transit Gateway route tables could not be read ({e}); the stack grants the reads (ReadGroupState): check the role"),
            }],
        }
    }

    /// Rule "an operator's move sticks", undone: the pin goes, the move stays.
    pub(super) async fn release(&self, name: &str, deadline: Deadline) -> Result<Response, Error> {
        let hints = Hints::default();
        let loaded = Box::pin(self.load(name.trim(), None, &hints, deadline.end())).await?;
        let group = &loaded.group;
        let Some((record, until)) = plan::pin(group, &self.policy()) else {
            let reason = "no operator's pin is in force: preemption already decides".to_string();
            return Ok(Response::released(&group.name, false, reason));
        };
        let window = Window {
            start_by: deadline.last_write(),
            end: deadline.end(),
        };
        self.unpin(group, &record, window).await?;
        let reason = format!(
            "released the pin of the VIP on {} (it would have held until {}); preemption may move it again",
            record.to,
            until.to_rfc3339()
        );
        info!(group = %group.name, "{reason}");
        Ok(Response::released(&group.name, true, reason))
    }
}
