//! How a group's members are probed, written as ONE tag value on the members
//! (`<prefix>probe`, e.g. `vip-failover:probe`):
//!
//! ```text
//! tcp:5432
//! http:80/health interval=1s timeout=800ms fall=3 rise=2
//! ```
//!
//! One value rather than a tag per knob: the settings are read and compared as a
//! whole (all members must agree), and a single line is what an operator copies
//! between groups. Every bad value is refused with a message that says how to
//! fix it, because a probe that silently falls back to defaults would fail over
//! on a schedule nobody chose.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one observation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Check {
    /// Healthy when a TCP connection is accepted.
    Tcp { port: u16 },
    /// Healthy when `GET path` answers 2xx or 3xx.
    Http { port: u16, path: String },
}

/// The probe of a group. Travels in the round request, durations as integer
/// milliseconds (`interval_ms`, `timeout_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSettings {
    pub check: Check,
    #[serde(rename = "interval_ms", with = "millis")]
    pub interval: Duration,
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Consecutive failures that make an up member down.
    pub fall: u32,
    /// Consecutive successes that make a down member up.
    pub rise: u32,
}

pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(800);
pub(crate) const DEFAULT_FALL: u32 = 3;
pub(crate) const DEFAULT_RISE: u32 = 2;
const MIN_INTERVAL: Duration = Duration::from_millis(200);
const MAX_INTERVAL: Duration = Duration::from_secs(60);
const MIN_TIMEOUT: Duration = Duration::from_millis(50);
const MAX_STREAK: u32 = 10;
const GRAMMAR: &str = "write `tcp:PORT` or `http:PORT/PATH`, optionally followed by \
                       `interval=1s timeout=800ms fall=3 rise=2`";

/// Parses a `<prefix>probe` tag value. Surrounding spaces are ignored.
pub(crate) fn parse(value: &str) -> Result<ProbeSettings, String> {
    let mut words = value.split_whitespace();
    let Some(target) = words.next() else {
        return Err(format!("the probe tag is empty: {GRAMMAR}"));
    };
    let mut settings = ProbeSettings {
        check: parse_check(target)?,
        interval: DEFAULT_INTERVAL,
        timeout: DEFAULT_TIMEOUT,
        fall: DEFAULT_FALL,
        rise: DEFAULT_RISE,
    };
    let mut seen: Vec<&str> = Vec::new();
    for word in words {
        let (name, raw) = word.split_once('=').unwrap_or((word, ""));
        if seen.contains(&name) {
            return Err(format!(
                "option `{name}` is given twice: keep one `{name}=` in the probe tag"
            ));
        }
        apply_option(&mut settings, name, raw)?;
        seen.push(name);
    }
    settings.validate()?;
    Ok(settings)
}

/// `tcp:PORT` or `http:PORT[/PATH]`.
fn parse_check(target: &str) -> Result<Check, String> {
    let (scheme, rest) = target.split_once(':').unwrap_or((target, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Check::Tcp {
            port: parse_port(rest)?,
        }),
        "http" => {
            let (port, path) = match rest.find('/') {
                Some(slash) => (&rest[..slash], &rest[slash..]),
                None => (rest, "/"),
            };
            let check = Check::Http {
                port: parse_port(port)?,
                path: path.to_string(),
            };
            check_path(&check)?;
            Ok(check)
        }
        "https" => Err(format!(
            "`{target}`: HTTPS is not probed (no TLS in the prober): probe the plain-HTTP \
             health port, e.g. `http:8080/health`, or the TLS port with `tcp:443`"
        )),
        _ => Err(format!(
            "`{target}`: unknown probe scheme `{scheme}`: {GRAMMAR}"
        )),
    }
}

fn parse_port(raw: &str) -> Result<u16, String> {
    match raw.parse::<u64>() {
        Ok(port) if (1..=65535).contains(&port) => Ok(port as u16),
        Ok(port) => Err(format!(
            "port {port} is out of range: use a port from 1 to 65535"
        )),
        Err(_) => Err(format!(
            "port `{raw}` is not a number: write a port from 1 to 65535, e.g. `tcp:443`"
        )),
    }
}

