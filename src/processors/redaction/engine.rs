//! Finding secrets in a string at a cost that does not grow with the
//! number of detectors, as secret scanners do: one pass over the bytes
//! counts the string's shape and notes which single-byte anchors it holds,
//! one Aho-Corasick pass finds the longer anchors (vendor prefixes, key
//! words), and only the detectors those wake run their pattern. A string
//! that wakes none, or whose candidates find nothing, allocates nothing.

use super::detectors::Gate;
use super::keys::BlockedKeys;
use aho_corasick::AhoCorasick;
use regex::Regex;
use std::sync::Arc;

/// Detectors one engine can hold: the width of `Mask`.
pub const MAX_RULES: usize = 256;

/// A set of detectors, by index.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Mask([u64; MAX_RULES / 64]);

impl Mask {
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn or(&mut self, other: &Mask) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    fn indices(self) -> impl Iterator<Item = usize> {
        self.0.into_iter().enumerate().flat_map(|(w, mut bits)| {
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + i
                })
            })
        })
    }
}

/// What one pass over a string's bytes tells.
#[derive(Default)]
struct Shape {
    digits: u32,
    word: u32,
    /// Which bytes occur (for the single-byte anchors).
    bytes: [u64; 4],
}

impl Shape {
    fn of(text: &[u8]) -> Shape {
        let mut shape = Shape::default();
        let mut run = 0u32;
        for &b in text {
            shape.bytes[usize::from(b >> 6)] |= 1 << (b & 63);
            let is_digit = b.is_ascii_digit();
            shape.digits += u32::from(is_digit);
            if is_digit || b.is_ascii_alphabetic() || b == b'_' || b == b'-' {
                run += 1;
                shape.word = shape.word.max(run);
            } else {
                run = 0;
            }
        }
        shape
    }

    fn has(&self, b: u8) -> bool {
        self.bytes[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    fn passes(&self, gate: Gate) -> bool {
        self.digits >= gate.digits && self.word >= gate.word
    }
}

/// One detector as the engine runs it.
pub struct Rule {
    pub regex: Regex,
    pub gate: Gate,
    pub check: Option<fn(&str) -> bool>,
    pub context: Option<fn(&str) -> bool>,
    /// The `key` group is judged by this blocked-key list.
    pub blocked: Option<Arc<BlockedKeys>>,
    /// Must stand alone (`detectors::Builtin::standalone`).
    pub standalone: bool,
    /// The pattern names a `secret` group: only it is redacted.
    secret_group: bool,
    needs_captures: bool,
}

impl Rule {
    pub fn new(
        regex: Regex,
        gate: Gate,
        check: Option<fn(&str) -> bool>,
        context: Option<fn(&str) -> bool>,
        blocked: Option<Arc<BlockedKeys>>,
        standalone: bool,
    ) -> Rule {
        let secret_group = regex.capture_names().flatten().any(|n| n == "secret");
        let needs_captures = secret_group || blocked.is_some();
        Rule {
            regex,
            gate,
            check,
            context,
            blocked,
            standalone,
            secret_group,
            needs_captures,
        }
    }
}

/// A confirmed finding: `rule` found `text[start..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
}

pub struct Engine {
    rules: Vec<Rule>,
    /// Anchors of two bytes or more, and the rules each wakes.
    anchors: Option<AhoCorasick>,
    anchor_rules: Vec<Mask>,
    /// Single-byte anchors (`@`, `+`, `.`, `:`), and the rules each wakes.
    byte_anchors: Vec<(u8, Mask)>,
    /// Rules without anchors: their gate alone decides.
    unanchored: Mask,
}

impl Engine {
    /// `anchors[i]` are rule `i`'s anchors (empty: none).
    pub fn new(rules: Vec<Rule>, anchors: &[Vec<String>]) -> Result<Engine, String> {
        if rules.len() > MAX_RULES {
            return Err(format!(
                "{} detectors: at most {MAX_RULES} fit",
                rules.len()
            ));
        }
        let (mut literals, mut anchor_rules) = (Vec::<String>::new(), Vec::<Mask>::new());
        let mut byte_anchors: Vec<(u8, Mask)> = Vec::new();
        let mut unanchored = Mask::default();
        for (i, list) in anchors.iter().enumerate() {
            if list.is_empty() {
                unanchored.set(i);
            }
            for anchor in list {
                let lower = anchor.to_ascii_lowercase();
                if let [byte] = lower.as_bytes() {
                    match byte_anchors.iter_mut().find(|(b, _)| b == byte) {
                        Some((_, mask)) => mask.set(i),
                        None => {
                            let mut mask = Mask::default();
                            mask.set(i);
                            byte_anchors.push((*byte, mask));
                        }
                    }
                    continue;
                }
                match literals.iter().position(|l| *l == lower) {
                    Some(at) => anchor_rules[at].set(i),
                    None => {
                        let mut mask = Mask::default();
                        mask.set(i);
                        literals.push(lower);
                        anchor_rules.push(mask);
                    }
                }
            }
        }
        let anchors = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&literals)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Engine {
            rules,
            anchors,
            anchor_rules,
            byte_anchors,
            unanchored,
        })
    }

    /// The rules worth running on `text`; allocates nothing.
    fn candidates(&self, text: &str) -> Mask {
        let shape = Shape::of(text.as_bytes());
        let mut woken = self.unanchored;
        for (byte, mask) in &self.byte_anchors {
            if shape.has(*byte) {
                woken.or(mask);
            }
        }
        if let Some(anchors) = &self.anchors {
            for found in anchors.find_overlapping_iter(text) {
                woken.or(&self.anchor_rules[found.pattern().as_usize()]);
            }
        }
        let mut candidates = Mask::default();
        for i in woken.indices() {
            if shape.passes(self.rules[i].gate) {
                candidates.set(i);
            }
        }
        candidates
    }

    /// Whether some detector may find something in `text`: `false` means
    /// `find` returns nothing. Allocates nothing.
    pub fn may_match(&self, text: &str) -> bool {
        !self.candidates(text).is_empty()
    }

    /// Every confirmed finding in `text`, in no particular order; `key`
    /// is the attribute holding it, which a context check reads when the
    /// finding starts the value.
    pub fn find(&self, key: Option<&str>, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        for index in self.candidates(text).indices() {
            let rule = &self.rules[index];
            // `start` is where the whole match starts (what a context
            // reads before); `found` is what would be redacted.
            let confirm = |start: usize, found: regex::Match| -> Option<Hit> {
                if rule.check.is_some_and(|check| !check(found.as_str())) {
                    return None;
                }
                if rule.standalone && !standalone(text, found.start(), found.end()) {
                    return None;
                }
                if let Some(context) = rule.context {
                    let before = &text[..start];
                    // At the start of a value, the key is what comes before.
                    let before = match key {
                        Some(key) if before.trim().is_empty() => key,
                        _ => before,
                    };
                    if !context(before) {
                        return None;
                    }
                }
                Some(Hit {
                    rule: index,
                    start: found.start(),
                    end: found.end(),
                })
            };
            if rule.needs_captures {
                for caps in rule.regex.captures_iter(text) {
                    let whole = caps.get(0).expect("group 0");
                    if let (Some(blocked), Some(key)) = (&rule.blocked, caps.name("key")) {
                        // A `Cookie:` header line is `http_cookie`'s to judge.
                        let header = key.as_str().eq_ignore_ascii_case("cookie")
                            || key.as_str().eq_ignore_ascii_case("set-cookie");
                        if blocked.matches(key.as_str()).is_none() || header {
                            continue;
                        }
                    }
                    let found = if rule.secret_group {
                        caps.name("secret").unwrap_or(whole)
                    } else {
                        whole
                    };
                    if found.is_empty() {
                        continue;
                    }
                    if let Some(hit) = confirm(whole.start(), found) {
                        hits.push(hit);
                    }
                }
            } else {
                for found in rule.regex.find_iter(text) {
                    if let Some(hit) = confirm(found.start(), found) {
                        hits.push(hit);
                    }
                }
            }
        }
        hits
    }
}

