//! A real EC2 API emulator (`moto_server`) per test, on a free loopback port,
//! stopped when the test ends, and SDK clients for it. moto serves CloudWatch on
//! the same port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::Client;
use vip_failover::aws::{retry_config, timeout_config, Aws};
use vip_failover::handler::Handler;
use vip_failover::Config;

use crate::calls::CallLog;

/// A running `moto_server`, killed on drop.
pub struct Emulator {
    server: Server,
    pub port: u16,
}

/// How the server was started.
enum Server {
    /// `MOTO_SERVER` named a program: started as a child of ours.
    Spawned(Child),
    /// Forked by the test kit's warm moto process ([`crate::zygote`]).
    Forked(u32),
}

impl Emulator {
    pub fn start() -> Self {
        let port = free_port();
        let server = match std::env::var_os("MOTO_SERVER") {
            Some(program) => Server::Spawned(
                Command::new(program)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start $MOTO_SERVER"),
            ),
            None => Server::Forked(crate::zygote::fork_server(
                &workspace_root().join(".venv/bin/python"),
                port,
            )),
        };
        let emulator = Self { server, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "GET", "/moto-api/").is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator.reset();
        emulator
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, the upstream of a [`crate::fault_proxy::FaultProxy`].
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The emulator's process id (for CPU accounting).
    pub fn pid(&self) -> u32 {
        match &self.server {
            Server::Spawned(child) => child.id(),
            Server::Forked(pid) => *pid,
        }
    }

    /// Clears all emulated resources (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let status = http(self.port, "POST", "/moto-api/reset").expect("reset moto");
        assert!(
            status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
            "{status}"
        );
    }

    /// A client that records the EC2 actions it sends.
    pub fn client(&self) -> (Client, CallLog) {
        client_for(&self.url(), &patient())
    }

    /// A CloudWatch client for this emulator.
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        crate::cloudwatch::client_for(&self.url())
    }

    /// The Lambda handler wired to this emulator, as `main.rs` wires it to EC2.
    pub fn handler(&self) -> (Handler, CallLog) {
        self.handler_with(patient())
    }

    pub fn handler_with(&self, config: Config) -> (Handler, CallLog) {
        handler_for(&self.url(), config)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        match &mut self.server {
            Server::Spawned(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Server::Forked(pid) => crate::zygote::kill(*pid),
        }
    }
}

/// Production settings with timeouts long enough for a loaded 2-core CI machine
/// running emulators in parallel: these tests check what is written, not how fast.
/// The fault-injection tests set short timeouts on purpose.
pub fn patient() -> Config {
    Config {
        operation_timeout: Duration::from_secs(60),
        attempt_timeout: Duration::from_secs(20),
        ..Config::default()
    }
}

/// A handler whose EC2 and CloudWatch clients talk to `url` (the emulator, or a
/// proxy in front); the log records the calls of both.
pub fn handler_for(url: &str, config: Config) -> (Handler, CallLog) {
    let (client, log) = client_for(url, &config);
    let cloudwatch = crate::cloudwatch::client_with(url, &config, &log);
    (
        Handler::new(Aws::new(client, cloudwatch, &config), config),
        log,
    )
}

/// An SDK client for `url` with the retry and timeout settings of `config`.
pub fn client_for(url: &str, config: &Config) -> (Client, CallLog) {
    let log = CallLog::default();
    let sdk = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .retry_config(retry_config())
        .timeout_config(timeout_config(config))
        .interceptor(log.clone())
        .build();
    (Client::from_conf(sdk), log)
}

/// The repository root (the workspace), where `.venv`, `events/` and `scripts/` are.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the kit lives in the workspace")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Minimal HTTP/1.1 request; returns the status line.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or_default().to_string())
}
