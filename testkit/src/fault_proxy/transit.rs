//! Transit Gateway routes as EC2 keeps them, where moto 5.2.5 falls short
//! ([`super::Rules::transit`]).
//!
//! moto keeps a static route's attachment but answers every route with an empty
//! `<transitGatewayAttachments/>`, does not implement `ReplaceTransitGatewayRoute`
//! (HTTP 500), answers HTTP 500 to a delete of a route that does not exist,
//! silently overwrites a static route created twice, and never shows propagated
//! routes. The proxy keeps a small model of what went through it and fills those
//! gaps:
//!
//! - it learns attachments (attachment → VPC) from the answers to
//!   `CreateTransitGatewayVpcAttachment` and `DescribeTransitGatewayVpcAttachments`
//!   (or asks moto for one it has not seen), and static routes (table and
//!   destination → attachment or blackhole) from `CreateTransitGatewayRoute` and
//!   `DeleteTransitGatewayRoute` requests, whether or not the emulation is on;
//! - it answers `ReplaceTransitGatewayRoute` itself, as a delete and a create in
//!   moto;
//! - it writes each static route's attachment into the answers to
//!   `SearchTransitGatewayRoutes`, `CreateTransitGatewayRoute` and
//!   `DeleteTransitGatewayRoute`, and adds the propagated routes a test declared
//!   ([`super::FaultProxy::add_propagated_route`]) to search answers, filtered by
//!   the request's `type`, `state` and `route-search.exact-match` filters as moto
//!   filters its own routes;
//! - it answers EC2's errors where moto answers 500 or nothing: a route that does
//!   not exist, a route table that does not exist, a static route that exists.
//!
//! Routes written around the proxy (with a client of the emulator itself) are
//! not in the model: their answers stay moto's.

use std::collections::HashMap;
use std::sync::Mutex;

use super::form::{encode, Form};
use super::http::{forward, head_for, status_and_body};
use super::rewrite::{splice, Doc};

mod actions;

const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15";

/// What a static route points at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Attachment(String),
    Blackhole,
}

/// The resource behind an attachment: its id and EC2's resource type (`vpc`,
/// `vpn`, `peering`, `direct-connect-gateway`).
#[derive(Debug, Clone)]
struct Resource {
    id: String,
    kind: &'static str,
}

#[derive(Debug, Clone)]
struct Propagated {
    table: String,
    destination: String,
    attachment: String,
    resource: Resource,
}

#[derive(Debug, Default)]
struct Model {
    attachments: HashMap<String, Resource>,
    /// Static routes by route table and destination.
    routes: HashMap<(String, String), Target>,
    propagated: Vec<Propagated>,
}

/// The proxy's Transit Gateway model, shared by every call.
#[derive(Debug, Default)]
pub(super) struct Transit {
    model: Mutex<Model>,
}

/// One call's context: where to send requests to moto, and with which head.
struct Call<'a> {
    transit: &'a Transit,
    upstream: &'a str,
    head: &'a [u8],
    form: Form,
}

impl Transit {
    /// A propagated route in `table`: `destination` through `attachment`, whose
    /// resource is `resource` (its type follows from its id: `vpc-`, `vpn-`,
    /// `tgw-` for a peering, anything else a Direct Connect gateway).
    pub(super) fn add_propagated(
        &self,
        table: &str,
        destination: &str,
        attachment: &str,
        resource: &str,
    ) {
        let kind = match resource.split('-').next() {
            Some("vpc") => "vpc",
            Some("vpn") => "vpn",
            Some("tgw") => "peering",
            _ => "direct-connect-gateway",
        };
        self.model.lock().unwrap().propagated.push(Propagated {
            table: table.to_string(),
            destination: destination.to_string(),
            attachment: attachment.to_string(),
            resource: Resource {
                id: resource.to_string(),
                kind,
            },
        });
    }

    /// Answers one call that got past the faults: from moto, learning from it, and
    /// with `emulate`, as EC2 would answer it.
    pub(super) async fn exchange(
        &self,
        emulate: bool,
        upstream: &str,
        action: &str,
        head: &[u8],
        body: &[u8],
    ) -> Vec<u8> {
        let call = Call {
            transit: self,
            upstream,
            head,
            form: Form::parse(&String::from_utf8_lossy(body)),
        };
        match action {
            "ReplaceTransitGatewayRoute" if emulate => call.replace().await,
            "CreateTransitGatewayRoute" if emulate => call.create(body).await,
            "DeleteTransitGatewayRoute" if emulate => call.delete(body).await,
            "SearchTransitGatewayRoutes" if emulate => call.search(body).await,
            _ => {
                let response = forward(upstream, head, body).await;
                call.learn(action, &response);
                response
            }
        }
    }

    /// The attachments of `table`'s static routes to an attachment, as EC2 writes
    /// them in a route, by destination.
    fn attachments_of(&self, table: &str) -> HashMap<String, String> {
        let model = self.model.lock().unwrap();
        model
            .routes
            .iter()
            .filter(|((t, _), _)| t == table)
            .filter_map(|((_, destination), target)| match target {
                Target::Attachment(a) => Some((
                    destination.clone(),
                    attachments_xml(a, model.attachments.get(a)),
                )),
                Target::Blackhole => None,
            })
            .collect()
    }

