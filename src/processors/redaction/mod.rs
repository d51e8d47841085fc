//! The `redaction` processor: nothing personal or secret leaves the pod.
//!
//! Two kinds of rules, applied everywhere data hides (`signal/walk.rs`): keys
//! whose values are secret whatever they hold (`keys.rs`), and value
//! detectors that find secrets inside any string (`detectors/`, run by
//! `engine.rs`), including values in arrays, nested key-value lists and
//! strings holding JSON (`json_text.rs`). A string no rule matches costs no
//! allocation. In audit mode, or for a detector whose action is `report`,
//! findings are counted (`audit.rs`) and the data left as it is.

mod audit;
mod checks;
mod config;
mod detectors;
mod engine;
mod json_text;
pub(crate) mod keys;
mod percent;
mod sanitize;

pub use audit::findings_json;
use audit::Site;
pub use config::*;
pub use detectors::{all as builtin_detectors, Builtin};

use crate::config::component::{settings, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::metrics::{Counter, Registry};
use crate::processors::{OnWire, Processor};
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, ArrayValue, KeyValue};
use crate::signal::walk::{Place, Visitor, Walk};
use crate::signal::AnyRequest;
use engine::{Engine, Hit, Rule};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::Arc;

/// Values redacted, by processor and rule.
pub const REDACTED_METRIC: &str = "ignis_redacted_values";

/// What the processor keeps of each detector besides the engine's rule.
struct Detector {
    name: String,
    action: RedactAction,
    count: Counter,
}

pub struct Redaction {
    engine: Engine,
    detectors: Vec<Detector>,
    blocked: Arc<keys::BlockedKeys>,
    blocked_action: RedactAction,
    /// Per blocked word, as `rule="key:<word>"`.
    blocked_counts: Vec<Counter>,
    allowed: Option<HashSet<String>>,
    disallowed_count: Counter,
    hash_key: Option<Vec<u8>>,
    summary: RedactionSummary,
    sanitize: Sanitize,
    audit: audit::Audit,
}

