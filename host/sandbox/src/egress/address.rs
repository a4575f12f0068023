//! Which addresses the egress proxy refuses to connect to unless an
//! allow-list entry names them literally: the host's own services
//! (loopback, every address of the host's interfaces), private and shared
//! networks, link-local (cloud metadata lives there), and addresses that
//! are no real destination (unspecified, multicast, broadcast, reserved,
//! documentation). IPv6 forms that carry an IPv4 address (mapped,
//! NAT64, 6to4) are judged by the IPv4 address they carry.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not a destination on the internet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forbidden {
    /// 127.0.0.0/8, ::1: the host itself.
    Loopback,
    /// An address of one of the host's own interfaces.
    HostAddress,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) or unique local fc00::/7.
    Private,
    /// Carrier-grade NAT, 100.64.0.0/10.
    SharedNat,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// A cloud metadata service (169.254.169.254, fd00:ec2::254, …).
    Metadata,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// Reserved or special-purpose (240/4, 192.0.0/24, 198.18/15,
    /// documentation ranges, deprecated IPv6 forms, …).
    Reserved,
}

impl Forbidden {
    /// How a refusal names it.
    pub fn describe(self) -> &'static str {
        match self {
            Forbidden::Loopback => "a loopback address (the host's own services)",
            Forbidden::HostAddress => "an address of the Paddock host itself",
            Forbidden::Private => "a private network address",
            Forbidden::SharedNat => "a carrier-grade NAT address (100.64.0.0/10)",
            Forbidden::LinkLocal => "a link-local address",
            Forbidden::Metadata => "a cloud metadata service address",
            Forbidden::Unspecified => "the unspecified address",
            Forbidden::Multicast => "a multicast address",
            Forbidden::Broadcast => "the broadcast address",
            Forbidden::Reserved => "a reserved or special-purpose address",
        }
    }
}

/// Metadata services reached by IP (AWS, GCP, Azure, OpenStack:
/// 169.254.169.254; AWS IPv6: fd00:ec2::254; Alibaba: 100.100.100.200;
/// Oracle: 192.0.0.192).
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// Why `ip` is forbidden, or None when it is an ordinary internet address.
/// `host` holds the host's own interface addresses ([`host_addresses`]).
pub fn classify(ip: IpAddr, host: &BTreeSet<IpAddr>) -> Option<Forbidden> {
    let ip = canonical(ip);
    if host.contains(&ip) {
        return Some(if ip.is_loopback() {
            Forbidden::Loopback
        } else {
            Forbidden::HostAddress
        });
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// An IPv6 address that carries an IPv4 one (mapped `::ffff:a.b.c.d`,
/// NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) as that IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return IpAddr::V4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    ip
}

fn classify_v4(ip: Ipv4Addr) -> Option<Forbidden> {
    let o = ip.octets();
    if METADATA_V4.contains(&ip) {
        return Some(Forbidden::Metadata);
    }
    if ip.is_loopback() {
        return Some(Forbidden::Loopback);
    }
    if o[0] == 0 {
        return Some(Forbidden::Unspecified);
    }
    if ip.is_private() {
        return Some(Forbidden::Private);
    }
    if o[0] == 100 && (o[1] & 0xc0) == 64 {
        return Some(Forbidden::SharedNat);
    }
    if ip.is_link_local() {
        return Some(Forbidden::LinkLocal);
    }
    if ip.is_broadcast() {
        return Some(Forbidden::Broadcast);
    }
    if ip.is_multicast() {
        return Some(Forbidden::Multicast);
    }
    let reserved = o[0] >= 240 // 240/4, future use
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 192 && o[1] == 0 && o[2] == 2) // TEST-NET-1
        || (o[0] == 198 && o[1] == 51 && o[2] == 100) // TEST-NET-2
        || (o[0] == 203 && o[1] == 0 && o[2] == 113) // TEST-NET-3
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || (o[0] == 192 && o[1] == 88 && o[2] == 99); // 6to4 relay anycast
    reserved.then_some(Forbidden::Reserved)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Forbidden> {
    let s = ip.segments();
    if METADATA_V6.contains(&ip) {
        return Some(Forbidden::Metadata);
    }
    if ip.is_loopback() {
        return Some(Forbidden::Loopback);
    }
    if ip.is_unspecified() {
        return Some(Forbidden::Unspecified);
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return Some(Forbidden::Private);
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some(Forbidden::LinkLocal);
    }
    if (s[0] & 0xff00) == 0xff00 {
        return Some(Forbidden::Multicast);
    }
    let reserved = (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation (RFC 9637)
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: tunnels to anywhere
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
        || s[0..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1); // local NAT64
    reserved.then_some(Forbidden::Reserved)
}

/// Every address of the host's interfaces (loopback ones included), read
/// now: a connection to one of them from the host reaches the host.
pub fn host_addresses() -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return out;
    }
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned; its
        // address, when not null, is a sockaddr_in for AF_INET and a
        // sockaddr_in6 for AF_INET6.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                        out.insert(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*ifa.ifa_addr.cast::<libc::sockaddr_in6>();
                        out.insert(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<Forbidden> {
        classify(s.parse().unwrap(), &BTreeSet::new())
    }

    #[test]
    fn internet_addresses_pass() {
        for ok in [
            "1.1.1.1",
            "93.184.216.34",
            "151.101.0.223",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "100.128.0.1",
            "172.32.0.1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(c(ok), None, "{ok}");
        }
    }

    #[test]
    fn the_host_private_and_special_addresses_are_refused() {
        use Forbidden::*;
        for (ip, why) in [
            ("127.0.0.1", Loopback),
            ("127.1.2.3", Loopback),
            ("::1", Loopback),
            ("10.0.0.1", Private),
            ("172.16.5.4", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("100.64.0.1", SharedNat),
            ("100.127.255.254", SharedNat),
            ("169.254.1.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("169.254.169.254", Metadata),
            ("fd00:ec2::254", Metadata),
            ("100.100.100.200", Metadata),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("::", Unspecified),
            ("224.0.0.1", Multicast),
            ("ff02::1", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("192.0.2.10", Reserved),
            ("198.51.100.1", Reserved),
            ("203.0.113.5", Reserved),
            ("198.18.0.1", Reserved),
            ("2001:db8::1", Reserved),
            ("2001::1", Reserved),
            ("::127.0.0.1", Reserved),
            // IPv4 carried in IPv6 is judged as IPv4.
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:169.254.169.254", Metadata),
            ("64:ff9b::10.0.0.1", Private),
            ("2002:7f00:1::", Loopback),
            ("2002:a9fe:a9fe::1", Metadata),
        ] {
            assert_eq!(c(ip), Some(why), "{ip}");
        }
    }

    #[test]
    fn the_hosts_own_addresses_are_refused() {
        let mut host = BTreeSet::new();
        host.insert("93.184.216.34".parse().unwrap());
        assert_eq!(
            classify("93.184.216.34".parse().unwrap(), &host),
            Some(Forbidden::HostAddress)
        );
        assert_eq!(
            classify("::ffff:93.184.216.34".parse().unwrap(), &host),
            Some(Forbidden::HostAddress)
        );
        let real = host_addresses();
        assert!(
            real.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "getifaddrs lists loopback: {real:?}"
        );
    }
}
