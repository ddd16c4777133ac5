//! Settings read once at cold start from the environment.

use std::time::Duration;

use crate::aws::pace::RateLimits;
use crate::group::Scope;
use crate::tags::TagContract;

/// Runtime settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tags: TagContract,
    /// Alarms whose name starts with this are read on every run and count
    /// towards their instance's health (`None`: every alarm of the account is
    /// read). An alarm event outside the prefix is refused: no later run could
    /// read its level. The template passes its `AlarmNamePrefix`.
    pub alarm_name_prefix: Option<String>,
    /// Time for one attempt of an AWS call.
    pub attempt_timeout: Duration,
    /// Transient failures of one call are retried within this (throttles wait
    /// for tokens until the deadline instead).
    pub operation_timeout: Duration,
    /// Attempts per call on transient failures (1 = no retry).
    pub max_attempts: u32,
    /// Route writes in flight at once. The pace is set by the request buckets;
    /// this only bounds open connections, so the burst goes out in one wave.
    pub write_concurrency: usize,
    /// Request buckets per operation (`EC2_RATE_LIMITS`).
    pub rate_limits: RateLimits,
    /// Anti-flap hold-down after a move (see [`crate::plan`]).
    pub hold_down: Duration,
    /// How long an operator's move is pinned against preemption.
    pub pin: Duration,
    /// The in-VPC probe function rounds are dispatched to (`PROBE_FUNCTION`,
    /// the template sets it when probing is on); `None`: nothing is probed.
    pub probe_function: Option<String>,
    /// How long one probe round lasts when nothing changes (`PROBE_ROUND_SECONDS`):
    /// just under the probe tick's minute, so a lost round is replaced in time.
    pub probe_round: Duration,
    /// The EventBridge bus "VIP Moved" events go to (`EVENT_BUS`, default the
    /// account's `default` bus; empty: none are published).
    pub event_bus: Option<String>,
    /// Their `source` (`EVENT_SOURCE`, default `vip-failover`; never `aws.*`,
    /// which EventBridge reserves).
    pub event_source: String,
    /// The probe function's security group (`PROBE_SECURITY_GROUP`): `check`
    /// says whether the members' groups let it in on the probe port.
    pub probe_security_group: Option<String>,
    /// The route tables the stack lists and its member allowlist
    /// (`ROUTE_TABLE_IDS`, `MEMBER_INSTANCE_IDS`).
    pub scope: Scope,
    /// Keep the VIP's static routes in the Transit Gateway route tables tagged
    /// for a group (`TRANSIT_ROUTES`; the template turns it on). Off by default
    /// so a deployment without the Transit Gateway permissions never tries.
    pub transit_routes: bool,
    /// Disable source/dest check on the target ENI before routing to it, instead
    /// of only warning. Off by default: it changes an instance's configuration.
    pub fix_source_dest_check: bool,
    /// How long a warm container trusts its list of group members to ignore an
    /// event about an instance in no group without any call.
    pub membership_ttl: Duration,
    /// Kept back from the invocation's deadline: writes stop starting this long
    /// before it, leaving time for the calls in flight, the verifying read and
    /// the report.
    pub deadline_reserve: Duration,
}

pub(crate) const DEFAULT_ALARM_NAME_PREFIX: &str = "vip-failover-";

impl Default for Config {
    fn default() -> Self {
        Self {
            tags: TagContract::default(),
            alarm_name_prefix: Some(DEFAULT_ALARM_NAME_PREFIX.to_string()),
            attempt_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(6),
            max_attempts: 4,
            write_concurrency: 64,
            rate_limits: RateLimits::documented(),
            hold_down: Duration::from_secs(60),
            pin: Duration::from_secs(86_400),
            probe_function: None,
            probe_round: Duration::from_secs(55),
            probe_security_group: None,
            event_bus: Some("default".to_string()),
            event_source: "vip-failover".to_string(),
            scope: Scope::default(),
            transit_routes: false,
            fix_source_dest_check: false,
            membership_ttl: Duration::from_secs(60),
            deadline_reserve: Duration::from_secs(5),
        }
    }
}