impl Redaction {
    pub fn new(
        config: &RedactionConfig,
        registry: &Arc<Registry>,
        name: &str,
    ) -> Result<Self, Invalid> {
        config.check()?;
        let counter =
            |rule: &str| registry.counter(REDACTED_METRIC, &[("processor", name), ("rule", rule)]);
        let blocked = Arc::new(keys::BlockedKeys::new(
            config.default_blocked_keys,
            &config.blocked_keys,
        ));
        // The configured extra blocked keys are `key_value` stems (and
        // anchors) too, as the words its pattern can match.
        let extra_stems: Vec<String> = config
            .blocked_keys
            .iter()
            .map(|k| k.chars().filter(char::is_ascii_alphanumeric).collect())
            .filter(|word: &String| !word.is_empty())
            .collect();
        let stems = detectors::KEY_STEMS
            .iter()
            .map(|s| s.to_string())
            .chain(extra_stems.iter().map(|w| regex::escape(w)))
            .collect::<Vec<_>>()
            .join("|");
        let (mut rules, mut anchors, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        for (_, builtin) in detectors::all() {
            let enabled = config
                .detectors
                .as_ref()
                .is_none_or(|list| list.iter().any(|d| d == builtin.name))
                && !config.disable_detectors.iter().any(|d| d == builtin.name);
            if !enabled {
                continue;
            }
            // Compiled when first woken (`engine::Rule`).
            let pattern = builtin.pattern.replace(detectors::STEMS, &stems);
            let blocked_keys = builtin.blocked_key.then(|| Arc::clone(&blocked));
            rules.push(Rule::new(
                pattern,
                None,
                builtin.gate,
                builtin.check,
                builtin.context,
                blocked_keys,
                builtin.standalone,
            ));
            let mut list: Vec<String> = builtin.anchors.iter().map(|a| a.to_string()).collect();
            if builtin.blocked_key {
                list.extend(extra_stems.iter().cloned());
            }
            anchors.push(list);
            kept.push(Detector {
                name: builtin.name.to_owned(),
                action: config.action_of(builtin.name, None),
                count: counter(builtin.name),
            });
        }
        for custom in &config.custom {
            let regex = engine::compile(&custom.regex).map_err(|e| {
                Invalid::at("custom", format!("custom detector {}: {e}", custom.name))
            })?;
            rules.push(Rule::new(
                custom.regex.clone(),
                Some(regex),
                detectors::Gate::NONE,
                None,
                None,
                None,
                false,
            ));
            anchors.push(Vec::new());
            kept.push(Detector {
                name: custom.name.clone(),
                action: config.action_of(&custom.name, custom.action),
                count: counter(&custom.name),
            });
        }
        let engine = Engine::new(rules, &anchors).map_err(Invalid::new)?;
        let blocked_action = match config.mode {
            RedactionMode::Audit => RedactAction::Report,
            RedactionMode::Redact => config.blocked_key_action.unwrap_or(config.action),
        };
        Ok(Redaction {
            engine,
            detectors: kept,
            blocked_counts: blocked
                .words()
                .iter()
                .map(|w| counter(&format!("key:{w}")))
                .collect(),
            blocked,
            blocked_action,
            allowed: (!config.allowed_keys.is_empty())
                .then(|| config.allowed_keys.iter().cloned().collect()),
            disallowed_count: counter("not_allowed_key"),
            hash_key: config.hash_key.as_ref().map(|k| k.as_bytes().to_vec()),
            summary: config.summary,
            sanitize: config.sanitize,
            audit: audit::Audit::new(registry, name),
        })
    }

    pub fn apply<S: Walk>(&self, request: &mut S) {
        request.walk(&mut RedactVisitor(self));
    }

    /// Whether it can run on the wire (`processors/on_wire.rs`): summary
    /// attributes are added per item, which only the decoded path does.
    /// Reports name their location, which only the decoded walk knows.
    pub fn runs_on_wire(&self) -> bool {
        self.summary == RedactionSummary::None
            && self.blocked_action != RedactAction::Report
            && self
                .detectors
                .iter()
                .all(|d| d.action != RedactAction::Report)
    }

    /// Whether an attribute with this key may be changed whatever its
    /// value (blocked, or not allowed where `item` is true). Conservative:
    /// `false` means `apply` leaves such an attribute's key rule alone.
    pub fn may_touch_key(&self, key: &str, item: bool) -> bool {
        let not_allowed = item && self.allowed.as_ref().is_some_and(|a| !a.contains(key));
        not_allowed || self.blocked.matches(key).is_some()
    }

    fn sanitizes(&self, key: &str) -> Option<sanitize::Kind> {
        let kind = sanitize::kind_of(key)?;
        match kind {
            sanitize::Kind::Statement if self.sanitize.statements => Some(kind),
            sanitize::Kind::Url | sanitize::Kind::Path | sanitize::Kind::Query
                if self.sanitize.urls =>
            {
                Some(kind)
            }
            _ => None,
        }
    }

    /// `text` (a name or a message) as `apply` leaves it, when it changes.
    pub fn text(&self, text: &str) -> Option<String> {
        self.name_at(Site::TEXT, text)
    }

    /// A name or message at `site`: paths and URLs in it sanitized, then
    /// scanned. A name can't be dropped: a drop rule masks it.
    fn name_at(&self, site: Site<'_>, text: &str) -> Option<String> {
        let sanitized = if self.sanitize.urls && self.mode_redacts() {
            sanitize::words(text)
        } else {
            None
        };
        let current = sanitized.as_deref().unwrap_or(text);
        match self.scan_at(site, current) {
            Some((redacted, _)) => Some(redacted),
            None => sanitized,
        }
    }

    /// As `scan`, for the value of an attribute named `key` (which can
    /// clear a look-alike: an IPv4-shaped `service.version`).
    pub fn scan_value(&self, key: &str, text: &str) -> Option<(String, bool)> {
        let site = Site {
            location: "attributes",
            key: Some(key),
        };
        self.attribute_at(site, text)
    }

    /// An attribute's string value at `site`: sanitized when its key says
    /// it is a statement or a URL, then scanned.
    fn attribute_at(&self, site: Site<'_>, text: &str) -> Option<(String, bool)> {
        let sanitized = match site.key.and_then(|key| self.sanitizes(key)) {
            Some(kind) if self.mode_redacts() => sanitize::apply(kind, text),
            _ => None,
        };
        let current = sanitized.as_deref().unwrap_or(text);
        match self.scan_at(site, current) {
            Some(done) => Some(done),
            None => sanitized.map(|text| (text, false)),
        }
    }

    /// Audit mode changes nothing, sanitizing included.
    fn mode_redacts(&self) -> bool {
        self.blocked_action != RedactAction::Report
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

    pub(crate) fn replacement(&self, rule: &str, action: RedactAction, found: &str) -> String {
        match action {
            RedactAction::Hash => format!("<{rule}:{}>", self.hash(found)),
            RedactAction::Mask | RedactAction::Drop | RedactAction::Report => {
                format!("<redacted:{rule}>")
            }
        }
    }

    /// The text with every detected secret replaced, and whether a rule
    /// says to drop it; `None` when nothing matched.
    pub fn scan(&self, text: &str) -> Option<(String, bool)> {
        self.scan_at(Site::TEXT, text)
    }

    /// As `scan`, for a string found at `site`: reported findings are
    /// counted there; a string holding JSON is walked as a map.
    fn scan_at(&self, site: Site<'_>, text: &str) -> Option<(String, bool)> {
        self.scan_depth(site, text, 0)
    }

    /// As `scan_at`, for a string `depth` JSON documents deep.
    fn scan_depth(&self, site: Site<'_>, text: &str, depth: usize) -> Option<(String, bool)> {
        let hits = self.find(site.key, text);
        if hits.is_empty() {
            return None;
        }
        match json_text::redact(self, site, text, depth) {
            None => self.replace(site, text, hits, true),
            // Keys and anything the walk could not see (a secret in a
            // key) are still scanned as text; the walk reported already.
            Some(walked) => {
                let walked_text = walked.as_deref().unwrap_or(text);
                let rest = self.find(site.key, walked_text);
                match self.replace(site, walked_text, rest, false) {
                    Some(done) => Some(done),
                    None => walked.map(|text| (text, false)),
                }
            }
        }
    }

    /// Every finding in `text`; in a percent-encoded text, what is found
    /// in its decoded form, mapped back to the encoded bytes (the escapes
    /// would hide a secret's shape, and make words run together).
    fn find(&self, key: Option<&str>, text: &str) -> Vec<Hit> {
        match percent::decode(text) {
            None => self.engine.find(key, text),
            Some(decoded) => {
                let mut hits = self.engine.find(key, &decoded.text);
                for hit in &mut hits {
                    (hit.start, hit.end) = decoded.original(hit.start, hit.end);
                }
                hits
            }
        }
    }

    /// `text` with `hits` replaced as their detectors' actions say.
    fn replace(
        &self,
        site: Site<'_>,
        text: &str,
        hits: Vec<Hit>,
        report: bool,
    ) -> Option<(String, bool)> {
        let (reports, hits): (Vec<Hit>, Vec<Hit>) = hits
            .into_iter()
            .partition(|h| self.detectors[h.rule].action == RedactAction::Report);
        for hit in reports.iter().filter(|_| report) {
            self.audit.report(&self.detectors[hit.rule].name, site);
        }
        if hits.is_empty() {
            return None;
        }
        let (mut out, mut last, mut drop) = (String::with_capacity(text.len()), 0, false);
        for hit in engine::merge(hits) {
            let detector = &self.detectors[hit.rule];
            detector.count.add(1);
            drop |= detector.action == RedactAction::Drop;
            out.push_str(&text[last..hit.start]);
            out.push_str(&self.replacement(
                &detector.name,
                detector.action,
                &text[hit.start..hit.end],
            ));
            last = hit.end;
        }
        out.push_str(&text[last..]);
        Some((out, drop))
    }

    /// Redacts a value in place, found at `site`: whether to keep the
    /// attribute holding it, and whether anything was redacted.
    fn value(&self, site: Site<'_>, value: &mut AnyValue) -> (bool, bool) {
        match &mut value.value {
            Some(Value::StringValue(text)) => match self.attribute_at(site, text) {
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
                    let (keep, redacted) = self.value(site, v);
                    changed |= redacted;
                    keep
                });
                (true, changed)
            }
            // Nested keys are checked against the blocked list, not the allowed one.
            Some(Value::KvlistValue(list)) => (
                true,
                !self
                    .attributes(site.location, &mut list.values, false)
                    .is_empty(),
            ),
            _ => (true, false),
        }
    }

