//! Builds emulated VPC topologies through the real EC2 API: the two-AZ seed of the
//! README and variations of it. Shared by the integration tests, the bench and
//! `make demo` (examples/topology.rs).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, InstanceType, ResourceType, Tag, TagSpecification,
};
use aws_sdk_ec2::Client;

use crate::Result;

pub const GROUP: &str = "web";
pub const VIP: &str = "192.168.100.10/32";
pub const VPC_CIDR: &str = "10.0.0.0/16";
/// Any image id will do for the emulator; this one mimics an AL2023 AMI id.
const IMAGE_ID: &str = "ami-0abcdef1234567890";

#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub instance_id: String,
    pub eni_id: String,
    pub availability_zone: String,
}

/// The seed: a VPC in two AZs, serverA (priority 10) and serverB (priority 20),
/// three client route tables whose VIP route points at serverA's ENI, and
/// unrelated routes (internet, a peer network via serverA, another via serverB).
#[derive(Debug, Clone)]
pub struct Seed {
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub igw_id: String,
    pub server_a: Server,
    pub server_b: Server,
    pub tables: Vec<String>,
}

pub async fn create_vpc(client: &Client, cidr: &str) -> Result<String> {
    let vpc = client.create_vpc().cidr_block(cidr).send().await?;
    Ok(vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or("no vpc id")?
        .to_string())
}

pub async fn create_subnet(client: &Client, vpc: &str, cidr: &str, az: &str) -> Result<String> {
    let out = client
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(az)
        .send()
        .await?;
    Ok(out
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or("no subnet id")?
        .to_string())
}

pub async fn create_igw(client: &Client, vpc: &str) -> Result<String> {
    let igw = client.create_internet_gateway().send().await?;
    let id = igw
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .ok_or("no igw id")?
        .to_string();
    client
        .attach_internet_gateway()
        .internet_gateway_id(&id)
        .vpc_id(vpc)
        .send()
        .await?;
    Ok(id)
}

fn tag_spec(kind: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    spec.build()
}

/// Launches one instance with `tags` (plus `Name`) and disables source/dest check
/// on its ENI, as the README asks of every member.
pub async fn launch(
    client: &Client,
    subnet: &str,
    name: &str,
    tags: &[(&str, &str)],
) -> Result<Server> {
    launch_at(client, subnet, name, tags, None).await
}

/// [`launch`], with the instance's private address chosen (e.g. a loopback
/// address, so a local listener stands in for its service).
pub async fn launch_at(
    client: &Client,
    subnet: &str,
    name: &str,
    tags: &[(&str, &str)],
    private_ip: Option<&str>,
) -> Result<Server> {
    let mut all = vec![("Name", name)];
    all.extend_from_slice(tags);
    let out = client
        .run_instances()
        .image_id(IMAGE_ID)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .set_private_ip_address(private_ip.map(str::to_string))
        .tag_specifications(tag_spec(ResourceType::Instance, &all))
        .send()
        .await?;
    let instance = out.instances().first().ok_or("no instance")?;
    let eni_id = instance
        .network_interfaces()
        .first()
        .and_then(|n| n.network_interface_id())
        .ok_or("no eni")?
        .to_string();
    set_source_dest_check(client, &eni_id, false).await?;
    Ok(Server {
        name: name.to_string(),
        instance_id: instance.instance_id().ok_or("no instance id")?.to_string(),
        eni_id,
        availability_zone: instance
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_string(),
    })
}

pub async fn set_source_dest_check(client: &Client, eni: &str, enabled: bool) -> Result<()> {
    client
        .modify_network_interface_attribute()
        .network_interface_id(eni)
        .source_dest_check(AttributeBooleanValue::builder().value(enabled).build())
        .send()
        .await?;
    Ok(())
}

/// The standard member tags of the seed group.
pub fn member_tags(priority: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("vip-failover:group", GROUP),
        ("vip-failover:priority", priority),
        ("vip-failover:vip", VIP),
    ]
}

pub async fn create_table(
    client: &Client,
    vpc: &str,
    tags: &[(&str, &str)],
    subnet: Option<&str>,
) -> Result<String> {
    let out = client
        .create_route_table()
        .vpc_id(vpc)
        .tag_specifications(tag_spec(ResourceType::RouteTable, tags))
        .send()
        .await?;
    let id = out
        .route_table()
        .and_then(|t| t.route_table_id())
        .ok_or("no table id")?
        .to_string();
    if let Some(subnet) = subnet {
        client
            .associate_route_table()
            .route_table_id(&id)
            .subnet_id(subnet)
            .send()
            .await?;
    }
    Ok(id)
}

