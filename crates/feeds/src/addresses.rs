//! Which addresses a feed may lead to: the policy the fetcher enforces at connect time, kept apart from
//! the HTTP client so that `deploy`, which links none, can check a stack's feed list by the same rule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::IpNet;

/// Which addresses a fetch may connect to.
///
/// A feed is a URL anyone can give, and it may redirect anywhere: to `169.254.170.2` (where an ECS task
/// reads its role's credentials), `169.254.169.254` (instance metadata), loopback (the task's own
/// endpoints) or the private network behind it. By default none of those is connected to — checked on
/// the addresses a name resolves to, at connect time, on every redirect, and before a request goes to a
/// proxy — so neither a feed URL nor a name that resolves there nor a redirect reaches them.
///
/// An operator with feeds on its own network allows just those networks (`--allow-private-network
/// 10.20.0.0/16`, repeatable): the rest stays refused, the credentials endpoint included.
/// `--allow-private-addresses` allows everything, for tests and trusted networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivateAddresses {
    /// Every address allowed.
    all: bool,
    /// Non-public networks allowed all the same.
    networks: Vec<IpNet>,
}

impl PrivateAddresses {
    /// Public addresses only (see [`is_public`]).
    pub fn refuse() -> Self {
        Self::default()
    }

    /// Any address: feeds on the operator's own network, and tests.
    pub fn allow_all() -> Self {
        Self { all: true, networks: Vec::new() }
    }

    /// Public addresses and the `networks` given.
    pub fn allowing(networks: Vec<IpNet>) -> Self {
        Self { all: false, networks }
    }

    /// Public addresses and loopback: a feed server on the same machine.
    pub fn allow_loopback() -> Self {
        Self::allowing(vec!["127.0.0.0/8".parse().expect("a network"), "::1/128".parse().expect("a network")])
    }

    /// Whether a fetch may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.all || is_public(ip) || self.networks.iter().any(|network| network.contains(&canonical))
    }
}

/// Whether `ip` is an address on the public internet: not loopback, private (10/8, 172.16/12, 192.168/16,
/// fc00::/7), link-local (169.254/16, fe80::/10), shared (100.64/10), reserved (0/8, 240/4 and broadcast,
/// 192.0.0/24, the benchmarking 198.18/15, the documentation ranges, fec0::/10, 2001:db8::/32, 100::/64),
/// unspecified or multicast. An IPv6 address that carries an IPv4 one — mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`), 6to4 (`2002::/16`) — is judged by
/// the IPv4 address it leads to; Teredo (`2001::/32`) hides its address and is refused whole.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || a == 0
        || a >= 240 // 240/4, reserved, and 255.255.255.255
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF protocol assignments, TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)) // TEST-NET-3
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let segments = v6.segments();
    let first = segments[0];
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some)
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || (first == 0x2001 && segments[1] == 0) // Teredo: the address it leads to is hidden
        || segments[..4] == [0x0100, 0, 0, 0]) // discard-only
}

/// The IPv4 address an IPv6 one leads to, for the forms that carry one.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        // IPv4-mapped and IPv4-compatible (deprecated, but an OS may still route it as IPv4).
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0, 0, 0, 0, 0, 0, high, low] if v6 != Ipv6Addr::LOCALHOST => {
            Some(v4(high, low))
        }
        // NAT64, the well-known prefix and the local-use one (RFC 6052, RFC 8215).
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] | [0x64, 0xff9b, 1, _, _, _, high, low] => Some(v4(high, low)),
        // 6to4: the IPv4 address follows the prefix.
        [0x2002, high, low, ..] => Some(v4(high, low)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_refused_in_every_form() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.170.2",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "203.0.113.9",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "2001:db8::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
        ];
        for ip in refused {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!PrivateAddresses::refuse().allows(ip), "{ip} allowed");
            assert!(PrivateAddresses::allow_all().allows(ip), "{ip}");
        }
        let public = [
            "93.184.215.14",
            "128.84.21.199",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "64:ff9b::5db8:d70e",
            "2002:5db8:d70e::1",
            "::ffff:93.184.215.14",
        ];
        for ip in public {
            assert!(PrivateAddresses::refuse().allows(ip.parse().unwrap()), "{ip} refused");
        }
    }

    #[test]
    fn an_allowance_is_as_narrow_as_its_networks() {
        let loopback = PrivateAddresses::allow_loopback();
        assert!(loopback.allows("127.0.0.1".parse().unwrap()));
        assert!(loopback.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!loopback.allows("169.254.170.2".parse().unwrap()));
        let office = PrivateAddresses::allowing(vec!["10.20.0.0/16".parse().unwrap()]);
        assert!(office.allows("10.20.3.4".parse().unwrap()));
        for ip in ["10.21.0.1", "169.254.170.2", "127.0.0.1"] {
            assert!(!office.allows(ip.parse().unwrap()), "{ip}");
        }
    }
}