/// A setting that could not be read. Raised at start-up, so a typo in the
/// function's environment fails loudly on the first invocation.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {expected}")]
pub struct ConfigEnvError {
    pub(crate) name: &'static str,
    pub(crate) value: String,
    pub(crate) expected: String,
}

/// Reads one kind of value each, naming the variable when it is wrong.
struct Env<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn invalid(&self, name: &'static str, value: String, expected: &str) -> ConfigEnvError {
        ConfigEnvError {
            name,
            value,
            expected: expected.to_string(),
        }
    }

    /// A whole number in `min..=max`: a huge value would overflow the clock
    /// arithmetic it feeds, so it is refused here, naming the range.
    fn number(
        &self,
        name: &'static str,
        default: u64,
        (min, max): (u64, u64),
    ) -> Result<u64, ConfigEnvError> {
        let Some(value) = (self.0)(name) else {
            return Ok(default);
        };
        match value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(name, value, &format!("a whole number from {min} to {max}"))),
        }
    }

    fn millis(
        &self,
        name: &'static str,
        default: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigEnvError> {
        let as_ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.number(name, as_ms(default), (1, as_ms(max)))
            .map(Duration::from_millis)
    }

    /// `EVENT_SOURCE`: a custom source, not AWS's (`aws.` is refused by
    /// EventBridge for custom events).
    fn event_source(&self) -> Result<String, ConfigEnvError> {
        let Some(source) = (self.0)("EVENT_SOURCE") else {
            return Ok("vip-failover".to_string());
        };
        let trimmed = source.trim();
        if trimmed.is_empty() || trimmed.to_ascii_lowercase().starts_with("aws.") {
            return Err(self.invalid(
                "EVENT_SOURCE",
                source.clone(),
                "a non-empty source not starting with aws. (AWS reserves those), e.g. vip-failover",
            ));
        }
        Ok(trimmed.to_string())
    }

    fn list(&self, name: &'static str) -> String {
        (self.0)(name).unwrap_or_default()
    }

    fn flag(&self, name: &'static str) -> Result<bool, ConfigEnvError> {
        match (self.0)(name).as_deref().map(str::trim) {
            None | Some("") | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(self.invalid(name, other.to_string(), "true or false")),
        }
    }

    /// The prefix is spliced into tag keys, where EC2 keeps spaces and reserves
    /// `aws:`: refused rather than trimmed, so the function reads exactly the keys
    /// the template's IAM conditions name.
    fn tags(&self) -> Result<TagContract, ConfigEnvError> {
        let Some(prefix) = (self.0)("TAG_PREFIX") else {
            return Ok(TagContract::default());
        };
        let problem = if prefix.trim().is_empty() {
            Some("a non-empty prefix such as vip-failover:")
        } else if prefix.trim() != prefix {
            Some("a prefix without a space at either end")
        } else if prefix.to_ascii_lowercase().starts_with("aws:") {
            Some("a prefix not starting with aws:, which AWS reserves for its own tags")
        } else {
            None
        };
        match problem {
            Some(expected) => Err(self.invalid("TAG_PREFIX", prefix, expected)),
            None => Ok(TagContract::new(prefix)),
        }
    }

    /// Unset: the default prefix; set but empty: every alarm is read.
    fn alarm_prefix(&self) -> Option<String> {
        match (self.0)("ALARM_NAME_PREFIX") {
            None => Some(DEFAULT_ALARM_NAME_PREFIX.to_string()),
            Some(p) if p.trim().is_empty() => None,
            Some(p) => Some(p.trim().to_string()),
        }
    }

    fn rate_limits(&self) -> Result<RateLimits, ConfigEnvError> {
        match (self.0)("EC2_RATE_LIMITS") {
            None => Ok(RateLimits::documented()),
            Some(text) => {
                RateLimits::parse(&text).map_err(|why| self.invalid("EC2_RATE_LIMITS", text, &why))
            }
        }
    }
}

