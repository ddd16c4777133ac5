//! CloudWatch alarm levels, read now: the state of every alarm of the deployment
//! (by name prefix), mapped to the instance it speaks for by the same rule as
//! alarm events ([`crate::alarms`]), so an alarm swallowed once is still seen on
//! the next run.

use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, MetricAlarm, StateValue};
use tokio::time::Instant;

use super::ops::Op;
use super::{Aws, AwsError, Window};
use crate::alarms::{alarm_instance, Alarms};
use crate::world::{AlarmRecord, AlarmState};

/// Which alarms to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AlarmSelect {
    Prefix(String),
    /// Every alarm of the account and region.
    All,
}

impl Aws {
    /// Metric and composite alarms, paginated.
    pub(crate) async fn alarms(
        &self,
        select: &AlarmSelect,
        tag_prefix: &str,
        until: Instant,
    ) -> Result<Alarms, AwsError> {
        let mut base = self
            .cloudwatch
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm);
        base = match select {
            AlarmSelect::Prefix(prefix) => base.alarm_name_prefix(prefix),
            AlarmSelect::All => base,
        };
        let mut read = Alarms::default();
        let mut token: Option<String> = None;
        loop {
            let request = base.clone().set_next_token(token.clone());
            let page = self
                .call_in(Op::DescribeAlarms, Window::until(until), || {
                    request.clone().send()
                })
                .await?;
            for alarm in page.metric_alarms() {
                map(&mut read, metric_alarm(alarm), tag_prefix);
            }
            for alarm in page.composite_alarms() {
                map(&mut read, composite_alarm(alarm), tag_prefix);
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(read);
            }
        }
    }
}

/// What an alarm says about which instance it watches.
struct Described<'a> {
    name: &'a str,
    state: Option<AlarmState>,
    description: Option<&'a str>,
    dimension_ids: Vec<&'a str>,
}

fn metric_alarm(alarm: &MetricAlarm) -> Described<'_> {
    let own = alarm.dimensions().iter();
    let in_metrics = alarm
        .metrics()
        .iter()
        .filter_map(|m| m.metric_stat()?.metric())
        .flat_map(|m| m.dimensions().iter());
    let dimension_ids = own
        .chain(in_metrics)
        .filter(|d| d.name() == Some("InstanceId"))
        .filter_map(|d| d.value())
        .collect();
    described(
        alarm.alarm_name(),
        alarm.state_value(),
        alarm.alarm_description(),
        dimension_ids,
    )
}

fn composite_alarm(alarm: &CompositeAlarm) -> Described<'_> {
    described(
        alarm.alarm_name(),
        alarm.state_value(),
        alarm.alarm_description(),
        Vec::new(),
    )
}

fn described<'a>(
    name: Option<&'a str>,
    state: Option<&StateValue>,
    description: Option<&'a str>,
    dimension_ids: Vec<&'a str>,
) -> Described<'a> {
    Described {
        name: name.unwrap_or_default(),
        state: state.and_then(|s| AlarmState::from_cloudwatch(s.as_str())),
        description,
        dimension_ids,
    }
}

fn map(read: &mut Alarms, alarm: Described<'_>, tag_prefix: &str) {
    let Some(state) = alarm.state else {
        return;
    };
    match alarm_instance(
        alarm.name,
        alarm.description,
        &alarm.dimension_ids,
        tag_prefix,
    ) {
        Ok(instance_id) => read.alarms.push(AlarmRecord {
            name: alarm.name.to_string(),
            instance_id,
            state,
        }),
        Err(e) => read.unmapped.push(e.detail()),
    }
}
