//! Rewrites of the emulator's XML answers, for shapes moto cannot produce. They
//! edit moto's compact output (one line, no whitespace between elements) at the
//! level of elements, and leave every other byte as it was.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// An edit of the XML body of every successful answer to `action`.
#[derive(Clone)]
pub struct Rewrite {
    pub action: String,
    edit: Arc<dyn Fn(&str) -> String + Send + Sync>,
}

impl fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rewrite")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

/// When every `impaired` check started failing, in the answers.
const IMPAIRED_SINCE: &str = "2026-11-24T02:55:00.000Z";

impl Rewrite {
    pub fn new(action: &str, edit: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self {
            action: action.to_string(),
            edit: Arc::new(edit),
        }
    }

    pub fn apply(&self, xml: &str) -> String {
        (self.edit)(xml)
    }

    /// DescribeInstanceStatus: `instance` reports these instance and system status
    /// checks (`ok`, `impaired`, `initializing`, `insufficient-data`,
    /// `not-applicable`) and, with `ebs`, an attached-EBS check in that status
    /// (moto reports none). Applies when the answer lists the instance (moto lists
    /// a stopped one only with `IncludeAllInstances`).
    pub fn instance_status(
        instance: &str,
        instance_status: &str,
        system_status: &str,
        ebs: Option<&str>,
    ) -> Self {
        let (instance, instance_status, system_status, ebs) = (
            instance.to_string(),
            instance_status.to_string(),
            system_status.to_string(),
            ebs.map(str::to_string),
        );
        Self::new("DescribeInstanceStatus", move |xml| {
            let doc = Doc(xml);
            let mut edits = Vec::new();
            for item in doc.items_at(&["instanceStatusSet"]) {
                if doc.child_text(&item, "instanceId") != Some(instance.as_str()) {
                    continue;
                }
                doc.set_child(
                    &mut edits,
                    &item,
                    "instanceStatus",
                    &status_summary("instanceStatus", &instance_status),
                );
                doc.set_child(
                    &mut edits,
                    &item,
                    "systemStatus",
                    &status_summary("systemStatus", &system_status),
                );
                if let Some(ebs) = &ebs {
                    doc.set_child(
                        &mut edits,
                        &item,
                        "attachedEbsStatus",
                        &status_summary("attachedEbsStatus", ebs),
                    );
                }
            }
            splice(xml, edits)
        })
    }

    /// DescribeInstances: `instance` shows as an instance terminated an hour ago:
    /// state `terminated` (48), no `vpcId`, `subnetId`, `privateIpAddress` or
    /// `networkInterfaceSet`, no block devices, and the reason for it.
    pub fn terminated_instance(instance: &str) -> Self {
        let instance = instance.to_string();
        Self::new("DescribeInstances", move |xml| {
            let doc = Doc(xml);
            let mut edits = Vec::new();
            for reservation in doc.items_at(&["reservationSet"]) {
                let Some(set) = doc.child(&reservation, "instancesSet") else {
                    continue;
                };
                for item in doc.children(&set, "item") {
                    if doc.child_text(&item, "instanceId") != Some(instance.as_str()) {
                        continue;
                    }
                    for gone in [
                        "networkInterfaceSet",
                        "vpcId",
                        "subnetId",
                        "privateIpAddress",
                    ] {
                        if let Some(el) = doc.child(&item, gone) {
                            edits.push((el.outer, String::new()));
                        }
                    }
                    doc.set_child(
                        &mut edits,
                        &item,
                        "instanceState",
                        "<instanceState><code>48</code><name>terminated</name></instanceState>",
                    );
                    doc.set_child(
                        &mut edits,
                        &item,
                        "stateReason",
                        "<stateReason><code>Client.UserInitiatedShutdown</code><message>Client.UserInitiatedShutdown: User initiated shutdown</message></stateReason>",
                    );
                    doc.set_child(
                        &mut edits,
                        &item,
                        "reason",
                        "<reason>User initiated (2026-11-24 02:00:00 GMT)</reason>",
                    );
                    doc.set_child(
                        &mut edits,
                        &item,
                        "blockDeviceMapping",
                        "<blockDeviceMapping/>",
                    );
                }
            }
            splice(xml, edits)
        })
    }

    /// `action` (DescribeInstances or DescribeInstanceStatus) leaves `instance`
    /// out of its answer, as EC2's eventually consistent reads may just after a
    /// launch or a tag change. A reservation left empty is left out too.
    pub fn without_instance(action: &str, instance: &str) -> Self {
        let instance = instance.to_string();
        Self::new(action, move |xml| {
            let doc = Doc(xml);
            let mut edits = Vec::new();
            for item in doc.items_at(&["instanceStatusSet"]) {
                if doc.child_text(&item, "instanceId") == Some(instance.as_str()) {
                    edits.push((item.outer, String::new()));
                }
            }
            for reservation in doc.items_at(&["reservationSet"]) {
                let Some(set) = doc.child(&reservation, "instancesSet") else {
                    continue;
                };
                let items = doc.children(&set, "item");
                let (gone, kept): (Vec<_>, Vec<_>) = items
                    .into_iter()
                    .partition(|i| doc.child_text(i, "instanceId") == Some(instance.as_str()));
                match (gone.is_empty(), kept.is_empty()) {
                    (true, _) => {}
                    (false, true) => edits.push((reservation.outer, String::new())),
                    (false, false) => {
                        edits.extend(gone.into_iter().map(|i| (i.outer, String::new())))
                    }
                }
            }
            splice(xml, edits)
        })
    }

