//! A YAML document as nodes that know where they are in the text, so that
//! `inject` can edit the text itself (comments, quoting and key order
//! survive) instead of re-serialising it. Built from granit-parser's
//! events and spans (the parser serde-saphyr uses).

use serde_saphyr::granit_parser::{Event, Parser, StructureStyle};

#[derive(Debug)]
pub enum Node {
    Map(Map),
    Seq(Seq),
    Scalar(Scalar),
}

#[derive(Debug)]
pub struct Map {
    pub entries: Vec<(Scalar, Node)>,
    pub flow: bool,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug)]
pub struct Seq {
    pub items: Vec<Node>,
    pub flow: bool,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug)]
pub struct Scalar {
    pub value: String,
    pub start: usize,
    pub end: usize,
}

impl Node {
    /// Where the node's text begins (a block collection: its first key or item).
    pub fn start(&self) -> usize {
        match self {
            Node::Map(m) => m.start,
            Node::Seq(s) => s.start,
            Node::Scalar(s) => s.start,
        }
    }

    /// Just past the node's last character that is not white space.
    pub fn end(&self) -> usize {
        match self {
            Node::Map(m) => m.end,
            Node::Seq(s) => s.end,
            Node::Scalar(s) => s.end,
        }
    }

    pub fn map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn seq(&self) -> Option<&Seq> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(&s.value),
            _ => None,
        }
    }
}

impl Map {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    pub fn entry(&self, key: &str) -> Option<(&Scalar, &Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(k, v)| (k, v))
    }

    /// The value at a path of keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        let node = self.get(first)?;
        if rest.is_empty() {
            return Some(node);
        }
        node.map()?.at(rest)
    }
}

/// The documents of `text`, each its root node (`None`: an empty document).
pub fn parse(text: &str) -> Result<Vec<Option<Node>>, String> {
    let mut events = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| e.to_string())?;
        // Byte offsets, which the parser knows when it reads a &str
        // (`index()` counts characters).
        let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset()) else {
            return Err("the parser gave no byte offsets".into());
        };
        events.push((event, start, end));
    }
    let mut documents = Vec::new();
    let mut at = 0;
    while at < events.len() {
        match &events[at].0 {
            Event::DocumentStart(..) => {
                at += 1;
                skip_comments(&events, &mut at);
                if matches!(events.get(at), Some((Event::DocumentEnd, ..))) {
                    documents.push(None);
                } else {
                    let root = node(text, &events, &mut at)?;
                    let empty = matches!(&root, Node::Scalar(s) if s.start == s.end);
                    documents.push((!empty).then_some(root));
                }
            }
            _ => at += 1,
        }
    }
    Ok(documents)
}

type Events<'a> = [(Event<'a>, usize, usize)];

fn skip_comments(events: &Events<'_>, at: &mut usize) {
    while matches!(
        events.get(*at),
        Some((Event::Comment(..), ..)) | Some((Event::Anchor(..), ..))
    ) {
        *at += 1;
    }
}

/// The node whose first event is at `at`; leaves `at` past its last.
fn node(text: &str, events: &Events<'_>, at: &mut usize) -> Result<Node, String> {
    skip_comments(events, at);
    let (event, start, end) = events.get(*at).ok_or("the document ends early")?;
    let (start, end) = (*start, *end);
    *at += 1;
    Ok(match event {
        Event::Scalar(value, ..) => Node::Scalar(Scalar {
            value: value.to_string(),
            start,
            end: trimmed_end(text, start, end),
        }),
        Event::Alias(..) | Event::UnresolvedAlias(..) => Node::Scalar(Scalar {
            value: String::new(),
            start,
            end,
        }),
        Event::SequenceStart(style, ..) => {
            let mut items = Vec::new();
            loop {
                skip_comments(events, at);
                match events.get(*at) {
                    Some((Event::SequenceEnd, _, close)) => {
                        *at += 1;
                        let flow = *style == StructureStyle::Flow;
                        let end = if flow {
                            *close
                        } else {
                            items.last().map_or(start, Node::end)
                        };
                        break Node::Seq(Seq {
                            items,
                            flow,
                            start,
                            end,
                        });
                    }
                    Some(_) => items.push(node(text, events, at)?),
                    None => return Err("a sequence is not closed".into()),
                }
            }
        }
        Event::MappingStart(style, ..) => {
            let mut entries = Vec::new();
            loop {
                skip_comments(events, at);
                match events.get(*at) {
                    Some((Event::MappingEnd, _, close)) => {
                        *at += 1;
                        let flow = *style == StructureStyle::Flow;
                        let end = if flow {
                            *close
                        } else {
                            entries
                                .last()
                                .map_or(start, |(_, v): &(Scalar, Node)| v.end())
                        };
                        break Node::Map(Map {
                            entries,
                            flow,
                            start,
                            end,
                        });
                    }
                    Some(_) => {
                        let key = match node(text, events, at)? {
                            Node::Scalar(key) => key,
                            _ => return Err("a mapping key that is not a string".into()),
                        };
                        let value = node(text, events, at)?;
                        entries.push((key, value));
                    }
                    None => return Err("a mapping is not closed".into()),
                }
            }
        }
        other => return Err(format!("unexpected {other:?}")),
    })
}

/// `end` moved back over white space: a block scalar's span runs on to
/// the next token.
fn trimmed_end(text: &str, start: usize, end: usize) -> usize {
    let end = end.min(text.len());
    start + text[start..end].trim_end().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_are() {
        let text = "# café ☕\na:\n  b:\n    - x: |\n        text\n      y: [1, 2]\n    - z\nc: d # note\n---\n---\nk: v\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[1].is_none());
        let root = docs[0].as_ref().unwrap().map().unwrap();
        let b = root.at(&["a", "b"]).unwrap().seq().unwrap();
        assert!(!b.flow);
        assert_eq!(
            &text[b.start..b.end],
            "- x: |\n        text\n      y: [1, 2]\n    - z"
        );
        let first = b.items[0].map().unwrap();
        assert_eq!(first.get("x").unwrap().str(), Some("text\n"));
        let y = first.get("y").unwrap().seq().unwrap();
        assert!(y.flow);
        assert_eq!(&text[y.start..y.end], "[1, 2]");
        assert_eq!(root.get("c").unwrap().str(), Some("d"));
        let (key, _) = root.entry("c").unwrap();
        assert_eq!(&text[key.start..key.end], "c");
    }
}
