//! Which addresses a feed may lead to: the policy the fetcher enforces at connect time, kept apart from
//! the HTTP client so that `deploy`, which links none, can check a stack's feed list by the same rule.

use std::net::IpAddr;

/// Which addresses a fetch may connect to.
///
/// A feed is a URL anyone can give, and it may redirect anywhere: to `169.254.170.2` (where an ECS task
/// reads its role's credentials), `169.254.169.254` (instance metadata), loopback (the task's own
/// endpoints) or the private network behind it. By default none of those is connected to — checked on
/// the addresses a name resolves to, at connect time, and on every redirect — so neither a feed URL nor
/// a name that resolves there nor a redirect reaches them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrivateAddresses {
    /// Public addresses only: not loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
    /// (169.254/16, fe80::/10), shared (100.64/10), unspecified, broadcast or multicast, IPv4-mapped
    /// forms included.
    #[default]
    Refuse,
    /// Loopback too, nothing else private: a feed server on the same machine.
    AllowLoopback,
    /// Any address (`--allow-private-addresses`): feeds on the operator's own network, and tests.
    Allow,
}

impl PrivateAddresses {
    /// Whether a fetch may connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            PrivateAddresses::Allow => true,
            PrivateAddresses::AllowLoopback => ip.to_canonical().is_loopback() || is_public(ip),
            PrivateAddresses::Refuse => is_public(ip),
        }
    }
}

/// Whether `ip` is an address on the public internet (see [`PrivateAddresses::Refuse`]).
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}
