//! `resource` (on resource attributes) and `attributes` (on span, span
//! event, link, log record and data point attributes): insert, update,
//! upsert and delete as in the Collector, plus `hash` (HMAC-SHA256, keyed)
//! and `extract` (named regex groups become attributes).

use super::Processor;
use crate::config::component::{settings, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, ArrayValue, KeyValue};
use crate::signal::walk::{Place, Visitor, Walk};
use crate::signal::AnyRequest;
use hmac::{Hmac, Mac};
use regex::Regex;
use serde::Deserialize;
use sha2::Sha256;
use std::sync::Arc;

/// `resource` and `attributes`: actions on attributes, in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    #[serde(default)]
    pub actions: Vec<AttributeAction>,
    /// `attributes` only: the key that `hash` actions hash with (HMAC-SHA256).
    #[serde(default)]
    pub hash_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeAction {
    pub key: String,
    pub action: ActionKind,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// `upsert`/`insert`/`update` from another attribute instead of `value`.
    #[serde(default)]
    pub from_attribute: Option<String>,
    /// `extract`: a regex with named groups, each becoming an attribute.
    #[serde(default)]
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Insert,
    Update,
    Upsert,
    Delete,
    Hash,
    Extract,
}

struct Action {
    key: String,
    kind: ActionKind,
    value: Option<AnyValue>,
    from_attribute: Option<String>,
    pattern: Option<Regex>,
}

pub struct Attributes {
    actions: Vec<Action>,
    on_resource: bool,
    hash_key: Vec<u8>,
}

