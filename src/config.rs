//! Settings read once at cold start from the environment.

use std::time::Duration;

use crate::aws::pace::RateLimits;
use crate::tags::TagContract;

/// Runtime settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tags: TagContract,
    /// Alarms whose name starts with this are read on every run and count
    /// towards their instance's health (`None`: only an event's own alarm is
    /// read). The template passes its `AlarmNamePrefix`.
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

    fn number(&self, name: &'static str, default: u64, min: u64) -> Result<u64, ConfigEnvError> {
        let Some(value) = (self.0)(name) else {
            return Ok(default);
        };
        match value.trim().parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ if min == 0 => Err(self.invalid(name, value, "a whole number (0 or more)")),
            _ => Err(self.invalid(name, value, "a positive integer")),
        }
    }

    fn millis(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigEnvError> {
        let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        self.number(name, default, 1).map(Duration::from_millis)
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

    /// Unset: the default prefix; set but empty: alarm levels are not read.
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
    /// `EC2_RATE_LIMITS`, `HOLD_DOWN_SECONDS`, `FIX_SOURCE_DEST_CHECK`,
    /// `MEMBERSHIP_CACHE_SECONDS` and `DEADLINE_RESERVE_MS`; unset ones keep their
    /// defaults.
    pub fn from_env() -> Result<Self, ConfigEnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigEnvError> {
        let d = Self::default();
        let env = Env(lookup);
        let secs = |name, default: Duration| {
            env.number(name, default.as_secs(), 0)
                .map(Duration::from_secs)
        };
        Ok(Self {
            tags: env.tags()?,
            alarm_name_prefix: env.alarm_prefix(),
            attempt_timeout: env.millis("EC2_ATTEMPT_TIMEOUT_MS", d.attempt_timeout)?,
            operation_timeout: env.millis("EC2_OPERATION_TIMEOUT_MS", d.operation_timeout)?,
            max_attempts: u32::try_from(env.number(
                "EC2_MAX_ATTEMPTS",
                u64::from(d.max_attempts),
                1,
            )?)
            .unwrap_or(u32::MAX),
            write_concurrency: usize::try_from(env.number(
                "WRITE_CONCURRENCY",
                d.write_concurrency as u64,
                1,
            )?)
            .unwrap_or(usize::MAX),
            rate_limits: env.rate_limits()?,
            hold_down: secs("HOLD_DOWN_SECONDS", d.hold_down)?,
            fix_source_dest_check: env.flag("FIX_SOURCE_DEST_CHECK")?,
            membership_ttl: secs("MEMBERSHIP_CACHE_SECONDS", d.membership_ttl)?,
            deadline_reserve: env.millis("DEADLINE_RESERVE_MS", d.deadline_reserve)?,
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
}
