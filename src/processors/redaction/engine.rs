//! Finding secrets in a string at a cost that does not grow with the
//! number of detectors, as secret scanners do: one pass over the bytes
//! counts the string's shape and notes which single-byte anchors it holds,
//! one Aho-Corasick pass finds the longer anchors (vendor prefixes, key
//! words), and only the detectors those wake run their pattern. Detectors
//! without a literal of their own (numbers, addresses) are woken by the
//! shape and then sifted together by one `RegexSet` pass, rather than
//! each scanning the string. A string that wakes none, or whose candidates
//! find nothing, allocates nothing.

use super::detectors::Gate;
use super::keys::BlockedKeys;
use aho_corasick::AhoCorasick;
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::sync::{Arc, OnceLock};

/// The lazy DFA cache each pattern may grow per thread (the regex crate
/// allows 2 MiB): short strings need little, and 78 detectors on every
/// worker thread would otherwise add megabytes under load.
const CACHE_LIMIT: usize = 256 << 10;

/// A detector's pattern, compiled with the engine's cache limit.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .dfa_size_limit(CACHE_LIMIT)
        .build()
}

/// Detectors one engine can hold: the width of `Mask`.
pub const MAX_RULES: usize = 256;

/// A set of detectors, by index.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Mask([u64; MAX_RULES / 64]);

impl Mask {
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn or(&mut self, other: &Mask) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
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
    dots: u32,
    /// `:` and `-`.
    colons: u32,
    letters: bool,
    /// Which single-byte anchors occur, by their bit in `Classes`.
    present: u32,
}

/// Per byte: digit, word character, and which single-byte anchor it is;
/// one table lookup a byte, so the pass costs little more than reading.
struct Classes([u32; 256]);

const DIGIT: u32 = 1;
const WORD: u32 = 1 << 1;
const DOT: u32 = 1 << 2;
const COLON: u32 = 1 << 3;
const LETTER: u32 = 1 << 4;
/// Single-byte anchors take the bits from here up.
const FIRST_ANCHOR_BIT: u32 = 5;
const MAX_BYTE_ANCHORS: usize = 27;

impl Classes {
    fn new(byte_anchors: &[(u8, Mask)]) -> Classes {
        let mut table = [0u32; 256];
        for (b, class) in table.iter_mut().enumerate() {
            let b = b as u8;
            if b.is_ascii_digit() {
                *class |= DIGIT;
            }
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                *class |= WORD;
            }
            if b.is_ascii_alphabetic() {
                *class |= LETTER;
            }
            match b {
                b'.' => *class |= DOT,
                b':' | b'-' => *class |= COLON,
                _ => {}
            }
        }
        for (k, (byte, _)) in byte_anchors.iter().enumerate() {
            table[usize::from(*byte)] |= 1 << (FIRST_ANCHOR_BIT as usize + k);
        }
        Classes(table)
    }
}

impl Shape {
    fn of(text: &[u8], classes: &Classes) -> Shape {
        let (mut digits, mut word, mut run, mut present) = (0u32, 0u32, 0u32, 0u32);
        let (mut dots, mut colons) = (0u32, 0u32);
        for &b in text {
            let class = classes.0[usize::from(b)];
            present |= class;
            digits += class & DIGIT;
            dots += (class & DOT) >> 2;
            colons += (class & COLON) >> 3;
            run = if class & WORD != 0 { run + 1 } else { 0 };
            word = word.max(run);
        }
        Shape {
            digits,
            word,
            dots,
            colons,
            letters: present & LETTER != 0,
            present: present >> FIRST_ANCHOR_BIT,
        }
    }

    fn passes(&self, gate: Gate) -> bool {
        self.digits >= gate.digits
            && self.word >= gate.word
            && self.dots >= gate.dots
            && self.colons >= gate.colons
    }
}

