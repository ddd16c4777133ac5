//! The Transit Gateway route actions the proxy answers as EC2 does, with moto
//! underneath ([`super::Transit`]).

use super::super::http::{error_response, forward, ok_response, status_and_body};
use super::super::rewrite::{apply, splice, Doc};
use super::super::Rewrite;
use super::{set_attachments, Call, XMLNS};

impl Call<'_> {
    /// `ReplaceTransitGatewayRoute`: a delete and a create in moto, answered as
    /// EC2 answers it.
    pub(super) async fn replace(&self) -> Vec<u8> {
        let (table, destination) = (
            self.param("TransitGatewayRouteTableId"),
            self.param("DestinationCidrBlock"),
        );
        let attachment = self.form.get("TransitGatewayAttachmentId");
        let blackhole = self.form.get("Blackhole") == Some("true");
        let target = match attachment {
            _ if blackhole => ("Blackhole", "true"),
            Some(attachment) => ("TransitGatewayAttachmentId", attachment),
            // EC2's exact code for neither a target nor a blackhole is not known.
            None => return missing_parameter(),
        };
        let route = [
            ("TransitGatewayRouteTableId", table.as_str()),
            ("DestinationCidrBlock", destination.as_str()),
        ];
        let deleted = self.send("DeleteTransitGatewayRoute", &route).await;
        match status_and_body(&deleted).0 {
            200..=299 => {}
            // moto's KeyError for a route (or table) it does not have.
            500 => return self.not_found(&table, &destination).await,
            _ => return deleted,
        }
        let created = self
            .send("CreateTransitGatewayRoute", &[route[0], route[1], target])
            .await;
        let (status, xml) = status_and_body(&created);
        if !(200..300).contains(&status) {
            return created;
        }
        self.learn("ReplaceTransitGatewayRoute", &created);
        self.resolve(&table).await;
        let doc = Doc(xml);
        let root = doc.root();
        let route = root.as_ref().and_then(|root| doc.child(root, "route"));
        let route = route.map_or(String::new(), |route| {
            let attachments = self.transit.attachments_of(&table);
            set_attachments(&xml[route.outer.clone()], |doc| doc.root(), &attachments)
        });
        let request_id = root
            .and_then(|root| doc.child_text(&root, "requestId"))
            .unwrap_or("fault-proxy");
        ok_response(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ReplaceTransitGatewayRouteResponse xmlns=\"{XMLNS}\">{route}<requestId>{request_id}</requestId></ReplaceTransitGatewayRouteResponse>"
        ))
    }

    /// `CreateTransitGatewayRoute`, refused as EC2 refuses it when the table has a
    /// static route to that destination already (moto overwrites it).
    pub(super) async fn create(&self, body: &[u8]) -> Vec<u8> {
        let (table, destination) = (
            self.param("TransitGatewayRouteTableId"),
            self.param("DestinationCidrBlock"),
        );
        let search = [
            ("TransitGatewayRouteTableId", table.as_str()),
            ("Filter.1.Name", "route-search.exact-match"),
            ("Filter.1.Value.1", destination.as_str()),
            ("Filter.2.Name", "type"),
            ("Filter.2.Value.1", "static"),
        ];
        let existing = self.send("SearchTransitGatewayRoutes", &search).await;
        let cidr = format!("<destinationCidrBlock>{destination}</destinationCidrBlock>");
        if status_and_body(&existing).1.contains(&cidr) {
            // EC2: "RouteAlreadyExists: Route 10.102.1.179/32 already exists in
            // Transit Gateway Route Table tgw-rtb-…", HTTP 400.
            return error_response(
                400,
                "Bad Request",
                "RouteAlreadyExists",
                &format!(
                    "Route {destination} already exists in Transit Gateway Route Table {table}."
                ),
            );
        }
        let response = forward(self.upstream, self.head, body).await;
        if status_and_body(&response).0 == 500 && !self.table_exists(&table).await {
            return table_not_found(&table);
        }
        self.learn("CreateTransitGatewayRoute", &response);
        self.resolve(&table).await;
        self.rewrite_route(&table, response)
    }

    /// `DeleteTransitGatewayRoute`, with EC2's errors for a route or table that
    /// does not exist (moto: HTTP 500).
    pub(super) async fn delete(&self, body: &[u8]) -> Vec<u8> {
        let table = self.param("TransitGatewayRouteTableId");
        let response = forward(self.upstream, self.head, body).await;
        if status_and_body(&response).0 == 500 {
            return self
                .not_found(&table, &self.param("DestinationCidrBlock"))
                .await;
        }
        let response = self.rewrite_route(&table, response);
        self.learn("DeleteTransitGatewayRoute", &response);
        response
    }

    /// `SearchTransitGatewayRoutes`, with the static routes' attachments and the
    /// declared propagated routes.
    pub(super) async fn search(&self, body: &[u8]) -> Vec<u8> {
        let table = self.param("TransitGatewayRouteTableId");
        let response = forward(self.upstream, self.head, body).await;
        self.resolve(&table).await;
        let attachments = self.transit.attachments_of(&table);
        let propagated = self.transit.propagated_items(&table, &self.form);
        let rewrite = Rewrite::new("SearchTransitGatewayRoutes", move |xml| {
            let xml = set_attachments(xml, |doc| doc.items_at(&["routeSet"]), &attachments);
            let doc = Doc(&xml);
            let Some(set) = doc.root().and_then(|root| doc.child(&root, "routeSet")) else {
                return xml;
            };
            let edit = if xml[set.outer.clone()].ends_with("/>") {
                (set.outer, format!("<routeSet>{propagated}</routeSet>"))
            } else {
                (set.inner.end..set.inner.end, propagated.clone())
            };
            splice(&xml, vec![edit])
        });
        apply(&[rewrite], response)
    }

    /// The answer's `<route>` with its attachment.
    fn rewrite_route(&self, table: &str, response: Vec<u8>) -> Vec<u8> {
        let attachments = self.transit.attachments_of(table);
        let rewrite = Rewrite::new("route", move |xml| {
            let route = |doc: &Doc| doc.root().and_then(|root| doc.child(&root, "route"));
            set_attachments(xml, route, &attachments)
        });
        apply(&[rewrite], response)
    }

    async fn table_exists(&self, table: &str) -> bool {
        let params = [("TransitGatewayRouteTableIds.1", table)];
        let answer = self
            .send("DescribeTransitGatewayRouteTables", &params)
            .await;
        let id = format!("<transitGatewayRouteTableId>{table}</transitGatewayRouteTableId>");
        status_and_body(&answer).1.contains(&id)
    }

    /// EC2's error for a route that does not exist, or for its table.
    async fn not_found(&self, table: &str, destination: &str) -> Vec<u8> {
        if !self.table_exists(table).await {
            return table_not_found(table);
        }
        // EC2's own answer (DeleteTransitGatewayRoute, as seen by the Terraform
        // provider): HTTP 400, "InvalidRoute.NotFound: Route 0.0.0.0/0 does not
        // exists in Transit Gateway Route Table tgw-rtb-…". Its API reference
        // lists no errors of ReplaceTransitGatewayRoute but the common ones.
        error_response(
            400,
            "Bad Request",
            "InvalidRoute.NotFound",
            &format!("Route {destination} does not exist in Transit Gateway Route Table {table}."),
        )
    }
}

fn table_not_found(table: &str) -> Vec<u8> {
    error_response(
        400,
        "Bad Request",
        "InvalidRouteTableID.NotFound",
        &format!("The transit gateway route table ID '{table}' does not exist."),
    )
}

fn missing_parameter() -> Vec<u8> {
    error_response(
        400,
        "Bad Request",
        "MissingParameter",
        "Either TransitGatewayAttachmentId or Blackhole must be specified.",
    )
}
