//! The `redaction` processor: nothing personal or secret leaves the pod.
//!
//! Two kinds of rules, applied everywhere data hides (`signal/walk.rs`): keys
//! whose values are secret whatever they hold (`keys.rs`), and value
//! detectors that find secrets inside any string (`detectors.rs`), including
//! values in arrays and nested key-value lists. Every string is scanned once
//! by a `RegexSet`; a string no rule matches costs no allocation.

mod config;
mod detectors;
mod keys;

pub use config::*;

use crate::config::component::{settings, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::metrics::{Counter, Registry};
use crate::processors::{OnWire, Processor};
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, ArrayValue, KeyValue};
use crate::signal::walk::{Place, Visitor, Walk};
use crate::signal::AnyRequest;
use hmac::{Hmac, Mac};
use regex::{Regex, RegexSet};
use sha2::Sha256;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

pub use detectors::BUILTIN;

struct Detector {
    name: String,
    regex: Regex,
    check: Option<fn(&str) -> bool>,
    context: Option<fn(&str) -> bool>,
    /// `key_value`: the blocked-key list judges the key, only the value goes.
    keyed: bool,
    action: RedactAction,
    count: Counter,
}

pub struct Redaction {
    set: RegexSet,
    detectors: Vec<Detector>,
    blocked: keys::BlockedKeys,
    blocked_action: RedactAction,
    /// Per blocked word, as `rule="key:<word>"`.
    blocked_counts: Vec<Counter>,
    allowed: Option<HashSet<String>>,
    disallowed_count: Counter,
    hash_key: Option<Vec<u8>>,
    summary: RedactionSummary,
}

impl Redaction {
    pub fn new(config: &RedactionConfig, registry: &Registry, name: &str) -> Result<Self, Invalid> {
        config.check()?;
        let counter = |rule: &str| {
            registry.counter(
                "ignis_redacted_values",
                &[("processor", name), ("rule", rule)],
            )
        };
        let mut detectors = Vec::new();
        for builtin in BUILTIN {
            let enabled = match &config.detectors {
                Some(list) => list.iter().any(|d| d == builtin.name),
                None => true,
            } && !config.disable_detectors.iter().any(|d| d == builtin.name);
            if enabled {
                let keyed = builtin.pattern.contains(detectors::STEMS);
                let pattern = if keyed {
                    // The configured extra blocked keys are stems too.
                    let extra: Vec<String> = config
                        .blocked_keys
                        .iter()
                        .map(|k| {
                            regex::escape(
                                &k.chars()
                                    .filter(char::is_ascii_alphanumeric)
                                    .collect::<String>(),
                            )
                        })
                        .filter(|k| !k.is_empty())
                        .collect();
                    let stems = std::iter::once(detectors::KEY_STEMS.to_owned())
                        .chain(extra)
                        .collect::<Vec<_>>()
                        .join("|");
                    builtin.pattern.replace(detectors::STEMS, &stems)
                } else {
                    builtin.pattern.to_owned()
                };
                detectors.push(Detector {
                    name: builtin.name.to_owned(),
                    regex: Regex::new(&pattern)
                        .map_err(|e| Invalid::new(format!("detector {}: {e}", builtin.name)))?,
                    check: builtin.check,
                    context: builtin.context,
                    keyed,
                    action: config
                        .detector_actions
                        .get(builtin.name)
                        .copied()
                        .unwrap_or(config.action),
                    count: counter(builtin.name),
                });
            }
        }
        for custom in &config.custom {
            let regex = Regex::new(&custom.regex).map_err(|e| {
                Invalid::at("custom", format!("custom detector {}: {e}", custom.name))
            })?;
            detectors.push(Detector {
                name: custom.name.clone(),
                regex,
                check: None,
                context: None,
                keyed: false,
                action: custom.action.unwrap_or(config.action),
                count: counter(&custom.name),
            });
        }
        let set = RegexSet::new(detectors.iter().map(|d| d.regex.as_str()))
            .map_err(|e| Invalid::new(e.to_string()))?;
        let blocked = keys::BlockedKeys::new(config.default_blocked_keys, &config.blocked_keys);
        Ok(Redaction {
            set,
            detectors,
            blocked_counts: blocked
                .words()
                .iter()
                .map(|w| counter(&format!("key:{w}")))
                .collect(),
            blocked,
            blocked_action: config.blocked_key_action.unwrap_or(config.action),
            allowed: (!config.allowed_keys.is_empty())
                .then(|| config.allowed_keys.iter().cloned().collect()),
            disallowed_count: counter("not_allowed_key"),
            hash_key: config.hash_key.as_ref().map(|k| k.as_bytes().to_vec()),
            summary: config.summary,
        })
    }

