//! Splitting a batch that is over the item or byte limit. Nothing is ever
//! dropped here.

use super::Batch;
use crate::config::units::{ByteSize, Dur};
use crate::signal::Signal;
use prost::Message;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, data points, log records) per request.
    pub max_size: usize,
    /// Encoded bytes per request, before compression.
    pub max_bytes: ByteSize,
    pub flush_timeout: Dur,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_size: 8192,
            max_bytes: ByteSize(3 << 20),
            flush_timeout: Dur(Duration::from_millis(200)),
        }
    }
}

/// Splits an encoded batch: decode, split, re-encode. Batches are built
/// under the limits, so this runs only for one request that is itself too
/// large, or when a destination answers 413.
pub fn split_encoded<S: Signal>(
    batch: &Batch,
    max_items: usize,
    max_bytes: usize,
) -> Result<Vec<Batch>, prost::DecodeError> {
    let decoded = S::decode(batch.data.clone())?;
    Ok(split(decoded, max_items, max_bytes)
        .into_iter()
        .map(|part| Batch {
            items: part.item_count(),
            data: part.encode_to_vec().into(),
        })
        .collect())
}

/// Bytes a length-delimited field of `len` bytes takes, with its tag.
fn field_len(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

/// Splits `request` into requests of at most `max_items` counted items and
/// about `max_bytes` encoded bytes. An item bigger than the limit travels
/// alone: it cannot be cut further.
pub fn split<S: Signal>(request: S, max_items: usize, max_bytes: usize) -> Vec<S> {
    if request.item_count() <= max_items && request.encoded_len() <= max_bytes {
        return vec![request];
    }
    let mut out = Vec::new();
    let mut current = S::default();
    let (mut items, mut bytes) = (0usize, 0usize);
    let mut request = request;
    for mut resource in std::mem::take(request.resources_mut()) {
        let scopes = std::mem::take(S::scopes_mut(&mut resource));
        // `resource` is now an empty shell carrying the resource attributes.
        let resource_overhead = field_len(resource.encoded_len()) + 8;
        for mut scope in scopes {
            let scope_items = std::mem::take(S::items_mut(&mut scope));
            let scope_overhead = field_len(scope.encoded_len()) + 8;
            for item in scope_items {
                let weight = S::weight(&item);
                let size = field_len(item.encoded_len());
                let open = last_scope_open::<S>(&current, &resource, &scope);
                let extra = size
                    + if open {
                        0
                    } else {
                        resource_overhead + scope_overhead
                    };
                if items > 0 && (items + weight > max_items || bytes + extra > max_bytes) {
                    out.push(std::mem::take(&mut current));
                    items = 0;
                    bytes = 0;
                }
                let open = last_scope_open::<S>(&current, &resource, &scope);
                if !open {
                    let mut r = resource.clone();
                    S::scopes_mut(&mut r).push(scope.clone());
                    current.resources_mut().push(r);
                    bytes += resource_overhead + scope_overhead;
                }
                let r = current.resources_mut().last_mut().expect("just pushed");
                let s = S::scopes_mut(r).last_mut().expect("just pushed");
                S::items_mut(s).push(item);
                items += weight;
                bytes += size;
            }
        }
    }
    if items > 0 || !current.resources().is_empty() {
        out.push(current);
    }
    out
}

/// Whether the last resource and scope of `current` are these ones, so the
/// next item can join them.
fn last_scope_open<S: Signal>(current: &S, resource: &S::Resource, scope: &S::Scope) -> bool {
    let Some(last_resource) = current.resources().last() else {
        return false;
    };
    let Some(last_scope) = S::scopes(last_resource).last() else {
        return false;
    };
    S::same_resource(last_resource, resource) && S::same_scope(last_scope, scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use crate::proto::resource::v1::Resource;
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use crate::signal::Traces;

    fn request(service: &str, scope: &str, spans: std::ops::Range<u8>) -> Traces {
        Traces {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(service.into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope.into(),
                        ..Default::default()
                    }),
                    spans: spans
                        .map(|i| Span {
                            name: format!("span-{i}"),
                            span_id: vec![i; 8],
                            trace_id: vec![i; 16],
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn span_ids(t: &Traces) -> Vec<u8> {
        t.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.span_id[0])
            .collect()
    }

    #[test]
    fn split_respects_item_limit_and_keeps_everything() {
        let mut batch = request("a", "x", 0..10);
        batch
            .resource_spans
            .extend(request("b", "y", 10..25).resource_spans);
        let parts = split(batch, 4, usize::MAX);
        assert!(parts.iter().all(|p| p.item_count() <= 4));
        let ids: Vec<u8> = parts.iter().flat_map(span_ids).collect();
        assert_eq!(ids, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn split_respects_byte_limit() {
        let batch = request("a", "x", 0..200);
        let limit = 1000;
        let parts = split(batch.clone(), usize::MAX, limit);
        assert!(parts.len() > 5);
        for part in &parts {
            assert!(
                part.encoded_len() <= limit,
                "{} > {limit}",
                part.encoded_len()
            );
        }
        let ids: Vec<u8> = parts.iter().flat_map(span_ids).collect();
        assert_eq!(ids, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn an_oversize_item_travels_alone() {
        let parts = split(request("a", "x", 0..3), usize::MAX, 10);
        assert_eq!(parts.len(), 3);
    }

    #[test]
    fn encoded_batches_split_and_concatenate() {
        let mut data = request("a", "x", 0..50).encode_to_vec();
        data.extend(request("a", "x", 50..100).encode_to_vec());
        let batch = Batch {
            data: data.into(),
            items: 100,
        };
        let parts = split_encoded::<Traces>(&batch, 30, usize::MAX).unwrap();
        assert_eq!(
            parts.iter().map(|p| p.items).collect::<Vec<_>>(),
            vec![30, 30, 30, 10]
        );
        let ids: Vec<u8> = parts
            .iter()
            .flat_map(|p| span_ids(&Traces::decode(p.data.clone()).unwrap()))
            .collect();
        assert_eq!(ids, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn small_requests_are_untouched() {
        let batch = request("a", "x", 0..3);
        assert_eq!(split(batch.clone(), 10, 1 << 20), vec![batch]);
    }
}
