//! CloudWatch Logs for the emulator: a proxy in front of moto that gives
//! `FilterLogEvents` the filter-pattern semantics of AWS for patterns of
//! several terms.
//!
//! moto 5.2.5 reads a pattern that starts with a quote as *one* quoted term,
//! quotes included (`"decision" "failed_over"` becomes the substring
//! `decision" "failed_over`), so it matches nothing; AWS matches the events
//! that contain every term. moto does match every word of an unquoted pattern
//! (`decision failed_over`), so the proxy rewrites a pattern of several plain
//! terms, quoted or not, to that form. Any other pattern (one term, a JSON
//! pattern, a quoted term with spaces) goes to moto untouched. Point a client at
//! it with `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS` (the other services stay on moto).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Emulator;

/// The proxy, stopped on drop. One request per connection, answered with
/// `Connection: close`.
pub struct LogsProxy {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stopping: Arc<AtomicBool>,
}

impl LogsProxy {
    pub fn start(emulator: &Emulator) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Logs proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let upstream = emulator.port;
        let (log, stop) = (seen.clone(), stopping.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = forward(stream, upstream, &log);
                });
            }
        });
        Self {
            port,
            seen,
            stopping,
        }
    }

    /// The endpoint for `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every `FilterLogEvents` pattern as the client sent it.
    pub fn patterns(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for LogsProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// moto's form of an AWS pattern of several plain terms (`"a" "b_c"` or
/// `a "b_c"` → `a b_c`); `None` when moto reads the pattern as AWS does, or
/// cannot express it.
pub fn moto_pattern(pattern: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut rest = pattern.trim();
    while !rest.is_empty() {
        let (term, after) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"')?,
            None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
        };
        let plain = !term.is_empty()
            && !term.chars().any(char::is_whitespace)
            && !term.contains(['{', '}', '[', ']', '?', '-', '"']);
        if !plain {
            return None;
        }
        terms.push(term);
        rest = after.trim_start();
    }
    let starts_alphabetic = terms
        .first()
        .and_then(|t| t.chars().next())
        .is_some_and(char::is_alphabetic);
    (terms.len() > 1 && starts_alphabetic).then(|| terms.join(" "))
}

/// One request: read it, rewrite a `FilterLogEvents` pattern, send it to moto,
/// and hand the answer back.
fn forward(mut client: TcpStream, upstream: u16, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, body) = read_request(&mut client)?;
    let body = if head
        .to_ascii_lowercase()
        .contains("x-amz-target: logs_20140328.filterlogevents")
    {
        rewrite_pattern(&body, seen)
    } else {
        body
    };
    let mut moto = TcpStream::connect(("127.0.0.1", upstream))?;
    moto.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = with_headers(&head, &[("Content-Length", &body.len().to_string())]);
    moto.write_all(head.as_bytes())?;
    moto.write_all(&body)?;
    let mut answer = Vec::new();
    moto.read_to_end(&mut answer)?;
    let split = find(&answer, b"\r\n\r\n").unwrap_or(answer.len());
    let answer_head = String::from_utf8_lossy(&answer[..split]).into_owned();
    client.write_all(with_headers(&answer_head, &[]).as_bytes())?;
    client.write_all(answer.get(split + 4..).unwrap_or_default())?;
    client.flush()
}

fn rewrite_pattern(body: &[u8], seen: &Mutex<Vec<String>>) -> Vec<u8> {
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    let Some(pattern) = doc.get("filterPattern").and_then(|p| p.as_str()) else {
        return body.to_vec();
    };
    seen.lock().unwrap().push(pattern.to_string());
    match moto_pattern(pattern) {
        Some(rewritten) => {
            doc["filterPattern"] = rewritten.into();
            doc.to_string().into_bytes()
        }
        None => body.to_vec(),
    }
}

/// The request's head (without its blank line) and body (`Content-Length`).
fn read_request(stream: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let split = loop {
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..split]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buffer[split + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((head, body))
}

/// `head` with `set` replacing headers of the same names, and
/// `Connection: close`, ending with the blank line.
fn with_headers(head: &str, set: &[(&str, &str)]) -> String {
    let replaced = |line: &str| {
        let name = line.split_once(':').map_or("", |(n, _)| n.trim());
        name.eq_ignore_ascii_case("connection")
            || set.iter().any(|(n, _)| name.eq_ignore_ascii_case(n))
    };
    let mut out: Vec<String> = head
        .split("\r\n")
        .filter(|l| !replaced(l))
        .map(str::to_string)
        .collect();
    out.extend(set.iter().map(|(n, v)| format!("{n}: {v}")));
    out.push("Connection: close".to_string());
    format!("{}\r\n\r\n", out.join("\r\n"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_of_several_plain_terms_become_moto_s_word_list() {
        for (aws, moto) in [
            (r#""decision" "failed_over""#, Some("decision failed_over")),
            (r#"decision "failed_over""#, Some("decision failed_over")),
            ("decision failed_over", Some("decision failed_over")),
            (r#""decision""#, None),
            ("decision", None),
            (r#""route write" "x""#, None),
            (r#"{ $.action = "failed_over" }"#, None),
            (r#"?ERROR ?WARN"#, None),
            (r#""1x" "y""#, None),
            ("", None),
        ] {
            assert_eq!(moto_pattern(aws).as_deref(), moto, "{aws}");
        }
    }

    #[test]
    fn headers_are_replaced_and_the_connection_closed() {
        let head = "POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\nConnection: keep-alive";
        assert_eq!(
            with_headers(head, &[("Content-Length", "5")]),
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
        );
    }
}
