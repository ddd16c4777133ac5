//! Settings read once at cold start from the environment.

use std::time::Duration;

use crate::tags::TagContract;

/// Runtime settings. Defaults suit a function timeout of 30 s: one EC2 operation
/// (all its retries) gives up after 6 s, so a slow API surfaces as a clear error
/// well before Lambda kills the invocation mid-write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tags: TagContract,
    /// Total time for one EC2 operation including retries.
    pub operation_timeout: Duration,
    /// Time for one attempt of an EC2 operation.
    pub attempt_timeout: Duration,
    /// Attempts per EC2 operation (1 = no retry).
    pub max_attempts: u32,
    /// Route writes in flight at once; bounded to stay clear of EC2 throttling.
    pub write_concurrency: usize,
    /// Anti-flap hold-down after a move (see [`crate::plan::Policy`]).
    pub hold_down: Duration,
    /// Disable source/dest check on the target ENI before routing to it, instead
    /// of only warning. Off by default: it changes an instance's configuration.
    pub fix_source_dest_check: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tags: TagContract::default(),
            operation_timeout: Duration::from_secs(6),
            attempt_timeout: Duration::from_secs(2),
            max_attempts: 4,
            write_concurrency: 16,
            hold_down: Duration::from_secs(60),
            fix_source_dest_check: false,
        }
    }
}

/// A setting that could not be read. Raised at start-up, so a typo in the
/// function's environment fails loudly on the first invocation.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {expected}")]
pub struct ConfigEnvError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Config {
    /// Reads `TAG_PREFIX`, `EC2_OPERATION_TIMEOUT_MS`, `EC2_ATTEMPT_TIMEOUT_MS`,
    /// `EC2_MAX_ATTEMPTS`, `WRITE_CONCURRENCY`, `HOLD_DOWN_SECONDS` and
    /// `FIX_SOURCE_DEST_CHECK`; unset ones keep their defaults.
    pub fn from_env() -> Result<Self, ConfigEnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigEnvError> {
        let defaults = Self::default();
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigEnvError> {
            match lookup(name) {
                None => Ok(default),
                Some(value) => match value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(ConfigEnvError {
                        name,
                        value,
                        expected: "a positive integer",
                    }),
                },
            }
        };
        let tags = match lookup("TAG_PREFIX") {
            None => defaults.tags,
            Some(p) if p.trim().is_empty() => {
                return Err(ConfigEnvError {
                    name: "TAG_PREFIX",
                    value: p,
                    expected: "a non-empty prefix such as vip-failover:",
                })
            }
            Some(p) => TagContract::new(p.trim()),
        };
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let operation_timeout = Duration::from_millis(number(
            "EC2_OPERATION_TIMEOUT_MS",
            millis(defaults.operation_timeout),
        )?);
        let attempt_timeout = Duration::from_millis(number(
            "EC2_ATTEMPT_TIMEOUT_MS",
            millis(defaults.attempt_timeout),
        )?);
        let max_attempts = u32::try_from(number(
            "EC2_MAX_ATTEMPTS",
            u64::from(defaults.max_attempts),
        )?)
        .unwrap_or(u32::MAX);
        let write_concurrency = usize::try_from(number(
            "WRITE_CONCURRENCY",
            defaults.write_concurrency as u64,
        )?)
        .unwrap_or(usize::MAX);
        // Zero is a valid hold-down (disabled), so it is read apart from the
        // positive numbers above.
        let hold_down = match lookup("HOLD_DOWN_SECONDS") {
            None => defaults.hold_down,
            Some(value) => {
                Duration::from_secs(value.trim().parse::<u64>().map_err(|_| ConfigEnvError {
                    name: "HOLD_DOWN_SECONDS",
                    value: value.clone(),
                    expected: "a whole number of seconds (0 disables the hold-down)",
                })?)
            }
        };
        let fix_source_dest_check = match lookup("FIX_SOURCE_DEST_CHECK").as_deref().map(str::trim)
        {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigEnvError {
                    name: "FIX_SOURCE_DEST_CHECK",
                    value: other.to_string(),
                    expected: "true or false",
                })
            }
        };
        Ok(Self {
            tags,
            operation_timeout,
            attempt_timeout,
            max_attempts,
            write_concurrency,
            hold_down,
            fix_source_dest_check,
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
            ("EC2_OPERATION_TIMEOUT_MS", "1500"),
            ("EC2_MAX_ATTEMPTS", "2"),
            ("HOLD_DOWN_SECONDS", "0"),
            ("FIX_SOURCE_DEST_CHECK", "true"),
        ])
        .unwrap();
        assert_eq!(config.tags.group(), "acme:group");
        assert_eq!(config.operation_timeout, Duration::from_millis(1500));
        assert_eq!(config.max_attempts, 2);
        assert_eq!(config.hold_down, Duration::ZERO);
        assert!(config.fix_source_dest_check);
    }

    #[test]
    fn given_a_bad_number_then_the_variable_is_named() {
        let err = config_from(&[("EC2_MAX_ATTEMPTS", "many")]).unwrap_err();
        assert!(err.to_string().contains("EC2_MAX_ATTEMPTS"), "{err}");
        assert!(config_from(&[("TAG_PREFIX", " ")]).is_err());
        assert!(config_from(&[("FIX_SOURCE_DEST_CHECK", "yes")]).is_err());
        assert!(config_from(&[("HOLD_DOWN_SECONDS", "-1")]).is_err());
    }
}
