//! Scenarios against real sockets on the loopback: given a listener that
//! behaves one way, when it is observed, then the observation says so.

use tokio::net::TcpListener;

use super::*;

const TIMEOUT: Duration = Duration::from_millis(300);

async fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn http(port: u16, path: &str) -> Check {
    Check::Http {
        port,
        path: path.to_string(),
    }
}

/// A server that answers one request with `answer` and hands back the request
/// it read.
async fn serve_once(answer: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 512];
        while !request.ends_with(b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap()
    });
    (port, server)
}

#[tokio::test]
async fn given_an_accepting_port_when_probed_by_tcp_then_it_is_ok() {
    let (_listener, port) = listener().await;
    let seen = observe("127.0.0.1", &Check::Tcp { port }, TIMEOUT).await;
    assert!(seen.ok, "{seen:?}");
    assert!(seen.reason.starts_with("answered in "), "{seen:?}");
    assert!(seen.latency < TIMEOUT);
}

#[tokio::test]
async fn given_a_closed_port_when_probed_then_the_connection_is_refused() {
    let (listener, port) = listener().await;
    drop(listener);
    for check in [Check::Tcp { port }, http(port, "/")] {
        let seen = observe("127.0.0.1", &check, TIMEOUT).await;
        assert!(!seen.ok);
        assert_eq!(seen.reason, "connection refused");
    }
}

#[tokio::test]
async fn given_a_listener_that_never_answers_when_probed_by_http_then_it_times_out() {
    // The kernel accepts the connection into the backlog; nobody reads.
    let (_listener, port) = listener().await;
    let timeout = Duration::from_millis(100);
    let seen = observe("127.0.0.1", &http(port, "/health"), timeout).await;
    assert!(!seen.ok);
    assert_eq!(seen.reason, "timed out after 100 ms");
    assert!(seen.latency >= timeout && seen.latency < Duration::from_secs(1));
}

#[tokio::test]
async fn given_a_server_answering_200_when_probed_then_it_is_ok_and_the_request_is_minimal() {
    let (port, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let seen = observe("127.0.0.1", &http(port, "/health?deep=1"), TIMEOUT).await;
    assert!(seen.ok, "{seen:?}");
    assert!(seen.reason.starts_with("HTTP 200 in "), "{seen:?}");
    let request = server.await.unwrap();
    assert_eq!(
        request,
        format!(
            "GET /health?deep=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             User-Agent: vip-failover-probe\r\nConnection: close\r\n\r\n"
        )
    );
}

#[tokio::test]
async fn given_a_server_answering_a_redirect_when_probed_then_it_is_ok() {
    let (port, _server) =
        serve_once("HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n").await;
    let seen = observe("127.0.0.1", &http(port, "/"), TIMEOUT).await;
    assert!(seen.ok, "{seen:?}");
    assert!(seen.reason.starts_with("HTTP 302"));
}

#[tokio::test]
async fn given_a_server_answering_503_when_probed_then_it_is_not_ok() {
    let (port, _server) = serve_once("HTTP/1.0 503 Service Unavailable\r\n\r\n").await;
    let seen = observe("127.0.0.1", &http(port, "/"), TIMEOUT).await;
    assert!(!seen.ok);
    assert_eq!(seen.reason, "HTTP 503");
}

#[tokio::test]
async fn given_a_server_that_is_not_http_when_probed_then_the_reason_quotes_it() {
    let (port, _server) = serve_once("SSH-2.0-OpenSSH_9.6\r\n").await;
    let seen = observe("127.0.0.1", &http(port, "/"), TIMEOUT).await;
    assert!(!seen.ok);
    assert!(seen.reason.contains("not an HTTP answer"), "{seen:?}");
    assert!(seen.reason.contains("SSH-2.0"), "{seen:?}");
}

#[tokio::test]
async fn given_a_server_that_closes_without_a_word_when_probed_then_it_is_not_ok() {
    let (port, _server) = serve_once("").await;
    let seen = observe("127.0.0.1", &http(port, "/"), TIMEOUT).await;
    assert!(!seen.ok);
    assert!(seen.reason.contains("without answering"), "{seen:?}");
}

#[tokio::test]
async fn given_an_ipv6_member_when_probed_then_the_host_header_is_bracketed() {
    // Skipped where the loopback has no IPv6 (some containers).
    let Ok(listener) = TcpListener::bind("[::1]:0").await else {
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 512];
        let n = socket.read(&mut buf).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let seen = observe("::1", &http(port, "/"), TIMEOUT).await;
    assert!(seen.ok, "{seen:?}");
    assert!(server
        .await
        .unwrap()
        .contains(&format!("Host: [::1]:{port}\r\n")));
}

#[tokio::test]
async fn given_an_address_that_is_not_an_ip_when_probed_then_it_is_not_ok() {
    let seen = observe("web.internal", &Check::Tcp { port: 80 }, TIMEOUT).await;
    assert!(!seen.ok);
    assert!(seen.reason.contains("not an IP address"));
}
