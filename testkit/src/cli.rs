//! One run of the operator CLI (`vip-failover-cli`, whose path the calling test
//! gets from `env!("CARGO_BIN_EXE_vip-failover-cli")`): with nothing from the
//! developer's environment but what is set here, and stdin that is not a
//! terminal, as in CI.

use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

/// What one run printed, and its exit code.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    /// The first output line that mentions every one of `needles`.
    #[track_caller]
    pub fn line_with(&self, needles: &[&str]) -> &str {
        self.stdout
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no line with {needles:?}: {self:?}"))
    }

    /// stderr's `error:` line, asserted readable: one line, no Rust `Debug`.
    #[track_caller]
    pub fn error_line(&self) -> &str {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line: {self:?}"));
        for debug in [
            "SdkBody",
            "ErrorMetadata",
            "ServiceError",
            "Response {",
            "source:",
        ] {
            assert!(!self.stderr.contains(debug), "{debug} in {self:?}");
        }
        assert!(line.len() < 300, "{line}");
        line
    }
}

/// Runs `program` (the CLI) against `endpoint` with test credentials, the
/// variables `env` on top, and `args`.
pub async fn run(program: &str, endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let output = Command::new(program)
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run vip-failover-cli");
    Run {
        code: output.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
