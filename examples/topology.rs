//! Demo helper: seeds the README's two-AZ topology into an EC2 emulator and prints
//! route tables. Reaches the emulator through `AWS_ENDPOINT_URL`, like the Lambda.
//!
//! ```text
//! cargo run --example topology -- seed            # tables tagged for `web`; prints shell variables
//! cargo run --example topology -- routes VPC_ID   # every route of every table
//! cargo run --example topology -- stop INSTANCE_ID
//! cargo run --example topology -- transit-proxy 127.0.0.1:PORT   # until killed
//! cargo run --example topology -- transit-seed VPC_ID blackhole|missing
//! cargo run --example topology -- tgw-route TGW_ROUTE_TABLE_ID
//! ```
//!
//! The Transit Gateway commands are for `make demo-network`'s on-premises client.
//! moto loses a static Transit Gateway route's attachment in its answers and has
//! no `ReplaceTransitGatewayRoute`: `transit-proxy` runs the test kit's fault
//! proxy with its Transit Gateway emulation in front of the emulator at
//! `HOST:PORT` (no faults) and prints `AWS_ENDPOINT_URL=...` for everything
//! else (the seeding, the function, the followers) to go through it.
//! `transit-seed` creates a Transit Gateway, a route table of it tagged
//! `vip-failover:group=web`, and attaches the VPC in its subnets; the table's
//! VIP route starts blackholed or missing, for the function to repair. It prints
//! shell variables. `tgw-route` prints where the table's VIP static route
//! points: an attachment id, `blackhole` or `missing`.

use std::io::Write;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::types::Filter;
use testkit::fault_proxy::{FaultProxy, Rules};
use testkit::{topology, Result};

/// What `transit-proxy` runs for, should nobody stop it.
const PROXY_MAX: std::time::Duration = std::time::Duration::from_secs(3600);

#[tokio::main]
async fn main() -> Result<()> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_ec2::Client::new(&config);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["seed"] => {
            let seed = topology::seed_two_az(&client).await?;
            // As the template requires: the function may write only tables
            // tagged for a group (or listed in the stack).
            client
                .create_tags()
                .set_resources(Some(seed.tables.clone()))
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("vip-failover:group")
                        .value(topology::GROUP)
                        .build(),
                )
                .send()
                .await?;
            println!("VPC_ID={}", seed.vpc_id);
            println!("SERVER_A={}", seed.server_a.instance_id);
            println!("SERVER_A_ENI={}", seed.server_a.eni_id);
            println!("SERVER_B={}", seed.server_b.instance_id);
            println!("SERVER_B_ENI={}", seed.server_b.eni_id);
            println!("TABLES=\"{}\"", seed.tables.join(" "));
        }
        ["routes", vpc] => print_routes(&client, vpc).await?,
        ["stop", instance] => topology::stop(&client, instance).await?,
        ["transit-proxy", upstream] => transit_proxy(upstream).await?,
        ["transit-seed", vpc, start] => transit_seed(&client, vpc, start).await?,
        ["tgw-route", table] => println!("{}", tgw_route(&client, table).await?),
        _ => {
            return Err("usage: topology seed | routes VPC_ID | stop INSTANCE_ID | \
                        transit-proxy HOST:PORT | transit-seed VPC_ID blackhole|missing | \
                        tgw-route TGW_ROUTE_TABLE_ID"
                .into())
        }
    }
    Ok(())
}

/// One line per route, the VIP route marked, with the instance behind each ENI.
async fn print_routes(client: &aws_sdk_ec2::Client, vpc: &str) -> Result<()> {
    let instances = client.describe_instances().send().await?;
    let mut owners = std::collections::HashMap::new();
    for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
        let name = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .unwrap_or("?");
        for eni in instance.network_interfaces() {
            if let Some(id) = eni.network_interface_id() {
                owners.insert(id.to_string(), name.to_string());
            }
        }
    }
    let tables = client
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await?;
    for table in tables.route_tables() {
        let name = table
            .tags()
            .iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .unwrap_or("main");
        println!("  {} ({name})", table.route_table_id().unwrap_or("?"));
        for route in table.routes() {
            let dest = route
                .destination_cidr_block()
                .or(route.destination_ipv6_cidr_block())
                .unwrap_or("?");
            let target = route
                .network_interface_id()
                .or(route.gateway_id())
                .or(route.instance_id())
                .unwrap_or("?");
            let owner = owners
                .get(target)
                .map(|o| format!(" ({o})"))
                .unwrap_or_default();
            let mark = if dest == topology::VIP {
                "  <- VIP"
            } else {
                ""
            };
            println!("      {dest:<18} -> {target}{owner}{mark}");
        }
    }
    Ok(())
}

/// The fault proxy with only its Transit Gateway emulation, in front of the
/// emulator at `upstream`; prints its endpoint, then serves until killed.
async fn transit_proxy(upstream: &str) -> Result<()> {
    let rules = Rules {
        transit: true,
        ..Rules::default()
    };
    let proxy = FaultProxy::start(upstream, rules).await;
    println!("AWS_ENDPOINT_URL={}", proxy.url());
    std::io::stdout().flush()?;
    tokio::time::sleep(PROXY_MAX).await;
    Ok(())
}

/// A Transit Gateway, its route table tagged for the group (`Name=onprem`), the
/// VPC attached in each of its subnets; the VIP route `blackhole` or `missing`.
async fn transit_seed(client: &aws_sdk_ec2::Client, vpc: &str, start: &str) -> Result<()> {
    if !["blackhole", "missing"].contains(&start) {
        return Err(format!("transit-seed: {start:?}: want blackhole or missing").into());
    }
    let subnets = client
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await?;
    let mut subnets: Vec<String> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    let tgw = topology::create_transit_gateway(client).await?;
    let tags = [("Name", "onprem"), ("vip-failover:group", topology::GROUP)];
    let table = topology::create_tgw_route_table(client, &tgw, &tags).await?;
    let attachment = topology::attach_vpc(client, &tgw, vpc, &subnets).await?;
    if start == "blackhole" {
        topology::tgw_blackhole_route(client, &table, topology::VIP).await?;
    }
    println!("TGW_ID={tgw}");
    println!("TGW_TABLE={table}");
    println!("TGW_ATTACHMENT={attachment}");
    println!("TGW_SUBNETS=\"{}\"", subnets.join(" "));
    Ok(())
}

/// Where `table`'s VIP static route points: its attachment, `blackhole`, or
/// `missing`.
async fn tgw_route(client: &aws_sdk_ec2::Client, table: &str) -> Result<String> {
    let routes = topology::tgw_routes(client, table).await?;
    Ok(match routes.get(topology::VIP) {
        Some(Some(attachment)) => attachment.clone(),
        Some(None) => "blackhole".to_string(),
        None => "missing".to_string(),
    })
}
