//! The HTTP side of the service: one connection thread per client, routing each
//! request to the Runtime API (the function process of this port) or to the
//! Invoke API (any function of the service, by name).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::{error_document, Outcome, RuntimeEvent, Shared, ACCOUNT, REGION};

struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = String::new();
                    reader.read_line(&mut t).ok()?;
                    if t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            chunk.truncate(size);
            request.body.extend_from_slice(&chunk);
        }
    } else {
        let length = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body).ok()?;
    }
    Some(request)
}

fn respond(writer: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &str) -> bool {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    // One write: a head and a body in two small writes on a kept-alive
    // connection wait for the peer's delayed ACK (Nagle), ~40 ms per answer.
    head.push_str(body);
    writer.write_all(head.as_bytes()).is_ok()
}

fn json_header() -> (&'static str, String) {
    ("Content-Type", "application/json".to_string())
}

pub(super) fn serve_connection(stream: TcpStream, shared: &Shared) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader, &mut writer) {
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let path = request
            .path
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let ok = match (request.method.as_str(), path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                next_invocation(&mut writer, reader.get_ref(), shared)
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let mut state = shared.lock();
                state.init_error = Some(body.clone());
                let event = RuntimeEvent::InitError {
                    at: Instant::now(),
                    error_type: request
                        .header("lambda-runtime-function-error-type")
                        .map(str::to_string),
                    body,
                };
                shared.record(&mut state, event);
                drop(state);
                accepted(&mut writer)
            }
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                invocation_result(&mut writer, &request, p, shared)
            }
            ("POST", p) if p.starts_with("/2015-03-31/functions/") => {
                invoke_api(&mut writer, &request, p, shared)
            }
            _ => respond(
                &mut writer,
                "404 Not Found",
                &[json_header()],
                r#"{"message":"not found"}"#,
            ),
        };
        if !ok || close {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn accepted(writer: &mut TcpStream) -> bool {
    respond(
        writer,
        "202 Accepted",
        &[json_header()],
        r#"{"status":"OK"}"#,
    )
}

fn next_invocation(writer: &mut TcpStream, stream: &TcpStream, shared: &Shared) -> bool {
    let Some(pending) = shared.next(stream) else {
        return false;
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d + shared.function.timeout).as_millis())
        .unwrap_or_default();
    let headers = [
        json_header(),
        ("Lambda-Runtime-Aws-Request-Id", pending.request_id.clone()),
        ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
        ("Lambda-Runtime-Invoked-Function-Arn", shared.function.arn()),
        (
            "Lambda-Runtime-Trace-Id",
            "Root=1-67000000-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0"
                .to_string(),
        ),
    ];
    if respond(writer, "200 OK", &headers, &pending.event) {
        true
    } else {
        shared.requeue(pending);
        false
    }
}

/// `POST .../invocation/{id}/response` and `.../{id}/error`.
fn invocation_result(
    writer: &mut TcpStream,
    request: &HttpRequest,
    path: &str,
    shared: &Shared,
) -> bool {
    let rest = path.trim_start_matches("/2018-06-01/runtime/invocation/");
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let at = Instant::now();
    let completed = match rest.split_once('/') {
        Some((id, "response")) => shared.complete(
            id,
            Outcome::Response(body.clone()),
            RuntimeEvent::Response {
                at,
                request_id: id.to_string(),
                body,
            },
        ),
        Some((id, "error")) => shared.complete(
            id,
            Outcome::Error(body.clone()),
            RuntimeEvent::Error {
                at,
                request_id: id.to_string(),
                error_type: request
                    .header("lambda-runtime-function-error-type")
                    .map(str::to_string),
                body,
            },
        ),
        _ => {
            return respond(
                writer,
                "404 Not Found",
                &[json_header()],
                r#"{"message":"not found"}"#,
            )
        }
    };
    if completed {
        accepted(writer)
    } else {
        respond(
            writer,
            "400 Bad Request",
            &[json_header()],
            &error_document("InvalidRequestID", "no such invocation in flight"),
        )
    }
}

/// `POST /2015-03-31/functions/{name}/invocations`, for any function of the
/// service: whichever port the caller was given, so that one function reaches
/// another by name through its `AWS_ENDPOINT_URL_LAMBDA`.
fn invoke_api(writer: &mut TcpStream, request: &HttpRequest, path: &str, shared: &Shared) -> bool {
    let name = path
        .trim_start_matches("/2015-03-31/functions/")
        .strip_suffix("/invocations")
        .map(percent_decode)
        .unwrap_or_default();
    let Some(target) = shared.registry.find(&name) else {
        return not_found(writer, &name);
    };
    let event = String::from_utf8_lossy(&request.body).into_owned();
    let version = ("X-Amz-Executed-Version", target.function.version.clone());
    match request
        .header("x-amz-invocation-type")
        .unwrap_or("RequestResponse")
    {
        "DryRun" => respond(writer, "204 No Content", &[version], ""),
        "Event" => {
            let request_id = target.accept_async(&event);
            respond(
                writer,
                "202 Accepted",
                &[("x-amzn-RequestId", request_id)],
                "",
            )
        }
        // Reserved concurrency 1: a synchronous invoke while the function works
        // is refused, as Lambda refuses it, not queued (only `Event` queues).
        _ if target.busy() => too_many_requests(writer),
        _ => match target.invoke(&event) {
            Outcome::Response(body) => respond(writer, "200 OK", &[json_header(), version], &body),
            Outcome::Error(body) => respond(
                writer,
                "200 OK",
                &[
                    json_header(),
                    version,
                    ("X-Amz-Function-Error", "Unhandled".to_string()),
                ],
                &body,
            ),
        },
    }
}

fn not_found(writer: &mut TcpStream, name: &str) -> bool {
    respond(
        writer,
        "404 Not Found",
        &[
            json_header(),
            ("x-amzn-ErrorType", "ResourceNotFoundException".to_string()),
        ],
        &serde_json::json!({
            "Type": "User",
            "message": format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
        })
        .to_string(),
    )
}

fn too_many_requests(writer: &mut TcpStream) -> bool {
    respond(
        writer,
        "429 Too Many Requests",
        &[
            json_header(),
            ("x-amzn-ErrorType", "TooManyRequestsException".to_string()),
        ],
        &serde_json::json!({
            "Type": "User",
            "message": "Rate Exceeded.",
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        })
        .to_string(),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or_default();
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
