//! A minimal SNS and SQS client for the emulator, which serves both on the EC2
//! port: enough to subscribe a queue to a topic (with a filter policy), publish,
//! and read what got through. It speaks the query API in plain HTTP, one request
//! per connection, and reads the XML answers by string search; moto tells the
//! services apart by the credential scope of the (unchecked) `Authorization`
//! header.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::{Emulator, Result};

/// SNS and SQS of one emulator.
pub struct Client {
    port: u16,
}

/// A queue: its URL (for SQS calls) and ARN (to subscribe it).
#[derive(Debug, Clone)]
pub struct Queue {
    pub url: String,
    pub arn: String,
}

impl Client {
    pub fn new(emulator: &Emulator) -> Self {
        Self {
            port: emulator.port,
        }
    }

    /// `CreateTopic`; returns the topic ARN.
    pub fn create_topic(&self, name: &str) -> Result<String> {
        let xml = self.call("sns", &[("Action", "CreateTopic"), ("Name", name)])?;
        one(&xml, "TopicArn")
    }

    /// `CreateQueue`, then `GetQueueAttributes` for its ARN.
    pub fn create_queue(&self, name: &str) -> Result<Queue> {
        let xml = self.call("sqs", &[("Action", "CreateQueue"), ("QueueName", name)])?;
        let url = one(&xml, "QueueUrl")?;
        let xml = self.call(
            "sqs",
            &[
                ("Action", "GetQueueAttributes"),
                ("QueueUrl", &url),
                ("AttributeName.1", "QueueArn"),
            ],
        )?;
        let arn = one(&xml, "Value")?;
        Ok(Queue { url, arn })
    }

    /// `Subscribe` the queue to the topic with these subscription attributes
    /// (`FilterPolicy`, `FilterPolicyScope`, `RawMessageDelivery`, ...); returns
    /// the subscription ARN.
    pub fn subscribe_queue(
        &self,
        topic_arn: &str,
        queue: &Queue,
        attributes: &[(&str, &str)],
    ) -> Result<String> {
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), "Subscribe".into()),
            ("TopicArn".into(), topic_arn.into()),
            ("Protocol".into(), "sqs".into()),
            ("Endpoint".into(), queue.arn.clone()),
        ];
        for (n, (key, value)) in attributes.iter().enumerate() {
            params.push((format!("Attributes.entry.{}.key", n + 1), (*key).into()));
            params.push((format!("Attributes.entry.{}.value", n + 1), (*value).into()));
        }
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let xml = self.call("sns", &params)?;
        one(&xml, "SubscriptionArn")
    }

    /// `Publish` a message to the topic; returns the message id.
    pub fn publish(&self, topic_arn: &str, message: &str) -> Result<String> {
        let xml = self.call(
            "sns",
            &[
                ("Action", "Publish"),
                ("TopicArn", topic_arn),
                ("Message", message),
            ],
        )?;
        one(&xml, "MessageId")
    }

    /// Every message body in the queue now: `ReceiveMessage` (10 at a time, hidden
    /// for 5 minutes so none comes twice) until one comes back empty.
    pub fn receive_all(&self, queue: &Queue) -> Result<Vec<String>> {
        let mut bodies = Vec::new();
        loop {
            let xml = self.call(
                "sqs",
                &[
                    ("Action", "ReceiveMessage"),
                    ("QueueUrl", &queue.url),
                    ("MaxNumberOfMessages", "10"),
                    ("VisibilityTimeout", "300"),
                    ("WaitTimeSeconds", "0"),
                ],
            )?;
            let batch = all(&xml, "Body");
            if batch.is_empty() {
                return Ok(bodies);
            }
            bodies.extend(batch);
        }
    }

    /// One query-API request; the XML answer of a 200, an error otherwise.
    fn call(&self, service: &str, params: &[(&str, &str)]) -> Result<String> {
        let body = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\
             Content-Length: {len}\r\nConnection: close\r\n\r\n{body}",
            port = self.port,
            len = body.len(),
        )?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let response = String::from_utf8_lossy(&raw);
        let (head, payload) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no HTTP header in {response:?}"))?;
        let payload = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(payload)
        } else {
            payload.to_string()
        };
        let status = head.lines().next().unwrap_or_default();
        if !status.contains(" 200 ") {
            return Err(format!("{service} {:?}: {status}: {payload}", params.first()).into());
        }
        Ok(payload)
    }
}

/// The text of the first `<name>` element, unescaped.
fn one(xml: &str, name: &str) -> Result<String> {
    all(xml, name)
        .into_iter()
        .next()
        .ok_or_else(|| format!("no <{name}> in {xml}").into())
}

/// The text of every `<name>` element, unescaped.
fn all(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(unescape(&after[..end]));
        rest = &after[end + close.len()..];
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let entity = &rest[amp..];
        let Some(semi) = entity.find(';') else {
            out.push_str(entity);
            return out;
        };
        let decoded = match &entity[1..semi] {
            "quot" => Some('"'),
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            code => code
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| code.strip_prefix('#').map(str::parse::<u32>))
                .and_then(|n| n.ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &entity[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &entity[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encoding of a form value: everything but RFC 3986's unreserved bytes.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A chunked HTTP/1.1 body, joined.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_found_and_unescaped() {
        let xml = "<R><Body>{&quot;a&quot;:1,&#x22;b&#34;:&amp;}</Body><Body>x</Body></R>";
        assert_eq!(all(xml, "Body"), vec![r#"{"a":1,"b":&}"#, "x"]);
        assert!(one(xml, "Missing").is_err());
        assert_eq!(unescape("a & b &zz; c"), "a & b &zz; c");
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(encode(r#"{"n": [true]}"#), "%7B%22n%22%3A%20%5Btrue%5D%7D");
        assert_eq!(encode("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
