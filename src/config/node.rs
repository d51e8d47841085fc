//! The YAML document as a tree that remembers where every node came from.
//!
//! serde-saphyr reports the location of the first error only. Parsing into
//! this tree first lets each component be deserialized on its own (so one run
//! reports every error), lets `${env:..}` expand inside values after parsing
//! (so a secret containing `#` or `: ` cannot change the document's shape),
//! and lets typed errors point at the exact line and column (see `de.rs`).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A line and column in the config file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub col: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// A string; `from_env` marks text that came from `${env:..}` so that
    /// error messages never echo it (it may be a secret).
    Str {
        text: String,
        from_env: bool,
    },
    Seq(Vec<Located<Node>>),
    Map(Vec<(Located<String>, Located<Node>)>),
}

impl Located<Node> {
    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Located<Node>> {
        match &self.value {
            Node::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entries of a mapping; empty for null, `None` for anything else.
    pub fn entries(&self) -> Option<&[(Located<String>, Located<Node>)]> {
        match &self.value {
            Node::Map(entries) => Some(entries),
            Node::Null => Some(&[]),
            _ => None,
        }
    }

    /// A digest of the value, positions aside: equal for equal settings,
    /// so a reload can tell which components changed.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        fn feed(node: &Node, h: &mut std::collections::hash_map::DefaultHasher) {
            std::mem::discriminant(node).hash(h);
            match node {
                Node::Null => {}
                Node::Bool(b) => b.hash(h),
                Node::Int(i) => i.hash(h),
                Node::UInt(u) => u.hash(h),
                Node::Float(f) => f.to_bits().hash(h),
                Node::Str { text, .. } => text.hash(h),
                Node::Seq(items) => {
                    items.len().hash(h);
                    for item in items {
                        feed(&item.value, h);
                    }
                }
                Node::Map(entries) => {
                    entries.len().hash(h);
                    for (key, value) in entries {
                        key.value.hash(h);
                        feed(&value.value, h);
                    }
                }
            }
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        feed(&self.value, &mut h);
        h.finish()
    }

    /// A short name of the node's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::UInt(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Str { .. } => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

fn located<T>(spanned: Spanned<T>) -> Located<T> {
    Located {
        value: spanned.value,
        pos: Pos {
            line: spanned.referenced.line(),
            col: spanned.referenced.column(),
        },
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str {
            text: v.to_owned(),
            from_env: false,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(located(item));
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(Located<String>, Located<Node>)> = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let key = located(key);
            if entries.iter().any(|(k, _)| k.value == key.value) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}` at {}",
                    key.value, key.pos
                )));
            }
            let value = located(map.next_value::<Spanned<Node>>()?);
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// Parses YAML text into a located tree. The error text carries serde-saphyr's
/// location and source snippet.
pub fn parse(text: &str) -> Result<Located<Node>, (Pos, String)> {
    let options = serde_saphyr::options! { strict_booleans: true };
    if text.trim().is_empty() {
        return Ok(Located {
            value: Node::Map(Vec::new()),
            pos: Pos { line: 1, col: 1 },
        });
    }
    serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options)
        .map(located)
        .map_err(|e| {
            let message = e.to_string();
            (position_of(&message), first_line(&message))
        })
}

/// serde-saphyr's message starts `error: line L column C: ...`; keep the words
/// and return the position separately so all errors print alike.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_owned(),
        _ => line.to_owned(),
    }
}

fn position_of(message: &str) -> Pos {
    let mut words = message.split(|c: char| c.is_whitespace() || c == ':');
    let mut pos = Pos::default();
    while let Some(word) = words.next() {
        match word {
            "line" if pos.line == 0 => {
                pos.line = words.next().and_then(|n| n.parse().ok()).unwrap_or(0)
            }
            "column" if pos.col == 0 => {
                pos.col = words.next().and_then(|n| n.parse().ok()).unwrap_or(0)
            }
            _ => {}
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions() {
        let doc = parse("a:\n  b: 1\n  c: [x, \"y\"]\n").unwrap();
        let b = doc.get("a").unwrap().get("b").unwrap();
        assert_eq!(b.value, Node::UInt(1));
        assert_eq!(b.pos, Pos { line: 2, col: 6 });
        let c = doc.get("a").unwrap().get("c").unwrap();
        let Node::Seq(items) = &c.value else {
            panic!("not a list")
        };
        assert_eq!(items[1].pos.line, 3);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (pos, message) = parse("a:\n  b: [1, 2\n").unwrap_err();
        assert!(pos.line >= 2, "{pos:?} {message}");
        assert!(!message.is_empty());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let (_, message) = parse("a: 1\na: 2\n").unwrap_err();
        assert!(message.contains("duplicate"), "{message}");
    }

    #[test]
    fn yes_is_a_string() {
        let doc = parse("a: y\n").unwrap();
        assert!(matches!(doc.get("a").unwrap().value, Node::Str { .. }));
    }
}
