//! The AWS operations the function makes: one list, so the IAM policy in
//! `template.yaml` can be checked against the code (a unit test below) and every
//! operation has its own request-rate bucket.

use std::fmt;

/// Which API an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ec2,
    CloudWatch,
    Lambda,
    EventBridge,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ec2 => "EC2",
            Self::CloudWatch => "CloudWatch",
            Self::Lambda => "Lambda",
            Self::EventBridge => "EventBridge",
        }
    }

    /// The IAM action prefix.
    #[cfg(test)]
    pub(crate) fn iam_prefix(self) -> &'static str {
        match self {
            Self::Ec2 => "ec2",
            Self::CloudWatch => "cloudwatch",
            Self::Lambda => "lambda",
            Self::EventBridge => "events",
        }
    }
}

/// Every AWS operation the function calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    DescribeInstances,
    DescribeInstanceStatus,
    DescribeRouteTables,
    DescribeVpcs,
    CreateRoute,
    ReplaceRoute,
    CreateTags,
    ModifyNetworkInterfaceAttribute,
    DescribeAlarms,
    /// Dispatches a probe round to the in-VPC probe function (asynchronous).
    InvokeFunction,
    /// `check`: do the members' security groups let the prober in?
    DescribeSecurityGroups,
    /// The "VIP moved" event.
    PutEvents,
    /// Transit Gateway route tables tagged for a group.
    DescribeTransitGatewayRouteTables,
    /// Their static and propagated routes.
    SearchTransitGatewayRoutes,
    /// The members' VPC attachments.
    DescribeTransitGatewayVpcAttachments,
    CreateTransitGatewayRoute,
    ReplaceTransitGatewayRoute,
}

impl Op {
    /// How many operations there are.
    pub(crate) const COUNT: usize = 17;

    pub const ALL: [Op; Self::COUNT] = [
        Op::DescribeInstances,
        Op::DescribeInstanceStatus,
        Op::DescribeRouteTables,
        Op::DescribeVpcs,
        Op::CreateRoute,
        Op::ReplaceRoute,
        Op::CreateTags,
        Op::ModifyNetworkInterfaceAttribute,
        Op::DescribeAlarms,
        Op::InvokeFunction,
        Op::DescribeSecurityGroups,
        Op::PutEvents,
        Op::DescribeTransitGatewayRouteTables,
        Op::SearchTransitGatewayRoutes,
        Op::DescribeTransitGatewayVpcAttachments,
        Op::CreateTransitGatewayRoute,
        Op::ReplaceTransitGatewayRoute,
    ];

    /// Position in [`Op::ALL`]: per-operation state lives in arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::DescribeInstances => "DescribeInstances",
            Self::DescribeInstanceStatus => "DescribeInstanceStatus",
            Self::DescribeRouteTables => "DescribeRouteTables",
            Self::DescribeVpcs => "DescribeVpcs",
            Self::CreateRoute => "CreateRoute",
            Self::ReplaceRoute => "ReplaceRoute",
            Self::CreateTags => "CreateTags",
            Self::ModifyNetworkInterfaceAttribute => "ModifyNetworkInterfaceAttribute",
            Self::DescribeAlarms => "DescribeAlarms",
            Self::InvokeFunction => "InvokeFunction",
            Self::DescribeSecurityGroups => "DescribeSecurityGroups",
            Self::PutEvents => "PutEvents",
            Self::DescribeTransitGatewayRouteTables => "DescribeTransitGatewayRouteTables",
            Self::SearchTransitGatewayRoutes => "SearchTransitGatewayRoutes",
            Self::DescribeTransitGatewayVpcAttachments => "DescribeTransitGatewayVpcAttachments",
            Self::CreateTransitGatewayRoute => "CreateTransitGatewayRoute",
            Self::ReplaceTransitGatewayRoute => "ReplaceTransitGatewayRoute",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    pub fn service(self) -> Service {
        match self {
            Self::DescribeAlarms => Service::CloudWatch,
            Self::InvokeFunction => Service::Lambda,
            Self::PutEvents => Service::EventBridge,
            _ => Service::Ec2,
        }
    }