pub async fn route_to_eni(client: &Client, table: &str, cidr: &str, eni: &str) -> Result<()> {
    client
        .create_route()
        .route_table_id(table)
        .destination_cidr_block(cidr)
        .network_interface_id(eni)
        .send()
        .await?;
    Ok(())
}

pub async fn route_to_gateway(client: &Client, table: &str, cidr: &str, igw: &str) -> Result<()> {
    client
        .create_route()
        .route_table_id(table)
        .destination_cidr_block(cidr)
        .gateway_id(igw)
        .send()
        .await?;
    Ok(())
}

/// The seed's VPC, internet gateway and two members, without route tables.
async fn seed_members(client: &Client) -> Result<Seed> {
    let vpc_id = create_vpc(client, VPC_CIDR).await?;
    let subnet_a = create_subnet(client, &vpc_id, "10.0.1.0/24", "us-east-1a").await?;
    let subnet_b = create_subnet(client, &vpc_id, "10.0.2.0/24", "us-east-1b").await?;
    let igw_id = create_igw(client, &vpc_id).await?;
    let server_a = launch(client, &subnet_a, "serverA", &member_tags("10")).await?;
    let server_b = launch(client, &subnet_b, "serverB", &member_tags("20")).await?;
    Ok(Seed {
        vpc_id,
        subnets: vec![subnet_a, subnet_b],
        igw_id,
        server_a,
        server_b,
        tables: Vec::new(),
    })
}

/// The seed's VPC and members with exactly `total` client route tables (none
/// associated with a subnet, no unrelated routes), each routing the VIP to
/// serverA's ENI: any size from one table up, for the bench.
pub async fn seed_with_tables(client: &Client, total: usize) -> Result<Seed> {
    let mut seed = seed_members(client).await?;
    with_tables(client, &mut seed, total).await?;
    Ok(seed)
}

/// serverC: a third member of the seed's group (priority 30), in serverB's AZ.
pub async fn launch_server_c(client: &Client, seed: &Seed) -> Result<Server> {
    launch(client, &seed.subnets[1], "serverC", &member_tags("30")).await
}

/// The two-AZ seed scenario.
pub async fn seed_two_az(client: &Client) -> Result<Seed> {
    let mut seed = seed_members(client).await?;
    let (a, b) = (seed.server_a.eni_id.clone(), seed.server_b.eni_id.clone());
    for (name, subnet) in [
        ("clients-a", Some(seed.subnets[0].as_str())),
        ("clients-b", Some(seed.subnets[1].as_str())),
        ("clients-extra", None),
    ] {
        let table = create_table(client, &seed.vpc_id, &[("Name", name)], subnet).await?;
        route_to_gateway(client, &table, "0.0.0.0/0", &seed.igw_id).await?;
        route_to_eni(client, &table, VIP, &a).await?;
        seed.tables.push(table);
    }
    // Unrelated routes through the members' ENIs: a failover must not touch them.
    route_to_eni(client, &seed.tables[2], "172.16.0.0/12", &a).await?;
    route_to_eni(client, &seed.tables[2], "10.99.0.0/16", &b).await?;
    Ok(seed)
}

/// Every route table of the VPC.
async fn tables_of(client: &Client, vpc: &str) -> Result<Vec<aws_sdk_ec2::types::RouteTable>> {
    let out = client
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await?;
    Ok(out.route_tables().to_vec())
}

/// Every route of every table of the VPC, as comparable text (`dest -> target
/// [state]`), for before/after comparisons.
pub async fn dump_routes(client: &Client, vpc: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let mut dump = BTreeMap::new();
    for table in tables_of(client, vpc).await? {
        let mut routes: Vec<String> = table.routes().iter().map(|r| format!("{r:?}")).collect();
        routes.sort();
        dump.insert(
            table.route_table_id().unwrap_or_default().to_string(),
            routes,
        );
    }
    Ok(dump)
}

/// Where the route for `cidr` points in each table of the VPC that has one.
pub async fn targets_of(
    client: &Client,
    vpc: &str,
    cidr: &str,
) -> Result<BTreeMap<String, String>> {
    let mut targets = BTreeMap::new();
    for table in tables_of(client, vpc).await? {
        for route in table.routes() {
            if route.destination_cidr_block() == Some(cidr) {
                let target = route
                    .network_interface_id()
                    .or(route.instance_id())
                    .or(route.gateway_id())
                    .unwrap_or("?");
                targets.insert(
                    table.route_table_id().unwrap_or_default().to_string(),
                    target.to_string(),
                );
            }
        }
    }
    Ok(targets)
}

pub async fn stop(client: &Client, instance: &str) -> Result<()> {
    client
        .stop_instances()
        .instance_ids(instance)
        .send()
        .await?;
    Ok(())
}