fn apply_option(settings: &mut ProbeSettings, name: &str, raw: &str) -> Result<(), String> {
    match name {
        "interval" => settings.interval = parse_duration(name, raw)?,
        "timeout" => settings.timeout = parse_duration(name, raw)?,
        "fall" => settings.fall = parse_count(name, raw)?,
        "rise" => settings.rise = parse_count(name, raw)?,
        _ => {
            return Err(format!(
                "unknown probe option `{name}`: the options are interval=, timeout=, fall= \
                 and rise= (a path cannot contain spaces: encode them as %20)"
            ))
        }
    }
    Ok(())
}

/// `800ms` or `1s`: integers with a unit, so `interval=1000` is not guessed.
fn parse_duration(name: &str, raw: &str) -> Result<Duration, String> {
    let fix =
        format!("write `{name}=` with an integer and a unit, e.g. `{name}=800ms` or `{name}=1s`");
    let (digits, scale) = if let Some(ms) = raw.strip_suffix("ms") {
        (ms, 1)
    } else if let Some(s) = raw.strip_suffix('s') {
        (s, 1000)
    } else {
        return Err(format!("{name} `{raw}` has no unit: {fix}"));
    };
    match digits.parse::<u64>() {
        Ok(n) => Ok(Duration::from_millis(n.saturating_mul(scale))),
        Err(_) => Err(format!("{name} `{raw}` is not a whole number: {fix}")),
    }
}

fn parse_count(name: &str, raw: &str) -> Result<u32, String> {
    raw.parse::<u32>().map_err(|_| {
        format!("{name} `{raw}` is not a number: write `{name}=` with 1 to {MAX_STREAK}")
    })
}

impl ProbeSettings {
    /// The same rules as the parser, for settings that arrive as JSON: a round
    /// must never run with a zero interval or a timeout longer than a tick.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match &self.check {
            Check::Tcp { port } | Check::Http { port, .. } if *port == 0 => {
                return Err("port 0 cannot be probed: use a port from 1 to 65535".to_string())
            }
            check => check_path(check)?,
        }
        let (interval, timeout) = (self.interval, self.timeout);
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
            return Err(format!(
                "interval {} is out of range: use 200ms to 60s",
                Millis(interval)
            ));
        }
        if timeout < MIN_TIMEOUT {
            return Err(format!(
                "timeout {} is too short to connect: use at least 50ms",
                Millis(timeout)
            ));
        }
        if timeout >= interval {
            return Err(format!(
                "timeout {} must be shorter than interval {}: lower timeout= or raise interval=",
                Millis(timeout),
                Millis(interval)
            ));
        }
        check_count("fall", self.fall)?;
        check_count("rise", self.rise)
    }
}

fn check_path(check: &Check) -> Result<(), String> {
    let Check::Http { path, .. } = check else {
        return Ok(());
    };
    if !path.starts_with('/') {
        return Err(format!(
            "HTTP path `{path}` must start with `/`: write e.g. `http:80/health`"
        ));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "HTTP path {path:?} contains spaces or control characters: percent-encode them \
             (a space is %20)"
        ));
    }
    Ok(())
}

fn check_count(name: &str, value: u32) -> Result<(), String> {
    if (1..=MAX_STREAK).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{name}={value} is out of range: use 1 to {MAX_STREAK} consecutive observations"
        ))
    }
}

/// `"http:80/health fall=2".parse::<ProbeSettings>()`, for code outside the
/// crate (tests, the CLI) that builds settings from a tag value.
impl std::str::FromStr for ProbeSettings {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        parse(value)
    }
}

/// The canonical tag value: every option written out, so what runs is visible.
impl fmt::Display for ProbeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.check {
            Check::Tcp { port } => write!(f, "tcp:{port}")?,
            Check::Http { port, path } => write!(f, "http:{port}{path}")?,
        }
        write!(
            f,
            " interval={} timeout={} fall={} rise={}",
            Millis(self.interval),
            Millis(self.timeout),
            self.fall,
            self.rise
        )
    }
}

/// A duration in the tag's units: `1s` when whole seconds, else `800ms`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms != 0 && ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Durations as integer milliseconds on the wire.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests;