/// One detector as the engine runs it. Its pattern is compiled the first
/// time a string wakes it: most of the 78 never are on a given service's
/// data, and each compiled pattern holds memory (4 MiB for all of them).
pub struct Rule {
    pattern: String,
    /// `None` inside: the pattern did not compile, the rule finds nothing
    /// (the built-in patterns are tested to compile; a custom one is
    /// compiled when the config is read).
    regex: OnceLock<Option<Regex>>,
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
    /// A rule for `pattern`, already compiled or to be compiled on first use.
    pub fn new(
        pattern: String,
        compiled: Option<Regex>,
        gate: Gate,
        check: Option<fn(&str) -> bool>,
        context: Option<fn(&str) -> bool>,
        blocked: Option<Arc<BlockedKeys>>,
        standalone: bool,
    ) -> Rule {
        let secret_group = pattern.contains("(?P<secret>");
        let needs_captures = secret_group || blocked.is_some();
        let regex = OnceLock::new();
        if let Some(compiled) = compiled {
            let _ = regex.set(Some(compiled));
        }
        Rule {
            pattern,
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

    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| compile(&self.pattern).ok())
            .as_ref()
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
    classes: Classes,
    /// Rules without anchors: their gate alone decides.
    unanchored: Mask,
    /// Rules without a multi-byte anchor, sifted by one pass of `sifter`
    /// (whose pattern `i` is rule `sifted[i]`), built on first use.
    sifted_mask: Mask,
    sifted: Vec<usize>,
    sifter: OnceLock<Option<RegexSet>>,
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
        if byte_anchors.len() > MAX_BYTE_ANCHORS {
            return Err(format!("more than {MAX_BYTE_ANCHORS} single-byte anchors"));
        }
        let classes = Classes::new(&byte_anchors);
        let sifted: Vec<usize> = (0..rules.len())
            .filter(|&i| anchors[i].iter().all(|a| a.len() == 1))
            .collect();
        let mut sifted_mask = Mask::default();
        sifted.iter().for_each(|&i| sifted_mask.set(i));
        let anchors = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    // A DFA: the fastest search per byte, for some 200 KiB.
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .build(&literals)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Engine {
            rules,
            anchors,
            anchor_rules,
            byte_anchors,
            classes,
            unanchored,
            sifted_mask,
            sifted,
            sifter: OnceLock::new(),
        })
    }

    fn sifter(&self) -> Option<&RegexSet> {
        self.sifter
            .get_or_init(|| {
                let patterns = self.sifted.iter().map(|&i| &self.rules[i].pattern);
                RegexSetBuilder::new(patterns)
                    .dfa_size_limit(CACHE_LIMIT)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// The rules worth running on `text`; allocates nothing.
    fn candidates(&self, text: &str) -> Mask {
        let shape = Shape::of(text.as_bytes(), &self.classes);
        let mut woken = self.unanchored;
        for (k, (_, mask)) in self.byte_anchors.iter().enumerate() {
            if shape.present & (1 << k) != 0 {
                woken.or(mask);
            }
        }
        // Every longer anchor holds a letter.
        if let (Some(anchors), true) = (&self.anchors, shape.letters) {
            for found in anchors.find_overlapping_iter(text) {
                woken.or(&self.anchor_rules[found.pattern().as_usize()]);
            }
        }
        let (mut candidates, mut to_sift) = (Mask::default(), false);
        for i in woken.indices() {
            if shape.passes(self.rules[i].gate) {
                candidates.set(i);
                to_sift |= self.sifted_mask.has(i);
            }
        }
        if let (true, Some(sifter)) = (to_sift, self.sifter()) {
            // Drop the sifted rules the set pass finds nothing for.
            let mut matched = Mask::default();
            for at in sifter.matches(text).iter() {
                matched.set(self.sifted[at]);
            }
            for i in self.sifted.iter().copied() {
                if candidates.has(i) && !matched.has(i) {
                    candidates.clear(i);
                }
            }
        }
        candidates
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
                let Some(regex) = rule.regex() else { continue };
                for caps in regex.captures_iter(text) {
                    let whole = caps.get(0).expect("group 0");
                    if let (Some(blocked), Some(key)) = (&rule.blocked, caps.name("key")) {
                        // A `Cookie:` header line is `http_cookie`'s to judge.
                        let header = (key.as_str().eq_ignore_ascii_case("cookie")
                            || key.as_str().eq_ignore_ascii_case("set-cookie"))
                            && caps.name("sep").is_some_and(|s| s.as_str().contains(':'));
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
                let Some(regex) = rule.regex() else { continue };
                for found in regex.find_iter(text) {
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
