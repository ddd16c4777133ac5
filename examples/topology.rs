//! Demo helper: seeds the README's two-AZ topology into an EC2 emulator and prints
//! route tables. Reaches the emulator through `AWS_ENDPOINT_URL`, like the Lambda.
//!
//! ```text
//! cargo run --example topology -- seed            # tables tagged for `web`; prints shell variables
//! cargo run --example topology -- routes VPC_ID   # every route of every table
//! cargo run --example topology -- stop INSTANCE_ID
//! ```

use aws_config::BehaviorVersion;
use aws_sdk_ec2::types::Filter;
use testkit::{topology, Result};

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
        _ => return Err("usage: topology seed | routes VPC_ID | stop INSTANCE_ID".into()),
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
