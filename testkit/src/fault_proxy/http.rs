//! The proxy's HTTP/1.1 plumbing: one request per connection, forwarded whole to
//! the emulator, and EC2-shaped answers made up by the proxy.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads one HTTP/1.1 request: head and a Content-Length body.
pub(super) async fn read_request(socket: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    // One request per connection: tell both sides to close after it.
    let head: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let head = head.trim_end_matches("\r\n").to_string() + "\r\nConnection: close\r\n\r\n";
    Some((
        head.into_bytes(),
        buffer[head_end..head_end + length].to_vec(),
    ))
}

pub(super) async fn forward(upstream: &str, head: &[u8], body: &[u8]) -> Vec<u8> {
    let attempt = async {
        let mut socket = TcpStream::connect(upstream).await?;
        socket.write_all(head).await?;
        socket.write_all(body).await?;
        let mut response = Vec::new();
        socket.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match attempt.await {
        Ok(response) => response,
        Err(e) => error_response(502, "Bad Gateway", "ProxyError", &e.to_string()),
    }
}

/// EC2's answer to a throttled call.
pub(super) fn throttle_response() -> Vec<u8> {
    error_response(
        503,
        "Service Unavailable",
        "RequestLimitExceeded",
        "Request limit exceeded.",
    )
}

/// An error answer in EC2's XML shape.
pub(super) fn error_response(status: u16, reason: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A successful EC2 answer with this XML body.
pub(super) fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The head of a request for `body` instead of the body `head` came with: the
/// same head (endpoint, credentials) with its `Content-Length` fixed.
pub(super) fn head_for(head: &[u8], body: &str) -> Vec<u8> {
    let head = String::from_utf8_lossy(head);
    let mut lines: Vec<String> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| {
            !l.split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("content-length")
        })
        .map(str::to_string)
        .collect();
    lines.push(format!("Content-Length: {}", body.len()));
    (lines.join("\r\n") + "\r\n\r\n").into_bytes()
}

/// The status code and body of an answer (`0` and no body when unreadable).
pub(super) fn status_and_body(response: &[u8]) -> (u16, &str) {
    let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, "");
    };
    let status = std::str::from_utf8(&response[..head_end])
        .ok()
        .and_then(|head| head.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = std::str::from_utf8(&response[head_end + 4..]).unwrap_or_default();
    (status, body)
}
