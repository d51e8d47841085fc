//! Enrichment and redaction on the encoded request, without decoding it.
//!
//! The shipped configuration runs `resource_detection` and `redaction` in
//! every pipeline. Decoding a request to do that allocates every string and
//! re-encodes all of it, though most of it stays as it was. Here the request
//! is walked at the wire level and only what may change is decoded: a
//! resource or scope (small, once per request), an attribute whose key is
//! blocked or whose value a detector may match, a log body that is not a
//! clean string. Those parts go through the very same processors, applied
//! to a request holding just that part, so the semantics (and counters) are
//! the decoded path's; everything else is copied as it came.
//!
//! Requests with fields outside the schema take the decoded path (which
//! drops them), so nothing unknown slips past redaction; a differential
//! test holds the two paths to the same result.

use super::{OnWire, Processor};
use crate::proto::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use crate::signal::fields as f;
use crate::signal::wire;
use crate::signal::SignalKind;
use crate::signal::{Logs, Traces};
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;
use std::borrow::Cow;
use std::sync::Arc;

/// A pipeline's processors, when all of them can run on the wire.
pub struct WireChain {
    processors: Vec<Arc<dyn Processor>>,
}

impl WireChain {
    /// `Some` when every processor is `resource_detection` or a `redaction`
    /// without summary attributes.
    pub fn new(processors: &[Arc<dyn Processor>]) -> Option<WireChain> {
        let all = processors.iter().all(|p| p.on_wire().is_some());
        (all && !processors.is_empty()).then(|| WireChain {
            processors: processors.to_vec(),
        })
    }

    fn redactions(&self) -> impl Iterator<Item = &super::redaction::Redaction> {
        self.processors.iter().filter_map(|p| match p.on_wire() {
            Some(OnWire::Redaction(r)) => Some(r),
            _ => None,
        })
    }

    /// The request after the processors; `None` when it is unchanged. The
    /// request must be well-formed (`signal::wire::check`).
    pub fn apply(&self, signal: SignalKind, request: &[u8]) -> Option<Vec<u8>> {
        // Request → resource level → scope level → items.
        rewrite(request, |edit, field| match field.number {
            f::REQUEST_RESOURCES => edit.child(field, self.resource_level(signal, field.payload)),
            _ => edit.keep(field),
        })
    }

    fn resource_level(&self, signal: SignalKind, level: &[u8]) -> Option<Vec<u8>> {
        level_of(
            level,
            |resource| self.resource(resource),
            |scope_level| self.scope_level(signal, scope_level),
        )
    }