    pub fn apply<S: Walk>(&self, request: &mut S) {
        request.walk(&mut RedactVisitor(self));
    }

    /// Whether it can run on the wire (`processors/on_wire.rs`): summary
    /// attributes are added per item, which only the decoded path does.
    pub fn runs_on_wire(&self) -> bool {
        self.summary == RedactionSummary::None
    }

    /// Whether an attribute with this key may be changed whatever its
    /// value (blocked, or not allowed where `item` is true). Conservative:
    /// `false` means `apply` leaves such an attribute's key rule alone.
    pub fn may_touch_key(&self, key: &str, item: bool) -> bool {
        let not_allowed = item && self.allowed.as_ref().is_some_and(|a| !a.contains(key));
        not_allowed || self.blocked.matches(key).is_some()
    }

    /// Whether some detector may match `text`; `false` means `apply`
    /// leaves it as it is. Allocates nothing and counts nothing.
    pub fn may_match(&self, text: &str) -> bool {
        self.set.is_match(text)
    }

    /// `text` (a name or a message) as `apply` leaves it, when it changes.
    pub fn text(&self, text: &str) -> Option<String> {
        self.scan(text).map(|(redacted, _)| redacted)
    }

    /// As `scan`, for the value of an attribute named `key` (which can
    /// clear a look-alike: an IPv4-shaped `service.version`).
    pub fn scan_value(&self, key: &str, text: &str) -> Option<(String, bool)> {
        self.scan_in(Some(key), text)
    }