    /// DescribeRouteTables: in `route_table`, the route to `destination` (IPv4 or
    /// IPv6 CIDR) is `blackhole` (its target is gone) instead of `active`.
    pub fn blackhole_route(route_table: &str, destination: &str) -> Self {
        let (route_table, destination) = (route_table.to_string(), destination.to_string());
        Self::new("DescribeRouteTables", move |xml| {
            let doc = Doc(xml);
            let mut edits = Vec::new();
            for table in doc.items_at(&["routeTableSet"]) {
                if doc.child_text(&table, "routeTableId") != Some(route_table.as_str()) {
                    continue;
                }
                let Some(routes) = doc.child(&table, "routeSet") else {
                    continue;
                };
                for route in doc.children(&routes, "item") {
                    let to = doc
                        .child_text(&route, "destinationCidrBlock")
                        .or_else(|| doc.child_text(&route, "destinationIpv6CidrBlock"));
                    if to == Some(destination.as_str()) {
                        doc.set_child(&mut edits, &route, "state", "<state>blackhole</state>");
                    }
                }
            }
            splice(xml, edits)
        })
    }

    /// DescribeRouteTables: every route to `eni` is `blackhole`, as EC2 shows
    /// routes to an ENI that was deleted (with its terminated instance). A route
    /// written to another target since is active again.
    pub fn blackhole_routes_to(eni: &str) -> Self {
        let eni = eni.to_string();
        Self::new("DescribeRouteTables", move |xml| {
            let doc = Doc(xml);
            let mut edits = Vec::new();
            for table in doc.items_at(&["routeTableSet"]) {
                let Some(routes) = doc.child(&table, "routeSet") else {
                    continue;
                };
                for route in doc.children(&routes, "item") {
                    if doc.child_text(&route, "networkInterfaceId") == Some(eni.as_str()) {
                        doc.set_child(&mut edits, &route, "state", "<state>blackhole</state>");
                    }
                }
            }
            splice(xml, edits)
        })
    }
}

/// A status summary as EC2 writes it: the status and its `reachability` detail.
fn status_summary(element: &str, status: &str) -> String {
    let detail = match status {
        "ok" => "passed",
        "impaired" => "failed",
        "not-applicable" => return format!("<{element}><status>{status}</status></{element}>"),
        other => other, // initializing, insufficient-data
    };
    let since = if detail == "failed" {
        format!("<impairedSince>{IMPAIRED_SINCE}</impairedSince>")
    } else {
        String::new()
    };
    format!(
        "<{element}><status>{status}</status><details><item><name>reachability</name><status>{detail}</status>{since}</item></details></{element}>"
    )
}

/// Applies `rewrites` to the body of a successful HTTP/1.1 answer (a whole
/// `Content-Length` message) and fixes its `Content-Length`.
pub(super) fn apply(rewrites: &[Rewrite], response: Vec<u8>) -> Vec<u8> {
    if rewrites.is_empty() {
        return response;
    }
    let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response;
    };
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let Ok(body) = std::str::from_utf8(&response[head_end + 4..]) else {
        return response;
    };
    let status_ok = head
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'));
    if !status_ok {
        return response;
    }
    let body = rewrites
        .iter()
        .fold(body.to_string(), |xml, rewrite| rewrite.apply(&xml));
    let mut out: Vec<String> = head
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
    out.push(format!("Content-Length: {}", body.len()));
    let mut bytes = (out.join("\r\n") + "\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Replaces byte ranges of `xml` (ranges that do not overlap).
pub(super) fn splice(xml: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut out = xml.to_string();
    for (range, text) in edits {
        out.replace_range(range, &text);
    }
    out
}

/// One element: where it is (`outer`, tags included) and its content (`inner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Element {
    pub(super) name: String,
    pub(super) outer: Range<usize>,
    pub(super) inner: Range<usize>,
}

/// A tag of the document.
#[derive(Debug)]
struct Tag<'a> {
    name: &'a str,
    range: Range<usize>,
    kind: TagKind,
}

#[derive(Debug, PartialEq, Eq)]
enum TagKind {
    Open,
    Close,
    Empty,
}

/// Element-level reading of an XML document without whitespace between elements
/// (moto's answers).
pub(super) struct Doc<'a>(pub(super) &'a str);