impl Config {
    /// Reads `TAG_PREFIX`, `ALARM_NAME_PREFIX`, `EC2_ATTEMPT_TIMEOUT_MS`,
    /// `EC2_OPERATION_TIMEOUT_MS`, `EC2_MAX_ATTEMPTS`, `WRITE_CONCURRENCY`,
    /// `EC2_RATE_LIMITS`, `HOLD_DOWN_SECONDS`, `PIN_SECONDS`,
    /// `FIX_SOURCE_DEST_CHECK`, `MEMBERSHIP_CACHE_SECONDS`, `DEADLINE_RESERVE_MS`,
    /// `ROUTE_TABLE_IDS`, `MEMBER_INSTANCE_IDS`, `PROBE_*`, `EVENT_BUS`,
    /// `EVENT_SOURCE` and `TRANSIT_ROUTES`; unset ones keep their defaults.
    pub fn from_env() -> Result<Self, ConfigEnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigEnvError> {
        const DAY: u64 = 86_400;
        let d = Self::default();
        let env = Env(lookup);
        let secs = |name, default: Duration, max: u64| {
            env.number(name, default.as_secs(), (0, max))
                .map(Duration::from_secs)
        };
        let minute = Duration::from_secs(60);
        let count = |name, default: u64, max| env.number(name, default, (1, max));
        Ok(Self {
            tags: env.tags()?,
            alarm_name_prefix: env.alarm_prefix(),
            attempt_timeout: env.millis("EC2_ATTEMPT_TIMEOUT_MS", d.attempt_timeout, minute)?,
            operation_timeout: env.millis(
                "EC2_OPERATION_TIMEOUT_MS",
                d.operation_timeout,
                15 * minute,
            )?,
            max_attempts: u32::try_from(count("EC2_MAX_ATTEMPTS", d.max_attempts.into(), 100)?)
                .unwrap_or(u32::MAX),
            write_concurrency: usize::try_from(count(
                "WRITE_CONCURRENCY",
                d.write_concurrency as u64,
                1_000,
            )?)
            .unwrap_or(usize::MAX),
            rate_limits: env.rate_limits()?,
            hold_down: secs("HOLD_DOWN_SECONDS", d.hold_down, DAY)?,
            pin: secs("PIN_SECONDS", d.pin, 30 * DAY)?,
            probe_function: Some(env.list("PROBE_FUNCTION"))
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty()),
            event_bus: match (env.0)("EVENT_BUS") {
                None => d.event_bus.clone(),
                Some(bus) => Some(bus.trim().to_string()).filter(|b| !b.is_empty()),
            },
            event_source: env.event_source()?,
            probe_security_group: Some(env.list("PROBE_SECURITY_GROUP"))
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty()),
            probe_round: env
                .number("PROBE_ROUND_SECONDS", d.probe_round.as_secs(), (5, 840))
                .map(Duration::from_secs)?,
            scope: Scope::new(
                &env.list("ROUTE_TABLE_IDS"),
                &env.list("MEMBER_INSTANCE_IDS"),
            ),
            transit_routes: env.flag("TRANSIT_ROUTES")?,
            fix_source_dest_check: env.flag("FIX_SOURCE_DEST_CHECK")?,
            membership_ttl: secs("MEMBERSHIP_CACHE_SECONDS", d.membership_ttl, DAY)?,
            deadline_reserve: env.millis("DEADLINE_RESERVE_MS", d.deadline_reserve, 15 * minute)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(vars: &[(&str, &str)]) -> Result<Config, ConfigEnvError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn given_no_environment_then_defaults_apply() {
        assert_eq!(config_from(&[]).unwrap(), Config::default());
    }

    #[test]
    fn given_overrides_then_they_are_used() {
        let config = config_from(&[
            ("TAG_PREFIX", "acme:"),
            ("ALARM_NAME_PREFIX", "acme-"),
            ("EC2_OPERATION_TIMEOUT_MS", "1500"),
            ("EC2_MAX_ATTEMPTS", "2"),
            ("EC2_RATE_LIMITS", "ReplaceRoute=200/20"),
            ("HOLD_DOWN_SECONDS", "0"),
            ("FIX_SOURCE_DEST_CHECK", "true"),
            ("TRANSIT_ROUTES", "true"),
            ("MEMBERSHIP_CACHE_SECONDS", "0"),
            ("DEADLINE_RESERVE_MS", "2500"),
        ])
        .unwrap();
        assert_eq!(config.tags.group(), "acme:group");
        assert_eq!(config.alarm_name_prefix.as_deref(), Some("acme-"));
        assert_eq!(config.operation_timeout, Duration::from_millis(1500));
        assert_eq!(config.max_attempts, 2);
        assert_eq!(
            config
                .rate_limits
                .get(crate::aws::ops::Op::ReplaceRoute)
                .per_second,
            20.0
        );
        assert_eq!(config.hold_down, Duration::ZERO);
        assert!(config.fix_source_dest_check);
        assert!(config.transit_routes);
        assert_eq!(config.membership_ttl, Duration::ZERO);
        assert_eq!(config.deadline_reserve, Duration::from_millis(2500));
        assert_eq!(
            config_from(&[("ALARM_NAME_PREFIX", "")])
                .unwrap()
                .alarm_name_prefix,
            None
        );
    }

    #[test]
    fn given_a_bad_value_then_the_variable_is_named() {
        let err = config_from(&[("EC2_MAX_ATTEMPTS", "many")]).unwrap_err();
        assert!(err.to_string().contains("EC2_MAX_ATTEMPTS"), "{err}");
        let err = config_from(&[("EC2_RATE_LIMITS", "ReplaceRoutes=1/1")]).unwrap_err();
        assert!(err.to_string().contains("ReplaceRoutes"), "{err}");
        for prefix in [" ", " acme:", "acme: ", "aws:vip-", "AWS:vip-"] {
            let err = config_from(&[("TAG_PREFIX", prefix)]).unwrap_err();
            assert!(err.to_string().contains("TAG_PREFIX"), "{err}");
        }
        assert!(config_from(&[("FIX_SOURCE_DEST_CHECK", "yes")]).is_err());
        assert!(config_from(&[("HOLD_DOWN_SECONDS", "-1")]).is_err());
        assert!(config_from(&[("WRITE_CONCURRENCY", "0")]).is_err());
    }

    #[test]
    fn given_values_that_would_overflow_the_clock_then_they_are_refused_not_a_panic() {
        for (name, value) in [
            ("EC2_OPERATION_TIMEOUT_MS", "18446744073709551615"),
            ("EC2_ATTEMPT_TIMEOUT_MS", "99999999999"),
            ("DEADLINE_RESERVE_MS", "18446744073709551615"),
            ("HOLD_DOWN_SECONDS", "18446744073709551615"),
            ("MEMBERSHIP_CACHE_SECONDS", "18446744073709551615"),
            ("PIN_SECONDS", "99999999999"),
            ("EC2_RATE_LIMITS", "ReplaceRoute=inf/5"),
            ("EC2_RATE_LIMITS", "ReplaceRoute=50/1e300"),
            ("EC2_RATE_LIMITS", "ReplaceRoute=NaN/5"),
        ] {
            let err = config_from(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn given_the_stacks_lists_then_the_scope_holds_them() {
        let config = config_from(&[
            ("ROUTE_TABLE_IDS", "rtb-1, rtb-2"),
            ("MEMBER_INSTANCE_IDS", ""),
            ("PIN_SECONDS", "3600"),
        ])
        .unwrap();
        assert_eq!(config.scope, Scope::new("rtb-1,rtb-2", ""));
        assert!(config.scope.members.is_none(), "an empty allowlist is none");
        assert_eq!(config.pin, Duration::from_secs(3600));
    }
}
