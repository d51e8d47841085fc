//! Addresses that identify a person's device: IP and MAC addresses.

use super::{Builtin, Gate, RULE};

pub const DETECTORS: &[Builtin] = &[
    Builtin {
        name: "ipv4",
        anchors: &["."],
        gate: Gate { digits: 4, word: 0 },
        pattern: r"(?-u:\b)(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?-u:\b)",
        context: Some(super::not_a_version),
        about: "IPv4 dotted quads (RFC 791); not after a version word (`version 15.8.21.101`) or under a `*version` key",
        example: "client 203.0.113.42 connected",
        not: "upgraded to version 15.8.21.101",
        ..RULE
    },
    Builtin {
        name: "ipv6",
        anchors: &[":"],
        pattern: r"(?i)(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?|::(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4}",
        check: Some(ipv6),
        about: "IPv6 addresses, full or compressed (RFC 4291, RFC 5952), confirmed by a real parse",
        example: "from 2001:db8::8a2e:370:7334",
        not: "at 12:30:45",
        ..RULE
    },
    Builtin {
        name: "mac_address",
        anchors: &[":", "-", "."],
        gate: Gate { digits: 1, word: 0 },
        pattern: r"(?i)(?-u:\b)(?:[0-9a-f]{2}(?::[0-9a-f]{2}){5}|[0-9a-f]{2}(?:-[0-9a-f]{2}){5}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})(?-u:\b)",
        about: "MAC (EUI-48) addresses with colons, dashes (IEEE 802) or Cisco's dotted groups of four",
        example: "device 00:1A:2B:3C:4D:5E joined",
        not: "time 12:30:45:00",
        ..RULE
    },
];

fn ipv6(text: &str) -> bool {
    text.parse::<std::net::Ipv6Addr>().is_ok()
}
