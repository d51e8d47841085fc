//! Addresses that identify a person's device: IP and MAC addresses.

use super::{Builtin, Gate, RULE};

pub const DETECTORS: &[Builtin] = &[
    Builtin {
        name: "ipv4",
        anchors: &["."],
        gate: Gate {
            digits: 4,
            dots: 3,
            ..Gate::NONE
        },
        // Dotted numbers of any length are taken whole, so an OID
        // (`1.3.6.1.4.1`) or a five-part version is not read as an address.
        pattern: r"(?-u:\b)[0-9]{1,3}(?:\.[0-9]{1,10}){3,}(?-u:\b)",
        check: Some(ipv4),
        context: Some(super::not_a_version),
        about: "IPv4 dotted quads (RFC 791); not after a version word (`version 15.8.21.101`) or under a `*version` key",
        example: "client 203.0.113.42 connected",
        not: "upgraded to version 15.8.21.101, oid 1.3.6.1.4.1",
        ..RULE
    },
    Builtin {
        name: "ipv6",
        anchors: &[":"],
        gate: Gate {
            colons: 2,
            ..Gate::NONE
        },
        // Not inside a word or a `::`-joined name (`arn:aws:iam::1234`,
        // `boost::asio`), and three groups at least (`::1` is no one's).
        pattern: r"(?i)(?:^|[^0-9a-z:_])(?P<secret>(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?|::(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})(?:$|[^0-9a-z:_])",
        check: Some(ipv6),
        about: "IPv6 addresses, full or compressed (RFC 4291, RFC 5952), confirmed by a real parse",
        example: "from 2001:db8::8a2e:370:7334",
        not: "at 12:30:45 in boost::asio::profile, arn:aws:iam::230071761865:role/x",
        ..RULE
    },
    Builtin {
        name: "mac_address",
        anchors: &[":", "-"],
        gate: Gate {
            digits: 1,
            colons: 5,
            ..Gate::NONE
        },
        pattern: r"(?i)(?-u:\b)(?:[0-9a-f]{2}(?::[0-9a-f]{2}){5}|[0-9a-f]{2}(?:-[0-9a-f]{2}){5})(?-u:\b)",
        about: "MAC (EUI-48) addresses with colons or dashes (IEEE 802)",
        example: "device 00:1A:2B:3C:4D:5E joined",
        not: "time 12:30:45:00",
        ..RULE
    },
    Builtin {
        name: "mac_address_dotted",
        anchors: &["."],
        gate: Gate {
            dots: 2,
            word: 4,
            ..Gate::NONE
        },
        pattern: r"(?i)(?-u:\b)[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?-u:\b)",
        about: "MAC (EUI-48) addresses in Cisco's dotted groups of four",
        example: "port learned ba9e.29d3.6c19",
        not: "file data.json.gz",
        ..RULE
    },
];

fn ipv4(text: &str) -> bool {
    text.parse::<std::net::Ipv4Addr>().is_ok()
}

fn ipv6(text: &str) -> bool {
    let groups = text.split(':').filter(|g| !g.is_empty()).count();
    groups >= 3 && text.parse::<std::net::Ipv6Addr>().is_ok()
}
