//! Transit Gateway reads into world records, and the VIP's static routes.

use aws_sdk_ec2::types::{Filter, TransitGatewayRouteState, TransitGatewayRouteType};
use tokio::time::Instant;

use super::ec2::tag_map;
use super::ops::Op;
use super::{Aws, AwsError, Window};
use crate::plan::WriteKind;
use crate::transit::TransitRoute;
use crate::world::{TransitAttachmentRecord, TransitRouteRecord, TransitTableRecord};

impl Aws {
    /// The Transit Gateway route tables carrying `tag_key`, with their static
    /// and propagated routes. (EC2 filters by tag; some emulators ignore the
    /// filter, so it is applied here too.)
    pub(crate) async fn transit_tables(
        &self,
        tag_key: &str,
        until: Instant,
    ) -> Result<Vec<TransitTableRecord>, AwsError> {
        let request = self
            .ec2
            .describe_transit_gateway_route_tables()
            .filters(Filter::builder().name("tag-key").values(tag_key).build());
        let out = self
            .call_in(
                Op::DescribeTransitGatewayRouteTables,
                Window::until(until),
                || request.clone().send(),
            )
            .await?;
        let tagged: Vec<TransitTableRecord> = out
            .transit_gateway_route_tables()
            .iter()
            .filter_map(|t| {
                Some(TransitTableRecord {
                    id: t.transit_gateway_route_table_id()?.to_string(),
                    transit_gateway_id: t.transit_gateway_id()?.to_string(),
                    tags: tag_map(t.tags()),
                    routes: Vec::new(),
                })
            })
            .filter(|t| t.tags.contains_key(tag_key))
            .collect();
        let searches = tagged.into_iter().map(|table| async move {
            let routes = self.transit_routes(&table.id, until).await?;
            Ok(TransitTableRecord { routes, ..table })
        });
        futures_util::future::join_all(searches)
            .await
            .into_iter()
            .collect()
    }

    /// The static and propagated routes of one Transit Gateway route table (the
    /// first 1,000: a search does not paginate).
    async fn transit_routes(
        &self,
        table: &str,
        until: Instant,
    ) -> Result<Vec<TransitRouteRecord>, AwsError> {
        let kinds = Filter::builder()
            .name("type")
            .values("static")
            .values("propagated")
            .build();
        let request = self
            .ec2
            .search_transit_gateway_routes()
            .transit_gateway_route_table_id(table)
            .filters(kinds);
        // No MaxResults: EC2's default is its maximum, 1,000 routes (and moto
        // fails on the parameter).
        let out = self
            .call_in(Op::SearchTransitGatewayRoutes, Window::until(until), || {
                request.clone().send()
            })
            .await?;
        Ok(out
            .routes()
            .iter()
            .map(|r| {
                let attachment = r.transit_gateway_attachments().first();
                TransitRouteRecord {
                    destination: r.destination_cidr_block().and_then(|d| d.parse().ok()),
                    attachment: attachment
                        .and_then(|a| a.transit_gateway_attachment_id())
                        .map(str::to_string),
                    resource: attachment.and_then(|a| a.resource_id()).map(str::to_string),
                    blackhole: r.state() == Some(&TransitGatewayRouteState::Blackhole),
                    propagated: r.r#type() == Some(&TransitGatewayRouteType::Propagated),
                }
            })
            .collect())
    }

    /// The Transit Gateway attachments of `vpc`.
    pub(crate) async fn transit_attachments(
        &self,
        vpc: &str,
        until: Instant,
    ) -> Result<Vec<TransitAttachmentRecord>, AwsError> {
        let request = self
            .ec2
            .describe_transit_gateway_vpc_attachments()
            .filters(Filter::builder().name("vpc-id").values(vpc).build());
        let out = self
            .call_in(
                Op::DescribeTransitGatewayVpcAttachments,
                Window::until(until),
                || request.clone().send(),
            )
            .await?;
        Ok(out
            .transit_gateway_vpc_attachments()
            .iter()
            .filter_map(|a| {
                Some(TransitAttachmentRecord {
                    id: a.transit_gateway_attachment_id()?.to_string(),
                    transit_gateway_id: a.transit_gateway_id()?.to_string(),
                    vpc_id: a.vpc_id()?.to_string(),
                    subnets: a.subnet_ids().to_vec(),
                    available: a.state().is_some_and(|s| s.as_str() == "available"),
                })
            })
            .collect())
    }

    /// Writes one planned VIP route of a Transit Gateway route table. A
    /// replace whose route vanished since the read becomes a create, and the
    /// other way round (a retried create that EC2 had accepted, a route beyond
    /// the first 1,000 the search returns).
    pub(crate) async fn write_transit(
        &self,
        route: &TransitRoute,
        window: Window,
    ) -> Result<(), AwsError> {
        let (Some(kind), Some(attachment)) = (route.write, route.wanted.as_deref()) else {
            return Ok(());
        };
        let first = self.write_transit_as(route, kind, attachment, window).await;
        let other = match first {
            Err(ref e) if kind == WriteKind::Replace && e.route_not_found() => WriteKind::Create,
            Err(ref e) if kind == WriteKind::Create && e.route_exists() => WriteKind::Replace,
            other => return other,
        };
        self.write_transit_as(route, other, attachment, window)
            .await
    }

    async fn write_transit_as(
        &self,
        route: &TransitRoute,
        kind: WriteKind,
        attachment: &str,
        window: Window,
    ) -> Result<(), AwsError> {
        let destination = route.vip.to_string();
        match kind {
            WriteKind::Create => {
                let request = self
                    .ec2
                    .create_transit_gateway_route()
                    .transit_gateway_route_table_id(&route.table)
                    .destination_cidr_block(&destination)
                    .transit_gateway_attachment_id(attachment);
                self.call_in(Op::CreateTransitGatewayRoute, window, || {
                    request.clone().send()
                })
                .await
                .map(|_| ())
            }
            WriteKind::Replace => {
                let request = self
                    .ec2
                    .replace_transit_gateway_route()
                    .transit_gateway_route_table_id(&route.table)
                    .destination_cidr_block(&destination)
                    .transit_gateway_attachment_id(attachment);
                self.call_in(Op::ReplaceTransitGatewayRoute, window, || {
                    request.clone().send()
                })
                .await
                .map(|_| ())
            }
        }
    }
}
