//! CloudWatch in the emulator: metric alarms on instances and their states, for
//! scenarios that read member alarm levels. moto serves CloudWatch's awsQuery
//! protocol on the same port as EC2.

use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
use aws_sdk_cloudwatch::Client;

use crate::Result;

/// A CloudWatch client for `url` (the emulator, or a proxy in front of it), with
/// dummy credentials in us-east-1.
pub fn client_for(url: &str) -> Client {
    Client::from_conf(builder(url).build())
}

/// The function's CloudWatch client: `config`'s timeouts, no SDK retries, and
/// its calls recorded in `log` beside the EC2 calls.
pub fn client_with(url: &str, config: &vip_failover::Config, log: &crate::CallLog) -> Client {
    let sdk = builder(url)
        .retry_config(vip_failover::aws::retry_config())
        .timeout_config(vip_failover::aws::timeout_config(config))
        .interceptor(log.clone())
        .build();
    Client::from_conf(sdk)
}

fn builder(url: &str) -> aws_sdk_cloudwatch::config::Builder {
    aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
}

/// A StatusCheckFailed alarm on `instance` (namespace `AWS/EC2`, dimension
/// `InstanceId`, Maximum over 60 s, ALARM at >= 1), with an optional description
/// (e.g. `vip-failover:instance=i-...`). CloudWatch starts a new alarm in
/// INSUFFICIENT_DATA; moto 5.2.5 starts it in OK: set the state the test needs.
pub async fn put_status_alarm(
    client: &Client,
    alarm_name: &str,
    instance: &str,
    description: Option<&str>,
) -> Result<()> {
    client
        .put_metric_alarm()
        .alarm_name(alarm_name)
        .set_alarm_description(description.map(str::to_string))
        .namespace("AWS/EC2")
        .metric_name("StatusCheckFailed")
        .dimensions(
            Dimension::builder()
                .name("InstanceId")
                .value(instance)
                .build(),
        )
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(2)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await?;
    Ok(())
}

/// Sets an alarm's state, as CloudWatch would on evaluating its metric.
pub async fn set_alarm_state(client: &Client, alarm_name: &str, state: StateValue) -> Result<()> {
    client
        .set_alarm_state()
        .alarm_name(alarm_name)
        .state_value(state)
        .state_reason("set by the test kit")
        .send()
        .await?;
    Ok(())
}

/// The name of `instance`'s status alarm, as the template names it (within the
/// default `ALARM_NAME_PREFIX`, so every run reads its level).
pub fn status_alarm_name(instance: &str) -> String {
    format!("vip-failover-direct-status-{instance}")
}

/// `instance`'s status alarm (created on first use) goes to `state` (`ALARM`,
/// `OK`, `INSUFFICIENT_DATA`).
pub async fn set_status_alarm(client: &Client, instance: &str, state: &str) -> Result<()> {
    let name = status_alarm_name(instance);
    let exists = !client
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await?
        .metric_alarms()
        .is_empty();
    if !exists {
        put_status_alarm(client, &name, instance, None).await?;
    }
    set_alarm_state(client, &name, StateValue::from(state)).await
}

/// The state of every metric alarm whose name starts with `prefix`, by name.
pub async fn alarm_states(client: &Client, prefix: &str) -> Result<Vec<(String, StateValue)>> {
    let out = client
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .send()
        .await?;
    Ok(out
        .metric_alarms()
        .iter()
        .filter_map(|a| Some((a.alarm_name()?.to_string(), a.state_value()?.clone())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;

    #[tokio::test]
    async fn an_alarm_on_an_instance_reports_the_state_it_was_set_to() {
        let emulator = Emulator::start();
        let cloudwatch = emulator.cloudwatch();
        put_status_alarm(
            &cloudwatch,
            "web-serverA-status",
            "i-0a1b2c3d4e5f60718",
            Some("vip-failover:instance=i-0a1b2c3d4e5f60718"),
        )
        .await
        .expect("put the alarm");
        put_status_alarm(
            &cloudwatch,
            "web-serverB-status",
            "i-0f1e2d3c4b5a69788",
            None,
        )
        .await
        .expect("put the alarm");
        put_status_alarm(&cloudwatch, "db-status", "i-0123456789abcdef0", None)
            .await
            .expect("put the alarm");

        set_alarm_state(&cloudwatch, "web-serverA-status", StateValue::Alarm)
            .await
            .expect("set the state");
        set_alarm_state(&cloudwatch, "web-serverB-status", StateValue::Ok)
            .await
            .expect("set the state");
        set_alarm_state(&cloudwatch, "db-status", StateValue::InsufficientData)
            .await
            .expect("set the state");

        let mut states = alarm_states(&cloudwatch, "web-").await.expect("describe");
        states.sort();
        assert_eq!(
            states,
            vec![
                ("web-serverA-status".to_string(), StateValue::Alarm),
                ("web-serverB-status".to_string(), StateValue::Ok),
            ]
        );
        let out = cloudwatch
            .describe_alarms()
            .alarm_name_prefix("web-serverA")
            .send()
            .await
            .expect("describe");
        let alarm = &out.metric_alarms()[0];
        assert_eq!(
            alarm.alarm_description(),
            Some("vip-failover:instance=i-0a1b2c3d4e5f60718")
        );
        assert_eq!(alarm.namespace(), Some("AWS/EC2"));
        assert_eq!(alarm.metric_name(), Some("StatusCheckFailed"));
        let dimension = &alarm.dimensions()[0];
        assert_eq!(
            (dimension.name(), dimension.value()),
            (Some("InstanceId"), Some("i-0a1b2c3d4e5f60718"))
        );
        assert_eq!(
            alarm_states(&cloudwatch, "db-").await.expect("describe"),
            vec![("db-status".to_string(), StateValue::InsufficientData)]
        );
    }
}
