//! A serde `Deserializer` over a located YAML tree.
//!
//! Every error is tagged with the position of the innermost node it came
//! from, so "unknown field" points at the key and "invalid type" at the value.
//! Scalars are read leniently (a string "5" is a valid integer) because values
//! expanded from `${env:..}` are always strings.

use super::node::{Located, Node, Pos};
use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A deserialization error and where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub message: String,
    pub pos: Option<Pos>,
}

impl DeError {
    fn or_at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            pos: None,
        }
    }
}

/// Deserializes `T` from a node.
pub fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Located<Node>) -> Result<T, DeError> {
    T::deserialize(NodeDe(node))
}

pub struct NodeDe<'a>(pub &'a Located<Node>);

impl<'a> NodeDe<'a> {
    fn at<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|e| {
            let e = e.or_at(self.0.pos);
            match &self.0.value {
                // Never echo a value that came from the environment.
                Node::Str { from_env: true, .. } if e.pos == Some(self.0.pos) => DeError {
                    message: "invalid value from ${env:..} (the value is not shown)".into(),
                    pos: e.pos,
                },
                _ => e,
            }
        })
    }

    fn text(&self) -> Option<&'a str> {
        match &self.0.value {
            Node::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    fn parse_scalar<V: Visitor<'a>, T: std::str::FromStr>(
        self,
        visitor: V,
        visit: impl FnOnce(V, T) -> Result<V::Value, DeError>,
    ) -> Result<V::Value, DeError> {
        match self.text() {
            Some(text) => {
                let parsed = text.trim().parse::<T>().map_err(|_| {
                    de::Error::custom(format!(
                        "invalid value {text:?}: expected {}",
                        std::any::type_name::<T>()
                    ))
                });
                self.at(parsed.and_then(|v| visit(visitor, v)))
            }
            None => de::Deserializer::deserialize_any(self, visitor),
        }
    }
}

macro_rules! lenient {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.parse_scalar::<V, $ty>(visitor, |v, x| v.$visit(x))
        }
    )*};
}

impl<'a> de::Deserializer<'a> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.0.value {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Int(i) => visitor.visit_i64(*i),
            Node::UInt(u) => visitor.visit_u64(*u),
            Node::Float(f) => visitor.visit_f64(*f),
            Node::Str { text, .. } => visitor.visit_borrowed_str(text),
            Node::Seq(items) => visitor.visit_seq(Seq(items.iter())),
            Node::Map(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
        };
        self.at(result)
    }

    lenient! {
        deserialize_bool => bool, visit_bool;
        deserialize_i8 => i8, visit_i8;
        deserialize_i16 => i16, visit_i16;
        deserialize_i32 => i32, visit_i32;
        deserialize_i64 => i64, visit_i64;
        deserialize_u8 => u8, visit_u8;
        deserialize_u16 => u16, visit_u16;
        deserialize_u32 => u32, visit_u32;
        deserialize_u64 => u64, visit_u64;
        deserialize_f32 => f32, visit_f32;
        deserialize_f64 => f64, visit_f64;
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Plain scalars such as `12345` or `true` are valid strings too.
        let result = match &self.0.value {
            Node::Bool(b) => visitor.visit_string(b.to_string()),
            Node::Int(i) => visitor.visit_string(i.to_string()),
            Node::UInt(u) => visitor.visit_string(u.to_string()),
            Node::Float(f) => visitor.visit_string(f.to_string()),
            _ => return self.deserialize_any(visitor),
        };
        self.at(result)
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.value {
            Node::Null => self.at(visitor.visit_none()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // Only unit variants are used in the config: `compression: gzip`.
        match self.text() {
            Some(text) => {
                let access: StrDeserializer<DeError> = text.into_deserializer();
                self.at(visitor.visit_enum(access))
            }
            None => Err(DeError {
                message: format!("expected a string, found {}", self.0.kind()),
                pos: Some(self.0.pos),
            }),
        }
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        char bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

struct Seq<'a>(std::slice::Iter<'a, Located<Node>>);

impl<'a> SeqAccess<'a> for Seq<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.0.next() {
            Some(item) => seed.deserialize(NodeDe(item)).map(Some),
            None => Ok(None),
        }
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (Located<String>, Located<Node>)>,
    value: Option<&'a Located<Node>>,
}

impl<'a> MapAccess<'a> for Map<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                let access: StrDeserializer<DeError> = key.value.as_str().into_deserializer();
                seed.deserialize(access)
                    .map(Some)
                    .map_err(|e| e.or_at(key.pos))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value without a key"))?;
        seed.deserialize(NodeDe(value))
    }
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        port: u16,
        #[serde(default)]
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        list: Vec<u32>,
    }

    #[test]
    fn reads_typed_values() {
        let doc = parse("inner: { port: \"80\", name: 12 }\nlist: [1, \"2\"]\n").unwrap();
        let outer: Outer = from_node(&doc).unwrap();
        assert_eq!(outer.inner.port, 80);
        assert_eq!(outer.inner.name, "12");
        assert_eq!(outer.list, vec![1, 2]);
    }

    #[test]
    fn unknown_field_points_at_the_key() {
        let doc = parse("inner:\n  port: 1\n  prot: 2\nlist: []\n").unwrap();
        let err = from_node::<Outer>(&doc).unwrap_err();
        assert!(err.message.contains("unknown field `prot`"), "{err:?}");
        assert_eq!(err.pos, Some(Pos { line: 3, col: 3 }));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let doc = parse("inner:\n  port: 70000\nlist: [1, x]\n").unwrap();
        let err = from_node::<Outer>(&doc).unwrap_err();
        assert_eq!(err.pos.unwrap().line, 2, "{err:?}");
    }

    #[test]
    fn missing_field_points_at_the_mapping() {
        let doc = parse("inner:\n  name: a\nlist: []\n").unwrap();
        let err = from_node::<Outer>(&doc).unwrap_err();
        assert!(err.message.contains("missing field `port`"), "{err:?}");
        assert_eq!(err.pos.unwrap().line, 2);
    }

    #[test]
    fn env_values_are_not_echoed() {
        let mut doc = parse("inner: { port: x }\nlist: []\n").unwrap();
        if let Node::Map(entries) = &mut doc.value {
            if let Node::Map(inner) = &mut entries[0].1.value {
                inner[0].1.value = Node::Str {
                    text: "hunter2".into(),
                    from_env: true,
                };
            }
        }
        let err = from_node::<Outer>(&doc).unwrap_err();
        assert!(!err.message.contains("hunter2"), "{err:?}");
    }
}