/// Whether `text[start..end]` stands alone: not glued to a word, not one
/// group of a longer run of digit groups (`27 01 47 …`, `1.2.840.…`), not
/// a part of a dashed id (`979-0992…-5`, `ORD-2024-…`).
fn standalone(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let glued = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let joins = |sep: u8, next: u8| {
        (matches!(sep, b' ' | b'.' | b'-' | b'/') && next.is_ascii_digit())
            || (sep == b'-' && next.is_ascii_alphabetic())
    };
    let before = start.checked_sub(1).map(|i| b[i]);
    let before2 = start.checked_sub(2).map(|i| b[i]);
    let after = b.get(end).copied();
    let after2 = b.get(end + 1).copied();
    !(before.is_some_and(glued)
        || after.is_some_and(glued)
        || matches!((before, before2), (Some(s), Some(n)) if joins(s, n))
        || matches!((after, after2), (Some(s), Some(n)) if joins(s, n)))
}

/// `hits` sorted and merged where they overlap (a URL's password inside
/// what the email detector also found): the union is redacted, named for
/// the longest finding in it.
pub fn merge(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    let mut merged: Vec<Hit> = Vec::with_capacity(hits.len());
    for hit in hits {
        match merged.last_mut() {
            Some(last) if hit.start < last.end => {
                if hit.end - hit.start > last.end - last.start {
                    last.rule = hit.rule;
                }
                last.end = last.end.max(hit.end);
            }
            _ => merged.push(hit),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_findings_merge_into_their_union() {
        let hits = vec![
            Hit {
                rule: 1,
                start: 10,
                end: 30,
            },
            Hit {
                rule: 0,
                start: 5,
                end: 12,
            },
            Hit {
                rule: 2,
                start: 40,
                end: 45,
            },
        ];
        assert_eq!(
            merge(hits),
            vec![
                Hit {
                    rule: 1,
                    start: 5,
                    end: 30
                },
                Hit {
                    rule: 2,
                    start: 40,
                    end: 45
                }
            ]
        );
    }

    #[test]
    fn masks_iterate_their_members() {
        let mut mask = Mask::default();
        for i in [0, 63, 64, 200] {
            mask.set(i);
        }
        assert_eq!(mask.indices().collect::<Vec<_>>(), vec![0, 63, 64, 200]);
    }
}