    /// The `<item>`s of the propagated routes of `table` that pass the search's
    /// filters.
    fn propagated_items(&self, table: &str, form: &Form) -> String {
        let passes = |filter: &str, value: &str| {
            form.filter(filter)
                .is_none_or(|values| values.iter().any(|v| v == value))
        };
        let shown = passes("type", "propagated") && passes("state", "active");
        let model = self.model.lock().unwrap();
        model
            .propagated
            .iter()
            .filter(|p| shown && p.table == table)
            .filter(|p| passes("route-search.exact-match", &p.destination))
            .map(|p| {
                format!(
                    "<item><destinationCidrBlock>{}</destinationCidrBlock>{}<type>propagated</type><state>active</state></item>",
                    p.destination,
                    attachments_xml(&p.attachment, Some(&p.resource)),
                )
            })
            .collect()
    }

    /// Attachments the model's routes of `table` point at whose resource it does
    /// not know.
    fn unknown_attachments(&self, table: &str) -> Vec<String> {
        let model = self.model.lock().unwrap();
        let mut unknown: Vec<String> = model
            .routes
            .iter()
            .filter(|((t, _), _)| t == table)
            .filter_map(|(_, target)| match target {
                Target::Attachment(a) if !model.attachments.contains_key(a) => Some(a.clone()),
                _ => None,
            })
            .collect();
        unknown.sort();
        unknown.dedup();
        unknown
    }
}

impl Call<'_> {
    fn param(&self, name: &str) -> String {
        self.form.get(name).unwrap_or_default().to_string()
    }

    /// Sends a request of ours to moto, with the client's head.
    async fn send(&self, action: &str, params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = format!("Action={action}&Version=2016-11-15");
        for (name, value) in params {
            body.push_str(&format!("&{name}={}", encode(value)));
        }
        forward(self.upstream, &head_for(self.head, &body), body.as_bytes()).await
    }

    /// Learns attachments and static routes from a successful answer to `action`.
    fn learn(&self, action: &str, response: &[u8]) {
        let (status, xml) = status_and_body(response);
        if !(200..300).contains(&status) {
            return;
        }
        let doc = Doc(xml);
        let attachments = match action {
            "CreateTransitGatewayVpcAttachment" => doc
                .root()
                .and_then(|root| doc.child(&root, "transitGatewayVpcAttachment"))
                .into_iter()
                .collect(),
            "DescribeTransitGatewayVpcAttachments" => {
                doc.items_at(&["transitGatewayVpcAttachments"])
            }
            _ => Vec::new(),
        };
        let key = (
            self.param("TransitGatewayRouteTableId"),
            self.param("DestinationCidrBlock"),
        );
        let mut model = self.transit.model.lock().unwrap();
        for attachment in attachments {
            let id = doc.child_text(&attachment, "transitGatewayAttachmentId");
            let vpc = doc.child_text(&attachment, "vpcId");
            if let (Some(id), Some(vpc)) = (id, vpc) {
                let resource = Resource {
                    id: vpc.to_string(),
                    kind: "vpc",
                };
                model.attachments.insert(id.to_string(), resource);
            }
        }
        match action {
            "CreateTransitGatewayRoute" | "ReplaceTransitGatewayRoute" => {
                let blackhole = self.form.get("Blackhole") == Some("true");
                match self.form.get("TransitGatewayAttachmentId") {
                    _ if blackhole => model.routes.insert(key, Target::Blackhole),
                    Some(a) => model.routes.insert(key, Target::Attachment(a.to_string())),
                    None => model.routes.remove(&key),
                };
            }
            "DeleteTransitGatewayRoute" => {
                model.routes.remove(&key);
            }
            _ => {}
        }
    }

    /// Asks moto for the VPC of each attachment of `table`'s routes the model does
    /// not know (created around the proxy).
    async fn resolve(&self, table: &str) {
        for attachment in self.transit.unknown_attachments(table) {
            let params = [("TransitGatewayAttachmentIds.1", attachment.as_str())];
            let answer = self
                .send("DescribeTransitGatewayVpcAttachments", &params)
                .await;
            self.learn("DescribeTransitGatewayVpcAttachments", &answer);
        }
    }
}

/// Sets the attachments of the static routes `routes` finds in `xml` to those
/// of `attachments` (by destination); moto leaves them empty.
fn set_attachments<R>(
    xml: &str,
    routes: impl Fn(&Doc) -> R,
    attachments: &HashMap<String, String>,
) -> String
where
    R: IntoIterator<Item = super::rewrite::Element>,
{
    let doc = Doc(xml);
    let mut edits = Vec::new();
    for route in routes(&doc) {
        if doc.child_text(&route, "type") != Some("static") {
            continue;
        }
        let destination = doc.child_text(&route, "destinationCidrBlock");
        if let Some(attachment) = destination.and_then(|d| attachments.get(d)) {
            doc.set_child(&mut edits, &route, "transitGatewayAttachments", attachment);
        }
    }
    splice(xml, edits)
}

/// A route's `transitGatewayAttachments` as EC2 writes it.
fn attachments_xml(attachment: &str, resource: Option<&Resource>) -> String {
    let (id, kind) = resource.map_or((String::new(), String::new()), |r| {
        (
            format!("<resourceId>{}</resourceId>", r.id),
            format!("<resourceType>{}</resourceType>", r.kind),
        )
    });
    format!(
        "<transitGatewayAttachments><item>{id}<transitGatewayAttachmentId>{attachment}</transitGatewayAttachmentId>{kind}</item></transitGatewayAttachments>"
    )
}
