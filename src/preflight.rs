//! The pre-flight check: everything that would make a failover fail or black-hole
//! traffic, found before it is needed. Pure, over a group snapshot.

use serde::Serialize;

use crate::error::ConfigError;
use crate::group::Group;
use crate::plan;

/// One verdict of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Answer to the manual `check` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub group: String,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.ok)
    }
}

/// A group whose tags do not even validate fails one check: the tag contract.
pub fn invalid(group: &str, error: &ConfigError) -> CheckReport {
    CheckReport {
        group: group.to_string(),
        ok: false,
        findings: vec![Finding {
            check: "tag_contract",
            ok: false,
            detail: error.to_string(),
        }],
    }
}

/// A route table tagged for the group in a VPC other than the members'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayTable {
    pub route_table_id: String,
    pub vpc_id: String,
}

/// `stray` are route tables tagged for the group outside its VPC: the failover
/// ignores them (a route there could not reach the members), so only the
/// pre-flight reports them.
pub fn check(group: &Group, group_tag_key: &str, stray: &[StrayTable]) -> CheckReport {
    let mut findings = vec![Finding {
        check: "tag_contract",
        ok: true,
        detail: format!(
            "{} members in {}, VIPs [{}] outside the VPC CIDRs",
            group.members.len(),
            group.vpc_id,
            group
                .vips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }];
    let mut add = |check: &'static str, problems: Vec<String>, fine: String| {
        findings.push(Finding {
            check,
            ok: problems.is_empty(),
            detail: if problems.is_empty() {
                fine
            } else {
                problems.join("; ")
            },
        });
    };

    let sdc: Vec<String> = group
        .members
        .iter()
        .filter(|m| m.source_dest_check != Some(false))
        .map(|m| {
            format!(
                "ENI {} of {} has source/dest check {}; disable it: aws ec2 modify-network-interface-attribute --network-interface-id {} --no-source-dest-check",
                m.eni_id,
                m.instance_id,
                if m.source_dest_check == Some(true) { "enabled" } else { "unknown" },
                m.eni_id
            )
        })
        .collect();
    add(
        "source_dest_check",
        sdc,
        "disabled on every member ENI".to_string(),
    );

    let mut routes = Vec::new();
    if group.tables.is_empty() {
        routes.push(format!(
            "no route table holds a VIP route or is tagged {group_tag_key}={}; tag the clients' route tables",
            group.name
        ));
    }
    for table in &group.tables {
        for route in &table.routes {
            match &route.current {
                None if table.tagged => routes.push(format!(
                    "{} is tagged for the group but has no route for {}; a failover will create it, or run a reconcile",
                    table.id, route.vip
                )),
                Some(r) if r.blackhole => routes.push(format!(
                    "{} routes {} to {}, which is gone (blackhole)",
                    table.id,
                    route.vip,
                    r.target.id()
                )),
                _ => {}
            }
        }
    }
    add(
        "routes_present",
        routes,
        format!("{} route tables carry the VIP routes", group.tables.len()),
    );

    let holder = plan::holder(group);
    let agreement = match holder.active {
        Some(active) if !active.is_healthy() => vec![format!(
            "the VIP is on {}, which is unhealthy ({}); a reconcile or failover will move it",
            active.instance_id,
            plan::health_summary(active)
        )],
        Some(_) => Vec::new(),
        None if group.tables.is_empty() => Vec::new(),
        None => vec!["VIP routes disagree or point at no member; run a reconcile".to_string()],
    };
    add(
        "active_member",
        agreement,
        holder
            .active
            .map(|a| format!("{} holds the VIP and is healthy", a.instance_id))
            .unwrap_or_else(|| "no route yet".to_string()),
    );

    let standbys: Vec<&str> = group
        .members
        .iter()
        .filter(|m| m.is_healthy())
        .filter(|m| holder.active.map(|a| &a.instance_id) != Some(&m.instance_id))
        .map(|m| m.instance_id.as_str())
        .collect();
    add(
        "healthy_standby",
        if standbys.is_empty() {
            vec![
                "no healthy standby: a failure of the active member cannot be absorbed".to_string(),
            ]
        } else {
            Vec::new()
        },
        format!("healthy standbys: {}", standbys.join(", ")),
    );

    // The deployment's IAM policy only lets the function write to route tables that
    // carry the group tag (or are listed in its RouteTableIds parameter).
    let untagged: Vec<String> = group
        .tables
        .iter()
        .filter(|t| !t.tagged)
        .map(|t| {
            format!(
                "{} holds a VIP route but is not tagged {group_tag_key}; tag it or list it in the stack's RouteTableIds, or the route write is denied",
                t.id
            )
        })
        .collect();
    add(
        "iam_scope",
        untagged,
        "every route table is tagged for the group".to_string(),
    );

    let strays: Vec<String> = stray
        .iter()
        .map(|t| {
            format!(
                "{} in {} is tagged {group_tag_key}={} but the members are in {}; remove the tag or tag a table of {}",
                t.route_table_id, t.vpc_id, group.name, group.vpc_id, group.vpc_id
            )
        })
        .collect();
    findings.push(Finding {
        check: "tables_in_vpc",
        ok: strays.is_empty(),
        detail: if strays.is_empty() {
            format!(
                "every route table tagged for the group is in {}",
                group.vpc_id
            )
        } else {
            strays.join("; ")
        },
    });

    let ok = findings.iter().all(|f| f.ok);
    CheckReport {
        group: group.name.clone(),
        ok,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn verdicts(report: &CheckReport) -> Vec<(&'static str, bool)> {
        report.findings.iter().map(|f| (f.check, f.ok)).collect()
    }

    #[test]
    fn given_a_well_configured_group_then_every_check_passes() {
        let tables: Vec<_> = tables_pointing_at("i-a", 2)
            .into_iter()
            .map(|t| tagged(t, "web"))
            .collect();
        let report = check(
            &web_group(&[member("i-a", 10), member("i-b", 20)], &tables),
            "vip-failover:group",
            &[],
        );
        assert!(report.ok, "{report:?}");
        assert_eq!(report.findings.len(), 7);
    }

    #[test]
    fn given_common_mistakes_then_each_is_a_failed_check_naming_the_resource() {
        let mut b = member("i-b", 20);
        b.enis[0].source_dest_check = Some(true);
        let mut tables = tables_pointing_at("i-a", 1);
        tables.push(tagged(table("rtb-empty", vec![]), "web"));
        let group = web_group(&[impaired(member("i-a", 10)), b], &tables);

        let stray = [StrayTable {
            route_table_id: "rtb-elsewhere".to_string(),
            vpc_id: "vpc-2".to_string(),
        }];
        let report = check(&group, "vip-failover:group", &stray);

        assert!(!report.ok);
        assert_eq!(
            verdicts(&report),
            [
                ("tag_contract", true),
                ("source_dest_check", false),
                ("routes_present", false),
                ("active_member", false),
                ("healthy_standby", true),
                ("iam_scope", false),
                ("tables_in_vpc", false),
            ]
        );
        let text: String = report.problems().map(|f| f.detail.clone()).collect();
        for needle in [
            &eni_of("i-b"),
            "rtb-empty",
            "i-a",
            "rtb-1",
            "rtb-elsewhere",
            "vpc-2",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }
}