    /// The resource, decoded and run through every processor in a request
    /// of its own; `None` when it encodes as it came.
    fn resource(&self, encoded: &[u8]) -> Option<Vec<u8>> {
        let resource = Resource::decode(encoded).ok()?;
        let mut request = Traces {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource),
                ..Default::default()
            }],
        };
        self.run(&mut request);
        let resource = request.resource_spans.pop()?.resource?;
        changed(encoded, resource.encode_to_vec())
    }

    fn scope_level(&self, signal: SignalKind, level: &[u8]) -> Option<Vec<u8>> {
        level_of(
            level,
            |scope| self.scope(scope),
            |item| match signal {
                SignalKind::Traces => self.span(item),
                SignalKind::Logs => self.log_record(item),
                SignalKind::Metrics => self.metric(item),
            },
        )
    }

    fn scope(&self, encoded: &[u8]) -> Option<Vec<u8>> {
        let scope = InstrumentationScope::decode(encoded).ok()?;
        let mut request = Traces {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        self.run(&mut request);
        let scope = request.resource_spans.pop()?.scope_spans.pop()?.scope?;
        changed(encoded, scope.encode_to_vec())
    }

    fn span(&self, span: &[u8]) -> Option<Vec<u8>> {
        rewrite(span, |edit, field| match field.number {
            f::span::ATTRIBUTES => self.attribute(edit, field),
            f::span::NAME => edit.child(field, self.text(field.payload)),
            f::span::EVENTS => edit.child(
                field,
                rewrite(field.payload, |edit, field| match field.number {
                    f::span_event::ATTRIBUTES => self.attribute(edit, field),
                    f::span_event::NAME => edit.child(field, self.text(field.payload)),
                    _ => edit.keep(field),
                }),
            ),
            f::span::LINKS => edit.child(
                field,
                rewrite(field.payload, |edit, field| match field.number {
                    f::span_link::ATTRIBUTES => self.attribute(edit, field),
                    _ => edit.keep(field),
                }),
            ),
            f::span::STATUS => edit.child(
                field,
                rewrite(field.payload, |edit, field| match field.number {
                    f::status::MESSAGE => edit.child(field, self.text(field.payload)),
                    _ => edit.keep(field),
                }),
            ),
            _ => edit.keep(field),
        })
    }

    fn log_record(&self, record: &[u8]) -> Option<Vec<u8>> {
        rewrite(record, |edit, field| match field.number {
            f::log_record::ATTRIBUTES => self.attribute(edit, field),
            f::log_record::EVENT_NAME => edit.child(field, self.text(field.payload)),
            f::log_record::BODY => edit.child(field, self.body(field.payload)),
            _ => edit.keep(field),
        })
    }

    fn metric(&self, metric: &[u8]) -> Option<Vec<u8>> {
        use f::metric::*;
        rewrite(metric, |edit, field| match field.number {
            GAUGE | SUM | HISTOGRAM | EXPONENTIAL_HISTOGRAM | SUMMARY => {
                let data = rewrite(field.payload, |edit, point| match point.number {
                    DATA_POINTS => edit.child(point, self.data_point(field.number, point.payload)),
                    _ => edit.keep(point),
                });
                edit.child(field, data)
            }
            _ => edit.keep(field),
        })
    }

    /// A data point's attributes and its exemplars' filtered attributes.
    fn data_point(&self, data: u32, point: &[u8]) -> Option<Vec<u8>> {
        let (attributes, exemplars) = match data {
            f::metric::GAUGE | f::metric::SUM => (
                f::number_point::ATTRIBUTES,
                Some(f::number_point::EXEMPLARS),
            ),
            f::metric::HISTOGRAM => (
                f::histogram_point::ATTRIBUTES,
                Some(f::histogram_point::EXEMPLARS),
            ),
            f::metric::EXPONENTIAL_HISTOGRAM => (
                f::exponential_histogram_point::ATTRIBUTES,
                Some(f::exponential_histogram_point::EXEMPLARS),
            ),
            _ => (f::number_point::ATTRIBUTES, None),
        };
        rewrite(point, |edit, field| {
            if field.number == attributes {
                self.attribute(edit, field)
            } else if Some(field.number) == exemplars {
                let exemplar = rewrite(field.payload, |edit, field| match field.number {
                    f::exemplar::FILTERED_ATTRIBUTES => self.attribute(edit, field),
                    _ => edit.keep(field),
                });
                edit.child(field, exemplar)
            } else {
                edit.keep(field)
            }
        })
    }

    /// One attribute of an item: copied when no rule can touch it; a
    /// plain string redacted in place; anything else (a blocked or
    /// disallowed key, a nested value) run through the processors.
    fn attribute(&self, edit: &mut Edit, field: Field) {
        match self.classify(field.payload) {
            Attribute::Untouched => edit.keep(field),
            Attribute::Text(text) => match self.string(key_of(field.payload), text) {
                Redacted::Kept => edit.keep(field),
                Redacted::Dropped => edit.replace(field, None),
                Redacted::Replaced(text) => {
                    let value = rewrite(field.payload, |edit, kv| match kv.number {
                        f::key_value::VALUE => edit.replace(kv, Some(&string_value(&text))),
                        _ => edit.keep(kv),
                    });
                    edit.child(field, value)
                }
            },
            Attribute::Other => self.attribute_decoded(edit, field),
        }
    }

    fn attribute_decoded(&self, edit: &mut Edit, field: Field) {
        let Ok(kv) = KeyValue::decode(field.payload) else {
            return edit.keep(field);
        };
        let mut request = Traces {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        attributes: vec![kv],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        self.run(&mut request);
        let attributes = request
            .resource_spans
            .pop()
            .and_then(|mut r| r.scope_spans.pop())
            .and_then(|mut s| s.spans.pop())
            .map(|s| s.attributes)
            .unwrap_or_default();
        // Redaction leaves zero or one attribute in its place.
        edit.replace(field, None);
        for kv in &attributes {
            edit.append(field.number, &kv.encode_to_vec());
        }
    }

    /// What redaction can do to an encoded `KeyValue` of an item. Anything
    /// unusual (a repeated field, a nested value) is `Other`.
    fn classify<'a>(&self, kv: &'a [u8]) -> Attribute<'a> {
        let (mut key, mut value, mut keys, mut values) = (&b""[..], None, 0, 0);
        for field in fields(kv) {
            match field.number {
                f::key_value::KEY => (key, keys) = (field.payload, keys + 1),
                f::key_value::VALUE => (value, values) = (Some(field.payload), values + 1),
                _ => {}
            }
        }
        if keys > 1 || values > 1 {
            return Attribute::Other;
        }
        let Ok(key) = std::str::from_utf8(key) else {
            return Attribute::Other;
        };
        if self.redactions().any(|r| r.may_touch_key(key, true)) {
            return Attribute::Other;
        }
        match value.map(|value| self.classify_value(value)) {
            None => Attribute::Untouched,
            Some(class) => class,
        }
    }

    /// What redaction can do to an encoded `AnyValue`.
    fn classify_value<'a>(&self, value: &'a [u8]) -> Attribute<'a> {
        let mut fields = fields(value);
        let (Some(only), None) = (fields.next(), fields.next()) else {
            // Empty is untouched; a oneof given twice is left to decoding.
            return if value.is_empty() {
                Attribute::Untouched
            } else {
                Attribute::Other
            };
        };
        match only.number {
            f::any_value::STRING => match std::str::from_utf8(only.payload) {
                // Scanned once, by `string`: asking `may_match` first
                // would run every prefilter twice on what changes.
                Ok(text) => Attribute::Text(text),
                Err(_) => Attribute::Other,
            },
            // Arrays and key-value lists hold strings and keys.
            f::any_value::ARRAY | f::any_value::KEY_VALUE_LIST => Attribute::Other,
            _ => Attribute::Untouched,
        }
    }

    /// A string value (of the attribute `key`, when it is one) through
    /// every redaction in turn.
    fn string(&self, key: Option<&str>, original: &str) -> Redacted {
        let mut text = Cow::Borrowed(original);
        for redaction in self.redactions() {
            let scanned = match key {
                Some(key) => redaction.scan_value(key, &text),
                None => redaction.scan(&text),
            };
            match scanned {
                Some((_, true)) => return Redacted::Dropped,
                Some((redacted, false)) => text = Cow::Owned(redacted),
                None => {}
            }
        }
        match text {
            Cow::Owned(text) => Redacted::Replaced(text),
            Cow::Borrowed(_) => Redacted::Kept,
        }
    }

    /// A name or message as the redactions leave it, if changed.
    fn text(&self, encoded: &[u8]) -> Option<Vec<u8>> {
        let original = std::str::from_utf8(encoded).ok()?;
        let mut text = Cow::Borrowed(original);
        for redaction in self.redactions() {
            if let Some(redacted) = redaction.text(&text) {
                text = redacted.into();
            }
        }
        match text {
            Cow::Owned(text) => Some(text.into_bytes()),
            Cow::Borrowed(_) => None,
        }
    }

    /// A log body: a string is redacted in place (a dropped one becomes
    /// `<redacted>`); a nested value goes through the processors.
    fn body(&self, encoded: &[u8]) -> Option<Vec<u8>> {
        match self.classify_value(encoded) {
            Attribute::Untouched => None,
            Attribute::Text(text) => {
                // As the decoded path: a dropped body is masked, and later
                // redactions see the mask.
                let (mut text, mut touched) = (Cow::Borrowed(text), false);
                for redaction in self.redactions() {
                    match redaction.scan(&text) {
                        Some((_, true)) => text = Cow::Borrowed("<redacted>"),
                        Some((redacted, false)) => text = Cow::Owned(redacted),
                        None => continue,
                    }
                    touched = true;
                }
                touched.then(|| string_value(&text))
            }
            Attribute::Other => self.body_decoded(encoded),
        }
    }

    fn body_decoded(&self, encoded: &[u8]) -> Option<Vec<u8>> {
        let body = AnyValue::decode(encoded).ok()?;
        let mut request = Logs {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        body: Some(body),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        self.run(&mut request);
        let body = request
            .resource_logs
            .pop()?
            .scope_logs
            .pop()?
            .log_records
            .pop()?
            .body?;
        changed(encoded, body.encode_to_vec())
    }

    fn run<S: crate::signal::Signal>(&self, request: &mut S) {
        for processor in &self.processors {
            super::apply(&**processor, request);
        }
    }
}

