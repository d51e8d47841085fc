//! Value detectors: each a name, a pattern and, where a pattern alone would
//! catch look-alikes, a check (Luhn for card numbers, mod-97 for IBANs, a
//! real parse for IPv6), so order numbers and version strings survive.
//!
//! Digits and word boundaries are ASCII (`[0-9]`, `(?-u:\b)`): the checks
//! read ASCII digits only, and Unicode classes more than doubled the memory
//! the compiled detectors take (anonymous RSS 5.7 → 2.6 MiB once ASCII) and
//! slowed every scan by a tenth.

/// A built-in detector.
pub struct Builtin {
    pub name: &'static str,
    pub pattern: &'static str,
    pub check: Option<fn(&str) -> bool>,
    /// Whether the words just before a match can clear it (an
    /// IPv4-shaped version number after "version", "build", ...).
    pub context: Option<fn(&str) -> bool>,
}

/// The stems a key must contain for `key_value` to look at it (the blocked
/// words, loosely, so `api_key`, `x-api-key` and `apiKey` all qualify);
/// the blocked-key list itself then decides. Configured extra blocked keys
/// are added at build time.
pub const KEY_STEMS: &str =
    "pass|pwd|secret|token|key|auth|cookie|session|credential|signature|connection";

/// Placeholder in the `key_value` pattern for the stems.
pub const STEMS: &str = "{stems}";

pub const BUILTIN: &[Builtin] = &[
    Builtin {
        // `key=value`, `key: value`, `"key": "value"`, `key='value'`, URL
        // query and form parameters, header lines, cookie lists, inside any
        // text: the value of a blocked key is redacted, the key kept.
        name: "key_value",
        // An auth scheme and its credential count as one value
        // (`Authorization: Bearer …`); otherwise a value ends at a space.
        pattern: r#"(?i)(?P<key>[A-Za-z0-9_.-]*(?:{stems})[A-Za-z0-9_.-]*)(?P<sep>["']?\s*[:=]\s*)(?P<secret>(?:bearer|basic|digest|token|negotiate|apikey)[ \t]+[A-Za-z0-9._~+/=-]+|"[^"]*"|'[^']*'|[^\s&;,"'<>]+)"#,
        check: None,
        context: None,
    },
    Builtin {
        name: "private_key",
        pattern: r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        check: None,
        context: None,
    },
    Builtin {
        name: "jwt",
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}",
        check: None,
        context: None,
    },
    Builtin {
        name: "bearer",
        pattern: r"(?i)(?-u:\b)(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}",
        check: None,
        context: None,
    },
    Builtin {
        name: "aws_access_key",
        pattern: r"(?-u:\b)(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?-u:\b)",
        check: None,
        context: None,
    },
    Builtin {
        name: "aws_secret_key",
        pattern: r"(?i)(?-u:\b)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)(?-u:\b)\s*[:=]\s*['\x22]?[A-Za-z0-9/+]{40}",
        check: None,
        context: None,
    },
    Builtin {
        name: "vendor_token",
        pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[baprs]-[A-Za-z0-9-]{10,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|xapp-[0-9]-[A-Za-z0-9-]{10,})(?-u:\b)",
        check: None,
        context: None,
    },
    Builtin {
        // Slack, Discord and Microsoft Teams incoming webhooks: the URL is the credential.
        name: "webhook_url",
        pattern: r"https://(?:hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}|(?:discord(?:app)?\.com)/api/webhooks/[0-9]{5,}/[A-Za-z0-9_-]{20,}|[a-z0-9-]+\.webhook\.office\.com/[A-Za-z0-9/@_-]{20,})",
        check: None,
        context: None,
    },
    Builtin {
        name: "email",
        pattern: r"(?-u:\b)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?-u:\b)",
        check: None,
        context: None,
    },
    Builtin {
        name: "credit_card",
        pattern: r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
        check: Some(luhn),
        context: None,
    },
    Builtin {
        name: "iban",
        pattern: r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
        check: Some(iban),
        context: None,
    },
    Builtin {
        name: "us_ssn",
        pattern: r"(?-u:\b)[0-9]{3}[-. ][0-9]{2}[-. ][0-9]{4}(?-u:\b)",
        check: Some(ssn),
        context: None,
    },
    Builtin {
        name: "phone",
        // E.164 with any grouping (`+44 7911 123456`, `+81 90-1234-5678`,
        // `+1 (415) 555-0100`), and North American national numbers.
        pattern: r"(?:\+[1-9](?:[ .()-]{0,2}[0-9]){7,14}(?-u:\b)|\([0-9]{3}\)\s?[0-9]{3}[-. ][0-9]{4}(?-u:\b)|(?-u:\b)[0-9]{3}[-. ][0-9]{3}[-. ][0-9]{4}(?-u:\b))",
        check: None,
        context: None,
    },
    Builtin {
        name: "ipv4",
        pattern: r"(?-u:\b)(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?-u:\b)",
        check: None,
        context: Some(not_a_version),
    },
    Builtin {
        name: "ipv6",
        pattern: r"(?i)(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?|::(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4}",
        check: Some(ipv6),
        context: None,
    },
];

fn digits(text: &str) -> Vec<u32> {
    text.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// Payment card numbers: 13–19 digits passing the Luhn check.
pub fn luhn(text: &str) -> bool {
    let digits = digits(text);
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// IBANs: the ISO 13616 mod-97 check.
pub fn iban(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c.to_digit(36) {
            Some(v) => v as u64,
            None => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// US social security numbers, in any separator form: no 000/666/9xx
/// area, 00 group or 0000 serial, one separator throughout.
pub fn ssn(text: &str) -> bool {
    let separator = text.as_bytes()[3] as char;
    let parts: Vec<&str> = text.split(separator).collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    *area != "000"
        && *area != "666"
        && !area.starts_with('9')
        && *group != "00"
        && *serial != "0000"
}

/// Whether the word before an IPv4-shaped match leaves it an address: it
/// is a version after `version`, `build`, `release`, ... or under a key whose
/// last segment ends in `version` (`service.version`).
fn not_a_version(before: &str) -> bool {
    let word = before
        .trim_end_matches(|c: char| c.is_whitespace() || c == ':' || c == '=' || c == '"')
        .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let last = word.rsplit('.').next().unwrap_or_default();
    let version_word = ["version", "ver", "build", "release", "firmware", "kernel"].contains(&last);
    !(version_word || last.ends_with("version") || last.ends_with("_ver"))
}

fn ipv6(text: &str) -> bool {
    text.parse::<std::net::Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("5500-0000-0000-0004"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(!luhn("1234567890123456"));
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(iban("DE89370400440532013000"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33"));
        assert!(ssn("123-45-6789") && ssn("123 45 6789") && ssn("123.45.6789"));
        assert!(!ssn("123-45 6789"));
        assert!(!not_a_version("upgraded to version ") && !not_a_version("service.version="));
        assert!(not_a_version("client ") && not_a_version("from "));
        assert!(
            not_a_version("agent ") && not_a_version("sdk "),
            "addresses after these"
        );
        assert!(!ssn("000-45-6789") && !ssn("666-45-6789") && !ssn("900-45-6789"));
        assert!(ipv6("2001:db8::1") && !ipv6("12:30::45::1"));
    }
}
