//! The paced, deadline-bounded writes: route writes, the move record (tags on
//! route tables), and the source/dest check fix.

use aws_sdk_ec2::types::Tag;
use futures_util::stream::{self, StreamExt};
use ipnet::IpNet;

use super::ops::Op;
use super::{Aws, AwsError, Window};
use crate::plan::{Outcome, RouteWrite, WriteKind, WriteOutcome};

/// CreateTags takes at most 1,000 resources per call.
const TAG_BATCH: usize = 1000;

/// Which tables a tag write reached, and the first error of those it did not.
#[derive(Debug, Default)]
pub(crate) struct Tagged {
    pub(crate) written: Vec<String>,
    pub(crate) error: Option<AwsError>,
}

impl Aws {
    /// Writes one tag on the given tables (the move record), in batches. A
    /// batch refused for one of its tables (EC2's 50 tags on a table, a table
    /// outside the IAM scope, a table gone) is split in halves until the
    /// refusing tables are alone, so the others still carry the tag: a few
    /// more calls, only when something refuses.
    pub(crate) async fn tag_tables(
        &self,
        ids: &[String],
        key: &str,
        value: &str,
        window: Window,
    ) -> Tagged {
        let mut tagged = Tagged::default();
        let mut round: Vec<&[String]> = ids.chunks(TAG_BATCH).collect();
        while !round.is_empty() {
            let sent = futures_util::future::join_all(round.iter().map(|batch| {
                let request = self
                    .ec2
                    .create_tags()
                    .set_resources(Some(batch.to_vec()))
                    .tags(Tag::builder().key(key).value(value).build());
                self.call_in(Op::CreateTags, window, move || request.clone().send())
            }))
            .await;
            let mut next = Vec::new();
            for (batch, result) in round.into_iter().zip(sent) {
                match result {
                    Ok(_) => tagged.written.extend(batch.iter().cloned()),
                    Err(e) if batch.len() > 1 && !e.retryable() => {
                        let (left, right) = batch.split_at(batch.len() / 2);
                        next.extend([left, right]);
                    }
                    Err(e) => {
                        tagged.error.get_or_insert(e);
                    }
                }
            }
            round = next;
        }
        tagged
    }

    /// Turns off source/dest check so the ENI accepts packets for the VIP.
    pub(crate) async fn disable_source_dest_check(
        &self,
        eni_id: &str,
        window: Window,
    ) -> Result<(), AwsError> {
        let off = aws_sdk_ec2::types::AttributeBooleanValue::builder()
            .value(false)
            .build();
        let request = self
            .ec2
            .modify_network_interface_attribute()
            .network_interface_id(eni_id)
            .source_dest_check(off);
        self.call_in(Op::ModifyNetworkInterfaceAttribute, window, || {
            request.clone().send()
        })
        .await
        .map(|_| ())
    }

    /// Applies every write, concurrently up to the configured bound, each paced by
    /// its operation's bucket. A failing write never stops the others: a
    /// half-moved VIP is worse than a slow one. Writes that cannot start before
    /// `window.start_by` are returned as pending.
    pub(crate) async fn apply(&self, writes: &[RouteWrite], window: Window) -> Vec<WriteOutcome> {
        stream::iter(writes.iter().cloned())
            .map(|write| async move {
                let outcome = self.write(&write, window).await;
                WriteOutcome { write, outcome }
            })
            .buffer_unordered(self.write_concurrency)
            .collect()
            .await
    }

    /// One idempotent route write. If the route vanished since the read, a replace
    /// becomes a create; if it appeared, a create becomes a replace. Only on those
    /// two answers: any other error is reported as it came.
    async fn write(&self, write: &RouteWrite, window: Window) -> Outcome {
        let first = match self.send_write(write, write.kind, window).await {
            Ok(()) => return Outcome::Written(write.kind),
            Err(e) => e,
        };
        let fallback = match write.kind {
            WriteKind::Replace if write.may_create && first.route_not_found() => WriteKind::Create,
            WriteKind::Create if first.route_exists() => WriteKind::Replace,
            _ => return failed(first),
        };
        match self.send_write(write, fallback, window).await {
            Ok(()) => Outcome::Written(fallback),
            Err(second) => after_fallback(first, second),
        }
    }

    async fn send_write(
        &self,
        write: &RouteWrite,
        kind: WriteKind,
        window: Window,
    ) -> Result<(), AwsError> {
        let (v4, v6) = match write.destination {
            IpNet::V4(_) => (Some(write.destination.to_string()), None),
            IpNet::V6(_) => (None, Some(write.destination.to_string())),
        };
        match kind {
            WriteKind::Replace => {
                let request = self
                    .ec2
                    .replace_route()
                    .route_table_id(&write.route_table_id)
                    .set_destination_cidr_block(v4)
                    .set_destination_ipv6_cidr_block(v6)
                    .network_interface_id(&write.eni_id);
                self.call_in(Op::ReplaceRoute, window, || request.clone().send())
                    .await
                    .map(|_| ())
            }
            WriteKind::Create => {
                let request = self
                    .ec2
                    .create_route()
                    .route_table_id(&write.route_table_id)
                    .set_destination_cidr_block(v4)
                    .set_destination_ipv6_cidr_block(v6)
                    .network_interface_id(&write.eni_id);
                self.call_in(Op::CreateRoute, window, || request.clone().send())
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// A fallback that could not start before the deadline leaves the write owed,
/// so pending, as any write the deadline stopped; otherwise the first error is
/// the one that explains what happened.
fn after_fallback(first: AwsError, second: AwsError) -> Outcome {
    if second.not_started() {
        Outcome::Pending
    } else {
        failed(first)
    }
}

fn failed(error: AwsError) -> Outcome {
    if error.not_started() {
        Outcome::Pending
    } else {
        Outcome::Failed(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::error::Failure;

    #[test]
    fn given_a_fallback_the_deadline_stopped_then_the_write_is_pending_else_the_first_error_counts()
    {
        let missing = || AwsError::service(Op::ReplaceRoute, "InvalidRoute.NotFound", "gone");
        let late = AwsError::new(Op::CreateRoute, Failure::NotStarted);
        assert!(matches!(after_fallback(missing(), late), Outcome::Pending));
        let denied = AwsError::service(Op::CreateRoute, "UnauthorizedOperation", "no");
        match after_fallback(missing(), denied) {
            Outcome::Failed(first) => assert!(first.contains("InvalidRoute.NotFound"), "{first}"),
            other => panic!("expected the first error, got {other:?}"),
        }
    }
}