/// A resource level (`ResourceSpans`...) or scope level (`ScopeSpans`...):
/// its singular head (the resource or scope) through `head`, each child
/// (the next level, or an item) through `child`. Both kinds of level number
/// them alike (`fields::resource_level`, `fields::scope_level`). A singular field given
/// more than once is merged by decoding, which is the same as decoding the
/// occurrences concatenated: so they are, and written once.
fn level_of(
    level: &[u8],
    head: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
    child: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    const HEAD: u32 = f::resource_level::RESOURCE;
    const CHILD: u32 = f::resource_level::SCOPES;
    const _: () = assert!(HEAD == f::scope_level::SCOPE && CHILD == f::scope_level::ITEMS);
    let mut merged = Vec::new();
    let mut present = 0;
    for field in fields(level).filter(|f| f.number == HEAD) {
        merged.extend_from_slice(field.payload);
        present += 1;
    }
    let new_head = match present {
        0 => None,
        1 => head(&merged),
        _ => Some(head(&merged).unwrap_or(merged)),
    };
    let mut first = true;
    rewrite(level, |edit, field| match field.number {
        HEAD if new_head.is_some() => {
            let payload = std::mem::take(&mut first)
                .then_some(new_head.as_deref())
                .flatten();
            edit.replace(field, payload)
        }
        CHILD => edit.child(field, child(field.payload)),
        _ => edit.keep(field),
    })
}