/// A config value (JSON-shaped) as an OTLP value.
fn any_value(value: &serde_json::Value) -> Option<AnyValue> {
    let value = match value {
        serde_json::Value::String(s) => Value::StringValue(s.clone()),
        serde_json::Value::Bool(b) => Value::BoolValue(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::IntValue(i),
            None => Value::DoubleValue(n.as_f64()?),
        },
        serde_json::Value::Array(items) => Value::ArrayValue(ArrayValue {
            values: items.iter().filter_map(any_value).collect(),
        }),
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}

impl Attributes {
    /// Checks every action and builds them; `on_resource` is the `resource`
    /// processor, which has no `hash` or `extract`.
    pub fn new(config: &AttributesConfig, on_resource: bool) -> Result<Self, Invalid> {
        let invalid = |message: String| Invalid::at("actions", message);
        let mut actions = Vec::new();
        for a in &config.actions {
            let needs_value = matches!(
                a.action,
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert
            );
            if needs_value && a.value.is_none() && a.from_attribute.is_none() {
                return Err(invalid(format!(
                    "action {:?} on `{}` needs `value` or `from_attribute`",
                    a.action, a.key
                )));
            }
            if matches!(a.action, ActionKind::Hash | ActionKind::Extract) && on_resource {
                return Err(invalid(
                    "hash and extract are attributes-processor actions".into(),
                ));
            }
            if a.action == ActionKind::Hash && config.hash_key.as_ref().is_none_or(|k| k.len() < 16)
            {
                return Err(invalid("hash needs a `hash_key` of at least 16 bytes (an unkeyed hash of a short value can be reversed)".into()));
            }
            if let Some(value) = &a.value {
                if value.is_object() || value.is_null() {
                    return Err(invalid(format!(
                        "the value for `{}` must be a string, number, boolean or list",
                        a.key
                    )));
                }
            }
            if a.action == ActionKind::Extract && a.pattern.is_none() {
                return Err(invalid(format!("extract on `{}` needs a `pattern`", a.key)));
            }
            let pattern = a
                .pattern
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| invalid(format!("extract pattern for `{}`: {e}", a.key)))?;
            actions.push(Action {
                key: a.key.clone(),
                kind: a.action,
                value: a.value.as_ref().and_then(any_value),
                from_attribute: a.from_attribute.clone(),
                pattern,
            });
        }
        Ok(Attributes {
            actions,
            on_resource,
            hash_key: config.hash_key.clone().unwrap_or_default().into_bytes(),
        })
    }

    pub fn apply<S: Walk>(&self, request: &mut S) {
        request.walk(&mut Apply(self));
    }

    fn hash(&self, value: &AnyValue) -> AnyValue {
        let text = match &value.value {
            Some(Value::StringValue(s)) => s.clone(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.hash_key).expect("any key length");
        mac.update(text.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        AnyValue {
            value: Some(Value::StringValue(hex)),
        }
    }

    fn run(&self, attributes: &mut Vec<KeyValue>) {
        for action in &self.actions {
            let position = attributes.iter().position(|kv| kv.key == action.key);
            let new_value = || match &action.from_attribute {
                Some(from) => attributes
                    .iter()
                    .find(|kv| &kv.key == from)
                    .and_then(|kv| kv.value.clone()),
                None => action.value.clone(),
            };
            match (action.kind, position) {
                (ActionKind::Insert, None) | (ActionKind::Upsert, None) => {
                    if let Some(value) = new_value() {
                        attributes.push(KeyValue {
                            key: action.key.clone(),
                            value: Some(value),
                            ..Default::default()
                        });
                    }
                }
                (ActionKind::Update, Some(i)) | (ActionKind::Upsert, Some(i)) => {
                    if let Some(value) = new_value() {
                        attributes[i].value = Some(value);
                    }
                }
                (ActionKind::Delete, Some(i)) => {
                    attributes.remove(i);
                }
                (ActionKind::Hash, Some(i)) => {
                    let hashed = attributes[i].value.as_ref().map(|v| self.hash(v));
                    attributes[i].value = hashed;
                }
                (ActionKind::Extract, Some(i)) => {
                    let Some(Value::StringValue(text)) =
                        attributes[i].value.as_ref().and_then(|v| v.value.clone())
                    else {
                        continue;
                    };
                    let Some(pattern) = &action.pattern else {
                        continue;
                    };
                    let Some(caps) = pattern.captures(&text) else {
                        continue;
                    };
                    for name in pattern.capture_names().flatten() {
                        if let Some(m) = caps.name(name) {
                            let value = Some(AnyValue {
                                value: Some(Value::StringValue(m.as_str().to_owned())),
                            });
                            match attributes.iter_mut().find(|kv| kv.key == name) {
                                Some(kv) => kv.value = value,
                                None => attributes.push(KeyValue {
                                    key: name.to_owned(),
                                    value,
                                    ..Default::default()
                                }),
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

struct Apply<'a>(&'a Attributes);

impl Visitor for Apply<'_> {
    fn attributes(&mut self, place: Place, attributes: &mut Vec<KeyValue>) {
        let wanted = if self.0.on_resource {
            place == Place::Resource
        } else {
            place.is_item()
        };
        if wanted {
            self.0.run(attributes);
        }
    }
}

/// `attributes`: actions on item attributes.
pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Processor>, DeError> {
    read_at(node, false)
}

/// `resource`: actions on resource attributes.
pub fn read_resource(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Processor>, DeError> {
    read_at(node, true)
}

fn read_at(node: &Located<Node>, on_resource: bool) -> Result<Arc<dyn Processor>, DeError> {
    let config: AttributesConfig = settings(node)?;
    let built = Attributes::new(&config, on_resource).map_err(|e| e.locate(node))?;
    Ok(Arc::new(built))
}

impl Processor for Attributes {
    fn process(&self, request: AnyRequest<'_>) {
        match request {
            AnyRequest::Traces(r) => self.apply(r),
            AnyRequest::Metrics(r) => self.apply(r),
            AnyRequest::Logs(r) => self.apply(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AttributesConfig;
    use super::*;
    use crate::signal::walk::attribute as get;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn actions_follow_the_collector() {
        let yaml = r#"{"hash_key": "0123456789abcdef0123", "actions": [
            {"key": "env", "action": "insert", "value": "prod"},
            {"key": "region", "action": "insert", "value": "ignored"},
            {"key": "absent", "action": "update", "value": "x"},
            {"key": "tier", "action": "upsert", "value": 3},
            {"key": "copy", "action": "upsert", "from_attribute": "region"},
            {"key": "secret", "action": "delete"},
            {"key": "user", "action": "hash"},
            {"key": "http.url", "action": "extract", "pattern": "^https?://(?P<url_host>[^/]+)/(?P<url_path>.*)$"}
        ]}"#;
        let config: AttributesConfig = serde_json::from_str(yaml).unwrap();
        let p = Attributes::new(&config, false).unwrap();
        let mut attrs = vec![
            kv("region", "eu"),
            kv("secret", "s"),
            kv("user", "alice"),
            kv("http.url", "https://shop.example/cart/42"),
        ];
        p.run(&mut attrs);
        assert_eq!(get(&attrs, "env"), Some(&Value::StringValue("prod".into())));
        assert_eq!(
            get(&attrs, "region"),
            Some(&Value::StringValue("eu".into()))
        );
        assert_eq!(get(&attrs, "absent"), None);
        assert_eq!(get(&attrs, "tier"), Some(&Value::IntValue(3)));
        assert_eq!(get(&attrs, "copy"), Some(&Value::StringValue("eu".into())));
        assert_eq!(get(&attrs, "secret"), None);
        let Some(Value::StringValue(hashed)) = get(&attrs, "user") else {
            panic!()
        };
        assert_eq!(hashed.len(), 64);
        assert_ne!(hashed, "alice");
        assert_eq!(
            get(&attrs, "url_host"),
            Some(&Value::StringValue("shop.example".into()))
        );
        assert_eq!(
            get(&attrs, "url_path"),
            Some(&Value::StringValue("cart/42".into()))
        );
    }
}
