//! The built-in detectors, by family: each a name, the literals every
//! match holds (the prefilter's anchors), a pattern, and, where a pattern
//! alone would catch look-alikes, a validator (`../checks.rs`) or a look
//! at the words before it. REDACTION.md lists them with their sources.
//!
//! Digits and word boundaries are ASCII (`[0-9]`, `(?-u:\b)`): validators
//! read ASCII digits only, and Unicode classes more than doubled the memory
//! the compiled detectors take and slowed every scan by a tenth.

mod credentials;
mod network;
mod numbers;
mod personal;
mod tokens;

/// What a string must have for a detector without anchors to be tried:
/// counts from one pass over its bytes (`engine::Shape`).
#[derive(Clone, Copy, Debug)]
pub struct Gate {
    /// ASCII digits in the whole string.
    pub digits: u32,
    /// The longest run of `[A-Za-z0-9_-]`.
    pub word: u32,
    /// `.` in the whole string.
    pub dots: u32,
    /// `:` and `-` in the whole string.
    pub colons: u32,
}

impl Gate {
    pub const NONE: Gate = Gate {
        digits: 0,
        word: 0,
        dots: 0,
        colons: 0,
    };

    /// At least `n` digits.
    pub const fn digits(n: u32) -> Gate {
        Gate {
            digits: n,
            ..Gate::NONE
        }
    }

    /// A run of at least `n` token characters.
    pub const fn word(n: u32) -> Gate {
        Gate {
            word: n,
            ..Gate::NONE
        }
    }
}

/// A built-in detector.
pub struct Builtin {
    pub name: &'static str,
    /// Literals (ASCII case-insensitive) one of which every match holds:
    /// the pattern runs only on strings holding one. Empty: the gate alone
    /// decides.
    pub anchors: &'static [&'static str],
    pub gate: Gate,
    /// A `secret` group, when present, is what is redacted (the key and
    /// separator before it stay readable); otherwise the whole match.
    pub pattern: &'static str,
    /// Judges what was found (the `secret` group or the match).
    pub check: Option<fn(&str) -> bool>,
    /// Judges the words just before the match (and the attribute's key at
    /// the start of a value): `false` clears it, as "version" does an
    /// IPv4-shaped number.
    pub context: Option<fn(&str) -> bool>,
    /// The pattern's `key` group is judged by the blocked-key list.
    pub blocked_key: bool,
    /// A number that must stand alone: not a group of a longer digit
    /// sequence (`1 27 01 47 …`), not part of a dashed id (ISBN
    /// `979-0992…-5`, `ORD-2024-…`).
    pub standalone: bool,
    /// Format and source, for REDACTION.md.
    pub about: &'static str,
    /// A text it must find, and one it must leave (tested).
    pub example: &'static str,
    pub not: &'static str,
}

/// The fields most detectors leave at their defaults.
pub const RULE: Builtin = Builtin {
    name: "",
    anchors: &[],
    gate: Gate::NONE,
    pattern: "",
    check: None,
    context: None,
    blocked_key: false,
    standalone: false,
    about: "",
    example: "",
    not: "",
};

pub struct Family {
    pub name: &'static str,
    pub detectors: &'static [Builtin],
}

pub const FAMILIES: &[Family] = &[
    Family {
        name: "personal",
        detectors: personal::DETECTORS,
    },
    Family {
        name: "national_id",
        detectors: numbers::NATIONAL_IDS,
    },
    Family {
        name: "financial",
        detectors: numbers::FINANCIAL,
    },
    Family {
        name: "crypto",
        detectors: numbers::CRYPTO,
    },
    Family {
        name: "network",
        detectors: network::DETECTORS,
    },
    Family {
        name: "token",
        detectors: tokens::DETECTORS,
    },
    Family {
        name: "cloud",
        detectors: tokens::CLOUD,
    },
    Family {
        name: "credentials",
        detectors: credentials::DETECTORS,
    },
];

/// Every built-in detector with its family's name.
pub fn all() -> impl Iterator<Item = (&'static str, &'static Builtin)> {
    FAMILIES
        .iter()
        .flat_map(|f| f.detectors.iter().map(move |d| (f.name, d)))
}

/// The family of a built-in detector (`custom`, or `key` for the
/// blocked-key list, otherwise).
pub fn family_of(detector: &str) -> &'static str {
    if detector.starts_with("key:") {
        return "key";
    }
    all()
        .find(|(_, d)| d.name == detector)
        .map_or("custom", |(family, _)| family)
}

/// The stems a key must contain for `key_value` to look at it (the blocked
/// words, loosely, so `api_key`, `x-api-key` and `apiKey` all qualify);
/// the blocked-key list itself then decides. Configured extra blocked keys
/// are added at build time.
/// They are also `key_value`'s anchors.
pub const KEY_STEMS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "cookie",
    "session",
    "credential",
    "signature",
    "connection",
    "ssn",
];