    /// Whether `key` is blocked: counted, and reported rather than acted
    /// on in audit mode (then `None`, as for a key that is not blocked).
    pub(crate) fn blocked_key(&self, location: &'static str, key: &str) -> Option<RedactAction> {
        let word = self.blocked.matches(key)?;
        if self.blocked_action == RedactAction::Report {
            let rule = format!("key:{}", self.blocked.words()[word]);
            self.audit.report(
                &rule,
                Site {
                    location,
                    key: Some(key),
                },
            );
            return None;
        }
        self.blocked_counts[word].add(1);
        Some(self.blocked_action)
    }

    /// Redacts a list of attributes at `location`; returns the keys whose
    /// values were redacted or dropped.
    fn attributes(
        &self,
        location: &'static str,
        attributes: &mut Vec<KeyValue>,
        item: bool,
    ) -> Vec<String> {
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
            let Some(value) = kv.value.as_mut() else {
                return true;
            };
            if let Some(action) = self.blocked_key(location, &kv.key) {
                redacted.push(kv.key.clone());
                return match action {
                    RedactAction::Drop => false,
                    action => {
                        let text = text_of(value);
                        value.value =
                            Some(Value::StringValue(self.replacement("key", action, &text)));
                        true
                    }
                };
            }
            let site = Site {
                location,
                key: Some(&kv.key),
            };
            let (keep, changed) = self.value(site, value);
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

/// Where a place's attributes are, as findings name it.
fn attributes_location(place: Place) -> &'static str {
    match place {
        Place::Resource => "resource.attributes",
        Place::Scope => "scope.attributes",
        Place::Span => "span.attributes",
        Place::SpanEvent => "span.event.attributes",
        Place::SpanLink => "span.link.attributes",
        Place::LogRecord => "log.attributes",
        Place::DataPoint => "datapoint.attributes",
    }
}

/// Where a place's names and messages are.
fn text_location(place: Place) -> &'static str {
    match place {
        Place::Span => "span.name_or_status",
        Place::SpanEvent => "span.event.name",
        Place::LogRecord => "log.event_name",
        _ => "name",
    }
}

impl Visitor for RedactVisitor<'_> {
    fn attributes(&mut self, place: Place, attributes: &mut Vec<KeyValue>) {
        let redacted = self
            .0
            .attributes(attributes_location(place), attributes, place.is_item());
        if place.is_item() {
            self.0.summarize(attributes, redacted);
        }
    }

    fn text(&mut self, place: Place, text: &mut String) {
        // A name can't be dropped: a drop rule masks it.
        let site = Site {
            location: text_location(place),
            key: None,
        };
        if let Some(redacted) = self.0.name_at(site, text) {
            *text = redacted;
        }
    }

    fn body(&mut self, body: &mut AnyValue) {
        let site = Site {
            location: "log.body",
            key: None,
        };
        if !self.0.value(site, body).0 {
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
