//! Why a group, or one of its members, cannot be used as tagged. Each message
//! names the resources and the fix.

/// A group that contradicts itself: any move would be a guess, so nothing is
/// written until its tags agree. Each message names the resources and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no instance carries tag {tag_key}={group}; tag the group's instances or fix the group name")]
    UnknownGroup { group: String, tag_key: String },
    #[error("group {group}: {detail}; give every member the same {tag_key} tag")]
    VipMismatch {
        group: String,
        tag_key: String,
        /// Names both instances and their VIPs.
        detail: String,
    },
    #[error("group {group}: VIP {vip} is inside CIDR {cidr} of {vpc}; a VIP must lie outside the VPC's CIDRs or the VPC's local route wins; pick an address outside it")]
    VipInsideVpc {
        group: String,
        vip: String,
        vpc: String,
        cidr: String,
    },
    #[error("group {group}: members are in {first} and {second}, and no route table tells which VPC the group lives in; tag the group's route tables in its VPC with {tag_key}={group}, or remove the group tag from the instances of the other")]
    MixedVpcs {
        group: String,
        first: String,
        second: String,
        tag_key: String,
    },
    #[error("group {group}: VIP {vip} in {vpc} is also claimed by group {others}; a VIP belongs to one group per VPC, so neither acts until the {tag_key} or VIP tags agree")]
    ContestedVip {
        group: String,
        vip: String,
        vpc: String,
        others: String,
        tag_key: String,
    },
    #[error("group {group}: VIP {vip} is routed to the members of group {incumbent}, which holds it; this group is refused until its {tag_key} tags name another VIP")]
    NewcomerVip {
        group: String,
        vip: String,
        incumbent: String,
        tag_key: String,
    },
    #[error("group {group} has no usable member: {detail}")]
    NoUsableMember { group: String, detail: String },
    #[error("group name {group:?} is too long: the function's tag key {key} would have {len} characters, and EC2 allows {max}; shorten the group name (or the TAG_PREFIX)")]
    GroupNameTooLong {
        group: String,
        key: String,
        len: usize,
        max: usize,
    },
}

/// Why one tagged instance cannot be a member. The group still acts; the
/// instance counts as failed and is named in the warnings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MemberError {
    #[error("instance {instance} has {tag_key}={value:?}, which is not a non-negative integer; set it to e.g. 10 (lower is preferred)")]
    InvalidPriority {
        instance: String,
        tag_key: String,
        value: String,
    },
    #[error("instance {instance} has no {tag_key} tag; set it to the group's VIP, e.g. 192.168.100.10/32")]
    MissingVip { instance: String, tag_key: String },
    #[error("instance {instance} has {tag_key}={value:?}: {reason}")]
    InvalidVip {
        instance: String,
        tag_key: String,
        value: String,
        reason: String,
    },
    #[error("instance {instance} ({state}) is in no VPC; only VPC instances can hold a VIP route")]
    NoVpc {
        instance: String,
        state: &'static str,
    },
    #[error("instance {instance} is in {vpc}, not in the group's {group_vpc} (where its route tables are); remove its group tag, or move it")]
    OtherVpc {
        instance: String,
        vpc: String,
        group_vpc: String,
    },
    #[error("instance {instance} has {tag_key}={eni} but that ENI is not attached to it; attach it or fix the tag")]
    EniNotAttached {
        instance: String,
        tag_key: String,
        eni: String,
    },
    #[error("instance {instance}: ENI {eni} is in {vpc}, not in the group's {group_vpc}; a route can only target an ENI of its own VPC")]
    EniInOtherVpc {
        instance: String,
        eni: String,
        vpc: String,
        group_vpc: String,
    },
    #[error("instance {instance} has no network interface at device index 0; set {tag_key} to the ENI that should receive the VIP")]
    NoEni { instance: String, tag_key: String },
    #[error("instance {instance} has {tag_key}=[{vips}] but the group's route tables carry [{group_vips}]; set it to the group's VIPs, or retag every member together")]
    VipDissent {
        instance: String,
        tag_key: String,
        vips: String,
        group_vips: String,
    },
    #[error("instance {instance} is tagged for the group but is not in its sealed member list ({sources}); add it there to make it a member")]
    NotSealed { instance: String, sources: String },
    #[error("instance {instance} has {tag_key}={value:?}; use true (in maintenance: not a candidate) or false")]
    InvalidMaintenance {
        instance: String,
        tag_key: String,
        value: String,
    },
    #[error("instance {instance} has {tag_key}={value:?}; use true or false")]
    InvalidPreempt {
        instance: String,
        tag_key: String,
        value: String,
    },
}