/// Adds client route tables until the seed has `total`, each routing the VIP to
/// serverA's ENI.
pub async fn with_tables(client: &Client, seed: &mut Seed, total: usize) -> Result<()> {
    while seed.tables.len() < total {
        let name = format!("clients-{}", seed.tables.len() + 1);
        let table = create_table(client, &seed.vpc_id, &[("Name", &name)], None).await?;
        route_to_eni(client, &table, VIP, &seed.server_a.eni_id).await?;
        seed.tables.push(table);
    }
    Ok(())
}

/// A transit gateway with one route table tagged for a group and the VPC of the
/// group's members attached ([`seed_transit`]).
#[derive(Debug, Clone)]
pub struct TransitSeed {
    pub tgw_id: String,
    pub table_id: String,
    pub attachment_id: String,
}

pub async fn create_transit_gateway(client: &Client) -> Result<String> {
    let out = client.create_transit_gateway().send().await?;
    Ok(out
        .transit_gateway()
        .and_then(|t| t.transit_gateway_id())
        .ok_or("no transit gateway id")?
        .to_string())
}

/// A route table of `tgw` with `tags` (e.g. `&[("vip-failover:group", "web")]`).
pub async fn create_tgw_route_table(
    client: &Client,
    tgw: &str,
    tags: &[(&str, &str)],
) -> Result<String> {
    let out = client
        .create_transit_gateway_route_table()
        .transit_gateway_id(tgw)
        .tag_specifications(tag_spec(ResourceType::TransitGatewayRouteTable, tags))
        .send()
        .await?;
    Ok(out
        .transit_gateway_route_table()
        .and_then(|t| t.transit_gateway_route_table_id())
        .ok_or("no transit gateway route table id")?
        .to_string())
}

/// Attaches `vpc` to `tgw` in `subnets`; returns the attachment id.
pub async fn attach_vpc(
    client: &Client,
    tgw: &str,
    vpc: &str,
    subnets: &[String],
) -> Result<String> {
    let out = client
        .create_transit_gateway_vpc_attachment()
        .transit_gateway_id(tgw)
        .vpc_id(vpc)
        .set_subnet_ids(Some(subnets.to_vec()))
        .send()
        .await?;
    Ok(out
        .transit_gateway_vpc_attachment()
        .and_then(|a| a.transit_gateway_attachment_id())
        .ok_or("no transit gateway attachment id")?
        .to_string())
}

/// A static route in `table` to `cidr` through `attachment`.
pub async fn tgw_route_to(
    client: &Client,
    table: &str,
    cidr: &str,
    attachment: &str,
) -> Result<()> {
    client
        .create_transit_gateway_route()
        .transit_gateway_route_table_id(table)
        .destination_cidr_block(cidr)
        .transit_gateway_attachment_id(attachment)
        .send()
        .await?;
    Ok(())
}

/// A static blackhole route in `table` to `cidr`.
pub async fn tgw_blackhole_route(client: &Client, table: &str, cidr: &str) -> Result<()> {
    client
        .create_transit_gateway_route()
        .transit_gateway_route_table_id(table)
        .destination_cidr_block(cidr)
        .blackhole(true)
        .send()
        .await?;
    Ok(())
}

/// The static routes of a transit gateway route table: destination → the
/// attachment it goes through (`None`: a blackhole, or an attachment moto lost,
/// see the fault proxy's [`crate::fault_proxy::Rules::transit`]).
pub async fn tgw_routes(client: &Client, table: &str) -> Result<BTreeMap<String, Option<String>>> {
    let out = client
        .search_transit_gateway_routes()
        .transit_gateway_route_table_id(table)
        .filters(Filter::builder().name("type").values("static").build())
        .send()
        .await?;
    Ok(out
        .routes()
        .iter()
        .map(|route| {
            let attachment = route
                .transit_gateway_attachments()
                .first()
                .and_then(|a| a.transit_gateway_attachment_id())
                .map(str::to_string);
            let destination = route.destination_cidr_block().unwrap_or_default();
            (destination.to_string(), attachment)
        })
        .collect())
}

/// A transit gateway, a route table tagged `vip-failover:group` = `group`, and the
/// seed's VPC attached in its subnets. No route: add them with [`tgw_route_to`].
pub async fn seed_transit(client: &Client, seed: &Seed, group: &str) -> Result<TransitSeed> {
    let tgw_id = create_transit_gateway(client).await?;
    let tags = [("vip-failover:group", group)];
    let table_id = create_tgw_route_table(client, &tgw_id, &tags).await?;
    let attachment_id = attach_vpc(client, &tgw_id, &seed.vpc_id, &seed.subnets).await?;
    Ok(TransitSeed {
        tgw_id,
        table_id,
        attachment_id,
    })
}
