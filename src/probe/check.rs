//! One observation of one member: a TCP connect, or a minimal HTTP GET.
//!
//! The HTTP client is hand-written on purpose. The probe function runs every
//! second of every round; an HTTP client crate (hyper and friends) would grow
//! its binary and its cold start for one request line and one status line, and
//! an in-VPC health endpoint needs no TLS, redirects, keep-alive or bodies.
//! `Connection: close` and a bounded read of the status line are all it takes.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::settings::Check;

/// The most bytes read while looking for the status line: a status line is a
/// few dozen bytes, and a server that sends more without a line break is not
/// answering HTTP.
const MAX_HEAD: usize = 1024;

/// What one observation saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observation {
    pub(crate) ok: bool,
    /// Said to an operator: `answered in 3 ms`, `connection refused`, `HTTP 503`.
    pub(crate) reason: String,
    pub(crate) latency: Duration,
}

/// Observes `target` (an IP literal) once; the whole exchange, connect
/// included, must finish within `timeout`.
pub(crate) async fn observe(target: &str, check: &Check, timeout: Duration) -> Observation {
    let started = Instant::now();
    let Ok(ip) = target.parse::<IpAddr>() else {
        return Observation {
            ok: false,
            reason: format!("address `{target}` is not an IP address"),
            latency: Duration::ZERO,
        };
    };
    let outcome = tokio::time::timeout(timeout, exchange(ip, check)).await;
    let latency = started.elapsed();
    let (ok, reason) = match outcome {
        Err(_) => (false, format!("timed out after {} ms", timeout.as_millis())),
        Ok(Err(e)) => (false, io_reason(&e, timeout)),
        Ok(Ok(None)) => (true, format!("answered in {} ms", latency.as_millis())),
        Ok(Ok(Some(status))) if (200..400).contains(&status) => {
            (true, format!("HTTP {status} in {} ms", latency.as_millis()))
        }
        Ok(Ok(Some(status))) => (false, format!("HTTP {status}")),
    };
    Observation {
        ok,
        reason,
        latency,
    }
}

/// Connects and, for HTTP, asks. `Ok(None)`: a TCP check connected;
/// `Ok(Some(status))`: the HTTP status code.
async fn exchange(ip: IpAddr, check: &Check) -> io::Result<Option<u16>> {
    match check {
        Check::Tcp { port } => {
            // Connected is the answer; dropping the stream closes it.
            TcpStream::connect(SocketAddr::new(ip, *port)).await?;
            Ok(None)
        }
        Check::Http { port, path } => {
            // SocketAddr brackets an IPv6 address, as the Host header needs.
            let addr = SocketAddr::new(ip, *port);
            let mut stream = TcpStream::connect(addr).await?;
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: vip-failover-probe\r\n\
                 Connection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await?;
            let head = read_status_line(&mut stream).await?;
            parse_status(&head).map(Some)
        }
    }
}

/// Reads until the first line break, at most [`MAX_HEAD`] bytes.
async fn read_status_line(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    while filled < MAX_HEAD {
        let n = stream.read(&mut head[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
        if head[..filled].contains(&b'\n') {
            break;
        }
    }
    head.truncate(filled);
    if head.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed the connection without answering",
        ));
    }
    Ok(head)
}

/// `HTTP/1.1 503 Service Unavailable` → 503.
fn parse_status(head: &[u8]) -> io::Result<u16> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let version = words.next().unwrap_or_default();
    let status = words.next().and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(status) if version.starts_with("HTTP/") && (100..=999).contains(&status) => Ok(status),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP answer: {:?}", truncate(line.trim_end(), 60)),
        )),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The words an operator knows from `curl` and `nc`, not the OS's errno text.
fn io_reason(e: &io::Error, timeout: Duration) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".to_string(),
        K::HostUnreachable => "no route to host".to_string(),
        K::NetworkUnreachable => "network unreachable".to_string(),
        K::ConnectionReset => "connection reset".to_string(),
        K::ConnectionAborted => "connection aborted".to_string(),
        K::TimedOut => format!("timed out after {} ms", timeout.as_millis()),
        K::AddrNotAvailable => "address not available".to_string(),
        K::UnexpectedEof | K::InvalidData => e.to_string(),
        _ => format!("connection failed: {e}"),
    }
}

#[cfg(test)]
mod tests;