impl<'a> Doc<'a> {
    /// The tags in `range`, in order (declarations and comments skipped).
    fn tags(&self, range: Range<usize>) -> Vec<Tag<'a>> {
        let mut tags = Vec::new();
        let mut at = range.start;
        while let Some(offset) = self.0[at..range.end].find('<') {
            let start = at + offset;
            let Some(len) = self.0[start..range.end].find('>') else {
                break;
            };
            let end = start + len + 1;
            let text = &self.0[start + 1..end - 1];
            at = end;
            if text.starts_with('?') || text.starts_with('!') {
                continue;
            }
            let (kind, text) = if let Some(name) = text.strip_prefix('/') {
                (TagKind::Close, name)
            } else if let Some(name) = text.strip_suffix('/') {
                (TagKind::Empty, name)
            } else {
                (TagKind::Open, text)
            };
            let name = text.split_whitespace().next().unwrap_or_default();
            tags.push(Tag {
                name,
                range: start..end,
                kind,
            });
        }
        tags
    }

    /// The elements directly in `range`.
    pub(super) fn elements(&self, range: Range<usize>) -> Vec<Element> {
        let mut elements = Vec::new();
        let mut depth = 0usize;
        let mut open: Option<&Tag> = None;
        let tags = self.tags(range);
        for tag in &tags {
            match tag.kind {
                TagKind::Empty if depth == 0 => elements.push(Element {
                    name: tag.name.to_string(),
                    outer: tag.range.clone(),
                    inner: tag.range.end..tag.range.end,
                }),
                TagKind::Empty => {}
                TagKind::Open => {
                    if depth == 0 {
                        open = Some(tag);
                    }
                    depth += 1;
                }
                TagKind::Close => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        if let Some(start) = open.take() {
                            elements.push(Element {
                                name: start.name.to_string(),
                                outer: start.range.start..tag.range.end,
                                inner: start.range.end..tag.range.start,
                            });
                        }
                    }
                }
            }
        }
        elements
    }

    /// The document's root element.
    pub(super) fn root(&self) -> Option<Element> {
        self.elements(0..self.0.len()).into_iter().next()
    }

    pub(super) fn children(&self, parent: &Element, name: &str) -> Vec<Element> {
        self.elements(parent.inner.clone())
            .into_iter()
            .filter(|e| e.name == name)
            .collect()
    }

    pub(super) fn child(&self, parent: &Element, name: &str) -> Option<Element> {
        self.children(parent, name).into_iter().next()
    }

    pub(super) fn child_text(&self, parent: &Element, name: &str) -> Option<&'a str> {
        self.child(parent, name).map(|e| &self.0[e.inner])
    }

    /// The `<item>`s of the list at `path` below the root.
    pub(super) fn items_at(&self, path: &[&str]) -> Vec<Element> {
        let mut at = self.root();
        for name in path {
            at = at.and_then(|e| self.child(&e, name));
        }
        at.map(|list| self.children(&list, "item"))
            .unwrap_or_default()
    }

    /// Replaces `parent`'s child `name` with `xml`, or adds it at the end.
    pub(super) fn set_child(
        &self,
        edits: &mut Vec<(Range<usize>, String)>,
        parent: &Element,
        name: &str,
        xml: &str,
    ) {
        match self.child(parent, name) {
            Some(existing) => edits.push((existing.outer, xml.to_string())),
            None => edits.push((parent.inner.end..parent.inner.end, xml.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moto 5.2.5's DescribeRouteTables answer, verbatim but for the ids.
    const ROUTE_TABLES: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<DescribeRouteTablesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15\"><routeTableSet><item><associationSet/><routeTableId>rtb-1</routeTableId><routeSet><item><destinationCidrBlock>10.1.0.0/16</destinationCidrBlock><gatewayId>local</gatewayId><origin>CreateRouteTable</origin><state>active</state></item><item><destinationCidrBlock>192.168.100.10/32</destinationCidrBlock><networkInterfaceId>eni-1</networkInterfaceId><origin>CreateRoute</origin><state>active</state></item></routeSet><tagSet/><vpcId>vpc-1</vpcId><ownerId>123456789012</ownerId></item></routeTableSet><requestId>request-id</requestId></DescribeRouteTablesResponse>";

    #[test]
    fn a_blackhole_rewrite_changes_only_the_state_of_that_route() {
        let out = Rewrite::blackhole_route("rtb-1", "192.168.100.10/32").apply(ROUTE_TABLES);
        assert_eq!(
            out,
            ROUTE_TABLES.replace(
                "eni-1</networkInterfaceId><origin>CreateRoute</origin><state>active",
                "eni-1</networkInterfaceId><origin>CreateRoute</origin><state>blackhole"
            )
        );
        let other_table = Rewrite::blackhole_route("rtb-2", "192.168.100.10/32");
        assert_eq!(other_table.apply(ROUTE_TABLES), ROUTE_TABLES);
    }

    #[test]
    fn the_content_length_follows_the_rewritten_body() {
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ROUTE_TABLES}",
            ROUTE_TABLES.len()
        );
        let out = apply(
            &[Rewrite::blackhole_route("rtb-1", "192.168.100.10/32")],
            response.into_bytes(),
        );
        let out = String::from_utf8(out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(body.contains("<state>blackhole</state>"));
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"));

        let error = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad".to_vec();
        assert_eq!(
            apply(&[Rewrite::new("X", |_| "changed".into())], error.clone()),
            error
        );
    }
}