/// Placeholder in the `key_value` pattern for the stems.
pub const STEMS: &str = "{stems}";

/// Whether the word before an IPv4-shaped match leaves it an address: it
/// is a version after `version`, `build`, `release`, ... or under a key whose
/// last segment ends in `version` (`service.version`).
pub fn not_a_version(before: &str) -> bool {
    // A product token's version: `Chrome/120.0.0.0`.
    if before
        .strip_suffix('/')
        .and_then(|b| b.chars().last())
        .is_some_and(|c| c.is_ascii_alphabetic())
    {
        return false;
    }
    let word = before
        .trim_end_matches(|c: char| c.is_whitespace() || c == ':' || c == '=' || c == '"')
        .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let last = word.rsplit('.').next().unwrap_or_default();
    let version_word = [
        "version", "ver", "v", "build", "release", "firmware", "kernel", "os",
    ]
    .contains(&last);
    !(version_word || last.ends_with("version") || last.ends_with("_ver"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;
    use std::collections::HashSet;

    /// Every detector: its pattern compiles, its example is found (and
    /// holds an anchor, passes the gate and the check), its counter-example
    /// is not; names are unique.
    #[test]
    fn every_detector_finds_its_example_and_leaves_its_counter_example() {
        let (mut names, mut failures) = (HashSet::new(), Vec::new());
        let blocked = crate::processors::redaction::keys::BlockedKeys::new(true, &[]);
        for (family, d) in all() {
            assert!(names.insert(d.name), "{} named twice", d.name);
            assert!(!d.about.is_empty(), "{} has no description", d.name);
            let pattern = d.pattern.replace(STEMS, &KEY_STEMS.join("|"));
            let regex = Regex::new(&pattern).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            let finds = |text: &str| {
                regex.captures_iter(text).any(|caps| {
                    if d.blocked_key && blocked.matches(&caps["key"]).is_none() {
                        return false;
                    }
                    let found = caps.name("secret").unwrap_or_else(|| caps.get(0).unwrap());
                    d.check.is_none_or(|check| check(found.as_str()))
                        && d.context
                            .is_none_or(|context| context(&text[..caps.get(0).unwrap().start()]))
                })
            };
            if !finds(d.example) {
                failures.push(format!(
                    "{family}/{}: example {:?} not found",
                    d.name, d.example
                ));
            }
            assert!(
                d.anchors.is_empty()
                    || d.anchors.iter().any(|a| d
                        .example
                        .to_ascii_lowercase()
                        .contains(&a.to_ascii_lowercase())),
                "{}: the example holds no anchor",
                d.name
            );
            if finds(d.not) {
                failures.push(format!(
                    "{family}/{}: counter-example {:?} found",
                    d.name, d.not
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(names.len() >= 60, "{} detectors", names.len());
    }

    /// REDACTION.md lists every detector as the code has it: run with
    /// `PRINT_DETECTOR_TABLE=1 cargo test --lib detector_table -- --nocapture`
    /// to print the table to paste.
    #[test]
    fn redaction_md_lists_every_detector() {
        let mut table = String::from(
            "| family | detector | anchors | validator | what it finds |\n|---|---|---|---|---|\n",
        );
        for (family, d) in all() {
            let anchors = if d.anchors.is_empty() {
                format!(
                    "shape: ≥ {} digits, word ≥ {}, ≥ {} dots, ≥ {} `:`/`-`",
                    d.gate.digits, d.gate.word, d.gate.dots, d.gate.colons
                )
            } else {
                d.anchors
                    .iter()
                    .map(|a| format!("`{}`", a.replace('|', "\\|")))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let validator = match (d.check.is_some(), d.context.is_some(), d.blocked_key) {
                (_, _, true) => "blocked-key list",
                (true, true, _) => "check + context",
                (true, false, _) => "check",
                (false, true, _) => "context",
                _ => "pattern",
            };
            table += &format!(
                "| {family} | `{}` | {anchors} | {validator} | {} |\n",
                d.name,
                d.about.replace('|', "\\|")
            );
        }
        if std::env::var_os("PRINT_DETECTOR_TABLE").is_some() {
            println!("{table}");
        }
        let doc = include_str!("../../../../REDACTION.md");
        let missing: Vec<&str> = all()
            .map(|(_, d)| d.name)
            .filter(|name| !doc.contains(&format!("| `{name}` |")))
            .collect();
        assert!(missing.is_empty(), "REDACTION.md lacks {missing:?}");
    }

    #[test]
    fn versions_are_not_addresses() {
        assert!(!not_a_version("upgraded to version ") && !not_a_version("service.version="));
        assert!(not_a_version("client ") && not_a_version("from "));
        assert!(!not_a_version("Mozilla/5.0 Chrome/") && not_a_version("GET /"));
    }
}
