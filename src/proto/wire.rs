//! Reading OTLP requests at the protobuf wire level, without decoding them:
//! counting items costs a walk over length prefixes and no allocation.

use crate::config::SignalKind;
use prost::encoding::{decode_key, decode_varint, WireType};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed protobuf: {0}")]
pub struct WireError(&'static str);

/// The length-delimited fields of a message, as (field number, bytes);
/// other fields are skipped.
fn len_fields(mut buf: &[u8]) -> impl Iterator<Item = Result<(u32, &[u8]), WireError>> {
    std::iter::from_fn(move || {
        while !buf.is_empty() {
            let (tag, wire_type) = match decode_key(&mut buf) {
                Ok(key) => key,
                Err(_) => return Some(Err(WireError("bad field key"))),
            };
            let skip = match wire_type {
                WireType::Varint => match decode_varint(&mut buf) {
                    Ok(_) => 0,
                    Err(_) => return Some(Err(WireError("bad varint"))),
                },
                WireType::SixtyFourBit => 8,
                WireType::ThirtyTwoBit => 4,
                WireType::LengthDelimited => {
                    let len = match decode_varint(&mut buf) {
                        Ok(len) if len as usize <= buf.len() => len as usize,
                        _ => return Some(Err(WireError("length past the end"))),
                    };
                    let (field, rest) = buf.split_at(len);
                    buf = rest;
                    return Some(Ok((tag, field)));
                }
                WireType::StartGroup | WireType::EndGroup => {
                    return Some(Err(WireError("groups are not OTLP")))
                }
            };
            if skip > buf.len() {
                return Some(Err(WireError("truncated fixed-width field")));
            }
            buf = &buf[skip..];
        }
        None
    })
}

/// Sum of `count(child)` over the fields numbered `number` in `buf`.
fn sum_children(
    buf: &[u8],
    number: u32,
    count: impl Fn(&[u8]) -> Result<usize, WireError>,
) -> Result<usize, WireError> {
    let mut total = 0;
    for field in len_fields(buf) {
        let (tag, bytes) = field?;
        if tag == number {
            total += count(bytes)?;
        }
    }
    Ok(total)
}

fn occurrences(buf: &[u8], number: u32) -> Result<usize, WireError> {
    sum_children(buf, number, |_| Ok(1))
}

/// Items in an encoded export request: spans, log records or data points.
pub fn count_items(signal: SignalKind, request: &[u8]) -> Result<usize, WireError> {
    // Requests, resources and scopes nest the next level as field 1, 2, 2.
    let per_scope = |scope: &[u8]| match signal {
        SignalKind::Traces | SignalKind::Logs => occurrences(scope, 2),
        SignalKind::Metrics => sum_children(scope, 2, data_points),
    };
    sum_children(request, 1, |resource| sum_children(resource, 2, per_scope))
}

/// Data points of one `Metric`: gauge 5, sum 7, histogram 9, exponential
/// histogram 10, summary 11, each holding `data_points` as field 1.
fn data_points(metric: &[u8]) -> Result<usize, WireError> {
    let mut total = 0;
    for field in len_fields(metric) {
        let (tag, bytes) = field?;
        if matches!(tag, 5 | 7 | 9 | 10 | 11) {
            total += occurrences(bytes, 1)?;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::metrics::v1::{
        metric::Data, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    };
    use crate::proto::metrics::v1::{ResourceMetrics, ScopeMetrics};
    use crate::signal::{Metrics, Signal, Traces};
    use prost::Message;

    #[test]
    fn counts_like_decoding_does() {
        // The shared benchmark workload, when it sits beside the project.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/traces.pb");
        if let Ok(bytes) = std::fs::read(path) {
            let traces = Traces::decode(bytes.as_slice()).unwrap();
            assert_eq!(
                count_items(SignalKind::Traces, &bytes).unwrap(),
                traces.item_count()
            );
            assert_eq!(traces.item_count(), 100);
        }
        let mut traces = Traces::default();
        for n in [3, 0, 5] {
            let mut request = Traces::default();
            request.resource_spans.push(Default::default());
            request.resource_spans[0]
                .scope_spans
                .push(crate::proto::trace::v1::ScopeSpans {
                    spans: vec![Default::default(); n],
                    ..Default::default()
                });
            traces.resource_spans.extend(request.resource_spans);
        }
        assert_eq!(
            count_items(SignalKind::Traces, &traces.encode_to_vec()).unwrap(),
            8
        );
        let metrics = Metrics {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        Metric {
                            name: "g".into(),
                            data: Some(Data::Gauge(Gauge {
                                data_points: vec![NumberDataPoint::default(); 3],
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "h".into(),
                            data: Some(Data::Histogram(Histogram {
                                data_points: vec![HistogramDataPoint::default(); 4],
                                aggregation_temporality: 2,
                            })),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        assert_eq!(
            count_items(SignalKind::Metrics, &metrics.encode_to_vec()).unwrap(),
            7
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b"\x0a\xff\xff\xff\xff\x0f"[..],
            b"\x0b",
            b"\x0a\x05ab",
            b"\x09\x01",
        ] {
            assert!(count_items(SignalKind::Traces, bytes).is_err(), "{bytes:?}");
        }
        assert_eq!(count_items(SignalKind::Logs, b""), Ok(0));
    }
}