/// The key of an encoded `KeyValue`.
fn key_of(kv: &[u8]) -> Option<&str> {
    fields(kv)
        .filter(|field| field.number == f::key_value::KEY)
        .last()
        .and_then(|field| std::str::from_utf8(field.payload).ok())
}

/// What redaction can do to an attribute or a body.
enum Attribute<'a> {
    /// No rule can change it.
    Untouched,
    /// A plain string some detector may match.
    Text(&'a str),
    /// Decode it and let the processors decide.
    Other,
}

/// What the redactions did to a string value.
enum Redacted {
    Kept,
    Replaced(String),
    Dropped,
}

/// An `AnyValue` holding `text`.
fn string_value(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 3);
    put(&mut out, f::any_value::STRING, text.as_bytes());
    out
}

/// `new` when it differs from `old`.
fn changed(old: &[u8], new: Vec<u8>) -> Option<Vec<u8>> {
    (old != new.as_slice()).then_some(new)
}

/// One field of a message on the wire.
#[derive(Clone, Copy)]
struct Field<'a> {
    number: u32,
    /// A length-delimited field's bytes; empty for other wire types.
    payload: &'a [u8],
    /// The whole field, key included.
    whole: &'a [u8],
    /// Where the field starts in its message.
    offset: usize,
}

/// The fields of a well-formed message (the iteration stops at anything
/// malformed, which `signal::wire::check` has ruled out).
fn fields(message: &[u8]) -> impl Iterator<Item = Field<'_>> {
    let mut rest = message;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let offset = message.len() - rest.len();
        let mut buf = rest;
        let (number, wire_type) = wire::key(&mut buf).ok()?;
        let mut payload: &[u8] = &[];
        match wire_type {
            WireType::Varint => {
                wire::varint(&mut buf).ok()?;
            }
            WireType::SixtyFourBit => buf = buf.get(8..)?,
            WireType::ThirtyTwoBit => buf = buf.get(4..)?,
            WireType::LengthDelimited => {
                let len = usize::try_from(wire::varint(&mut buf).ok()?).ok()?;
                payload = buf.get(..len)?;
                buf = &buf[len..];
            }
            // Groups are unknown fields: such requests are decoded instead.
            WireType::StartGroup | WireType::EndGroup => return None,
        }
        let whole = &rest[..rest.len() - buf.len()];
        rest = buf;
        Some(Field {
            number,
            payload,
            whole,
            offset,
        })
    })
}

/// A message being rewritten: nothing is copied until the first change.
struct Edit<'a> {
    message: &'a [u8],
    out: Option<Vec<u8>>,
}

impl Edit<'_> {
    /// The output, started with everything before `field`.
    fn started(&mut self, field: Field) -> &mut Vec<u8> {
        let message = self.message;
        self.out.get_or_insert_with(|| {
            let mut out = Vec::with_capacity(message.len() + 64);
            out.extend_from_slice(&message[..field.offset]);
            out
        })
    }

    fn keep(&mut self, field: Field) {
        if let Some(out) = &mut self.out {
            out.extend_from_slice(field.whole);
        }
    }

    /// The field with new bytes, or removed (`None`).
    fn replace(&mut self, field: Field, payload: Option<&[u8]>) {
        let out = self.started(field);
        if let Some(payload) = payload {
            put(out, field.number, payload);
        }
    }

    /// Keeps `field`, or replaces its bytes when `new` is `Some`.
    fn child(&mut self, field: Field, new: Option<Vec<u8>>) {
        match new {
            Some(payload) => self.replace(field, Some(&payload)),
            None => self.keep(field),
        }
    }

    /// A further field, after `replace` started the output.
    fn append(&mut self, number: u32, payload: &[u8]) {
        if let Some(out) = &mut self.out {
            put(out, number, payload);
        }
    }
}

fn put(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Rewrites `message` field by field; `None` when nothing changed.
fn rewrite(message: &[u8], mut each: impl FnMut(&mut Edit, Field)) -> Option<Vec<u8>> {
    let mut edit = Edit { message, out: None };
    for field in fields(message) {
        each(&mut edit, field);
    }
    edit.out
}
