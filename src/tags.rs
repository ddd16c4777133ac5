//! The tag contract: how a failover group is described on EC2 resources.
//!
//! Tags live with the resources they describe, so adding a server or a route table
//! to a group needs no redeploy of the function.

/// Tag keys, all sharing one prefix (default `vip-failover:`, overridable with
/// `TAG_PREFIX` so two independent deployments can share an account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagContract {
    prefix: String,
}

/// Priority of a member that carries no priority tag: lower is preferred.
pub(crate) const DEFAULT_PRIORITY: u32 = 100;

impl Default for TagContract {
    fn default() -> Self {
        Self::new("vip-failover:")
    }
}

impl TagContract {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// On instances: the group name. On route tables: comma-separated group names
    /// whose VIP route must exist in that table.
    pub fn group(&self) -> String {
        self.key("group")
    }

    /// On instances: integer, lower is preferred.
    pub(crate) fn priority(&self) -> String {
        self.key("priority")
    }

    /// On instances: the ENI to route to, when not the one at device index 0.
    pub(crate) fn eni(&self) -> String {
        self.key("eni")
    }

    /// On instances: comma-separated VIP CIDRs (/32 or /128), equal on all members.
    pub(crate) fn vip(&self) -> String {
        self.key("vip")
    }

    /// On instances: `true` lets a recovered, better-priority member take the VIP back.
    pub(crate) fn preempt(&self) -> String {
        self.key("preempt")
    }

    /// On route tables: `<RFC 3339 time> <from>><to>` of the group's last move,
    /// one tag per group. It is the anti-flap memory of a stateless function.
    pub(crate) fn last_move(&self, group: &str) -> String {
        self.key(&format!("last-move:{group}"))
    }

    /// On instances: how the in-VPC prober checks the service, e.g. `tcp:5432`
    /// or `http:80/healthz fall=3` (see [`crate::probe`]); the same on every
    /// member. Without it the group is not probed.
    pub(crate) fn probe(&self) -> String {
        self.key("probe")
    }

    /// On instances: `true` takes the member out of candidacy for maintenance
    /// (on the holder, the VIP moves away as an operator's switchover would);
    /// removing it restores candidacy without a move.
    pub(crate) fn maintenance(&self) -> String {
        self.key("maintenance")
    }

    /// On route tables: the sealed member list of a group, comma-separated
    /// instance ids, one tag per group. Instance tags cannot add a member to a
    /// sealed group.
    pub(crate) fn members(&self, group: &str) -> String {
        self.key(&format!("members:{group}"))
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// EC2's limit on a tag key, in characters.
pub(crate) const MAX_TAG_KEY_CHARS: usize = 127;

/// Splits a comma-separated tag value, ignoring blanks and surrounding spaces.
pub(crate) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_configured_prefix() {
        let tags = TagContract::new("acme-vip/");
        assert_eq!(tags.group(), "acme-vip/group");
        assert_eq!(tags.vip(), "acme-vip/vip");
        assert_eq!(TagContract::default().priority(), "vip-failover:priority");
    }

    #[test]
    fn lists_ignore_blanks_and_spaces() {
        let items: Vec<_> = split_list(" web, ,db ,").collect();
        assert_eq!(items, ["web", "db"]);
    }
}