    /// `ec2:ReplaceRoute`.
    #[cfg(test)]
    pub(crate) fn iam_action(self) -> String {
        format!("{}:{}", self.service().iam_prefix(), self.name())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `ec2:Xxx` and `cloudwatch:Xxx` actions of the template: list items
    /// (`- ec2:DescribeVpcs`) and JSON `"Action"` arrays; condition keys such as
    /// `ec2:Vpc` or `ec2:ResourceTag/...` stand elsewhere.
    fn template_actions() -> BTreeSet<String> {
        let template = include_str!("../../template.yaml");
        let mut actions = BTreeSet::new();
        for line in template.lines() {
            let trimmed = line.trim();
            // A YAML list item that is one action, or a JSON "Action" array.
            let one_action = trimmed
                .strip_prefix("- ")
                .is_some_and(|item| !item.contains(char::is_whitespace) && item.contains(':'));
            if !(one_action || trimmed.starts_with("\"Action\"")) {
                continue;
            }
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '/')) {
                let Some((service, action)) = word.split_once(':') else {
                    continue;
                };
                let known = ["ec2", "cloudwatch", "lambda", "events"].contains(&service);
                let named = action
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase());
                if known && named && action.chars().all(|c| c.is_ascii_alphanumeric()) {
                    actions.insert(word.to_string());
                }
            }
        }
        actions
    }

    #[test]
    fn the_template_grants_exactly_the_operations_the_code_makes() {
        let code: BTreeSet<String> = Op::ALL.iter().map(|op| op.iam_action()).collect();
        assert_eq!(template_actions(), code);
    }

    /// The `Default:` line of a template parameter, unquoted.
    fn parameter_default(name: &str) -> String {
        let template = include_str!("../../template.yaml");
        let block = template
            .split(&format!("\n  {name}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("parameter {name} in template.yaml"));
        let line = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("Default:"))
            .unwrap_or_else(|| panic!("{name} has a default"));
        line.trim().trim_matches('"').to_string()
    }

    #[test]
    fn the_templates_defaults_are_the_codes() {
        use crate::config::DEFAULT_ALARM_NAME_PREFIX;
        use crate::tags::TagContract;
        assert_eq!(
            parameter_default("TagPrefix"),
            TagContract::default().prefix()
        );
        assert_eq!(
            parameter_default("AlarmNamePrefix"),
            DEFAULT_ALARM_NAME_PREFIX
        );
    }

    /// The text of `resource`'s block in the template, up to the next resource.
    fn resource_block(name: &str) -> String {
        let template = include_str!("../../template.yaml");
        let mut lines = template.lines().skip_while(|l| *l != format!("  {name}:"));
        let head = lines
            .next()
            .unwrap_or_else(|| panic!("{name} in template.yaml"));
        let body =
            lines.take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"));
        std::iter::once(head)
            .chain(body)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_vpc_condition_names_vpc_arns_of_this_account() {
        let template = include_str!("../../template.yaml");
        for line in template.lines().filter(|l| l.contains("ec2:Vpc")) {
            assert!(
                !line.contains("\"*/") && !line.contains("\"*/\""),
                "an ec2:Vpc pattern that is not a VPC ARN: {line}"
            );
        }
        let tagged = resource_block("TaggedRouteTablesPolicy");
        assert_eq!(
            tagged.matches("${VpcCondition}").count(),
            2,
            "both the route writes and the move record are scoped to the stack's VPCs"
        );
        assert!(tagged.contains("aws:ResourceAccount"), "{tagged}");
    }

    #[test]
    fn the_result_topic_refuses_plain_http_and_direct_subscriptions() {
        let policy = resource_block("NotificationTopicPolicy");
        assert!(policy.contains("aws:SecureTransport"), "{policy}");
        assert!(policy.contains("sns:Subscribe"), "{policy}");
        assert!(policy.contains("cloudformation.amazonaws.com"), "{policy}");
    }

    #[test]
    fn names_round_trip() {
        for (i, op) in Op::ALL.into_iter().enumerate() {
            assert_eq!(op.index(), i, "{op} is where its index says");
            assert_eq!(Op::from_name(op.name()), Some(op));
        }
        assert_eq!(Op::from_name("RunInstances"), None);
    }
}