    /// A keyed hash of `text`: equal inputs correlate, nobody without the
    /// key can test guesses against it.
    fn hash(&self, text: &str) -> String {
        let key = self.hash_key.as_deref().unwrap_or_default();
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn replacement(&self, rule: &str, action: RedactAction, found: &str) -> String {
        match action {
            RedactAction::Hash => format!("<{rule}:{}>", self.hash(found)),
            RedactAction::Mask | RedactAction::Drop => format!("<redacted:{rule}>"),
        }
    }

    /// The text with every detected secret replaced, and whether a rule
    /// says to drop it; `None` when nothing matched.
    pub fn scan(&self, text: &str) -> Option<(String, bool)> {
        self.scan_in(None, text)
    }

    fn scan_in(&self, key: Option<&str>, text: &str) -> Option<(String, bool)> {
        // `is_match` allocates nothing: most strings stop here.
        if !self.may_match(text) {
            return None;
        }
        let hits = self.set.matches(text);
        let mut out = Cow::Borrowed(text);
        let (mut changed, mut drop) = (false, false);
        for index in hits.iter() {
            let detector = &self.detectors[index];
            let haystack: &str = &out;
            let replaced = detector
                .regex
                .replace_all(haystack, |caps: &regex::Captures| {
                    let found = &caps[0];
                    if detector.check.is_some_and(|check| !check(found)) {
                        return found.to_owned();
                    }
                    if let Some(context) = detector.context {
                        let start = caps.get(0).map_or(0, |m| m.start());
                        let before = &haystack[..start];
                        // At the start of a value, the key is what comes before.
                        let before = match key {
                            Some(key) if before.trim().is_empty() => key,
                            _ => before,
                        };
                        if !context(before) {
                            return found.to_owned();
                        }
                    }
                    if detector.keyed {
                        if self.blocked.matches(&caps["key"]).is_none() {
                            return found.to_owned();
                        }
                        changed = true;
                        drop |= detector.action == RedactAction::Drop;
                        detector.count.add(1);
                        let secret =
                            self.replacement(&detector.name, detector.action, &caps["secret"]);
                        return format!("{}{}{secret}", &caps["key"], &caps["sep"]);
                    }
                    changed = true;
                    drop |= detector.action == RedactAction::Drop;
                    detector.count.add(1);
                    self.replacement(&detector.name, detector.action, found)
                });
            if let Cow::Owned(text) = replaced {
                out = Cow::Owned(text);
            }
        }
        changed.then(|| (out.into_owned(), drop))
    }

    /// Redacts a value in place (of an attribute named `key`, when it is
    /// one): whether to keep the attribute holding it, and whether anything
    /// was redacted.
    fn value(&self, key: Option<&str>, value: &mut AnyValue) -> (bool, bool) {
        match &mut value.value {
            Some(Value::StringValue(text)) => match self.scan_in(key, text) {
                Some((_, true)) => (false, true),
                Some((redacted, false)) => {
                    *text = redacted;
                    (true, true)
                }
                None => (true, false),
            },
            Some(Value::ArrayValue(array)) => {
                let mut changed = false;
                array.values.retain_mut(|v| {
                    let (keep, redacted) = self.value(key, v);
                    changed |= redacted;
                    keep
                });
                (true, changed)
            }
            // Nested keys are checked against the blocked list, not the allowed one.
            Some(Value::KvlistValue(list)) => {
                (true, !self.attributes(&mut list.values, false).is_empty())
            }
            _ => (true, false),
        }
    }

    /// Redacts a list of attributes; returns the keys whose values were
    /// redacted or dropped.
    fn attributes(&self, attributes: &mut Vec<KeyValue>, item: bool) -> Vec<String> {
        let mut redacted = Vec::new();
        attributes.retain_mut(|kv| {
            if item {
                if let Some(allowed) = &self.allowed {
                    if !allowed.contains(&kv.key) {
                        self.disallowed_count.add(1);
                        redacted.push(kv.key.clone());
                        return false;
                    }
                }
            }
            if let Some(word) = self.blocked.matches(&kv.key) {
                self.blocked_counts[word].add(1);
                let Some(value) = kv.value.as_mut() else {
                    return true;
                };
                redacted.push(kv.key.clone());
                return match self.blocked_action {
                    RedactAction::Drop => false,
                    action => {
                        let text = text_of(value);
                        value.value =
                            Some(Value::StringValue(self.replacement("key", action, &text)));
                        true
                    }
                };
            }
            let Some(value) = kv.value.as_mut() else {
                return true;
            };
            let (keep, changed) = self.value(Some(&kv.key), value);
            if changed {
                redacted.push(kv.key.clone());
            }
            keep
        });
        redacted
    }

    /// Adds the summary attributes an item carries when asked for.
    fn summarize(&self, attributes: &mut Vec<KeyValue>, redacted: Vec<String>) {
        if redacted.is_empty() || self.summary == RedactionSummary::None {
            return;
        }
        attributes.push(KeyValue {
            key: "redaction.redacted.count".into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(redacted.len() as i64)),
            }),
            ..Default::default()
        });
        if self.summary == RedactionSummary::Names {
            let names = redacted
                .into_iter()
                .map(|k| AnyValue {
                    value: Some(Value::StringValue(k)),
                })
                .collect();
            attributes.push(KeyValue {
                key: "redaction.redacted.keys".into(),
                value: Some(AnyValue {
                    value: Some(Value::ArrayValue(ArrayValue { values: names })),
                }),
                ..Default::default()
            });
        }
    }
}

/// A value as text, for hashing a blocked key's value.
fn text_of(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BytesValue(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

struct RedactVisitor<'a>(&'a Redaction);

impl Visitor for RedactVisitor<'_> {
    fn attributes(&mut self, place: Place, attributes: &mut Vec<KeyValue>) {
        let redacted = self.0.attributes(attributes, place.is_item());
        if place.is_item() {
            self.0.summarize(attributes, redacted);
        }
    }

    fn text(&mut self, _place: Place, text: &mut String) {
        // A name can't be dropped: a drop rule masks it.
        if let Some(redacted) = self.0.text(text) {
            *text = redacted;
        }
    }

    fn body(&mut self, body: &mut AnyValue) {
        if !self.0.value(None, body).0 {
            body.value = Some(Value::StringValue("<redacted>".into()));
        }
    }
}

pub fn read(node: &Located<Node>, context: &Context) -> Result<Arc<dyn Processor>, DeError> {
    let config: RedactionConfig = settings(node)?;
    let built =
        Redaction::new(&config, context.metrics, &context.name()).map_err(|e| e.locate(node))?;
    Ok(Arc::new(built))
}

impl Processor for Redaction {
    fn process(&self, request: AnyRequest<'_>) {
        match request {
            AnyRequest::Traces(r) => self.apply(r),
            AnyRequest::Metrics(r) => self.apply(r),
            AnyRequest::Logs(r) => self.apply(r),
        }
    }

    fn on_wire(&self) -> Option<OnWire<'_>> {
        self.runs_on_wire().then_some(OnWire::Redaction(self))
    }
}
