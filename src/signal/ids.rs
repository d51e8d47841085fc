//! Trace and span ids as OTLP requires them: a span has a 16-byte trace id
//! and an 8-byte span id, neither all zeros, and a parent span id that is
//! empty or 8 bytes; a log record's ids are empty or of those lengths.
//! (`signal/wire.rs` finds the same on the encoded request.)
//! Items that break this are dropped at the receiver (and the client told,
//! in `partial_success`), never forwarded to confuse a backend.

use super::retain::{Item, Retain};
use crate::proto::logs::v1::LogRecord;
use crate::proto::trace::v1::Span;

/// The bytes of a valid required id: `len` long, not all zeros.
pub(super) fn required(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

/// An optional id: absent (empty), or of its length.
pub(super) fn optional(id: &[u8], len: usize) -> bool {
    id.is_empty() || id.len() == len
}

pub fn valid_span(span: &Span) -> bool {
    required(&span.trace_id, 16) && required(&span.span_id, 8) && optional(&span.parent_span_id, 8)
}

pub fn valid_log(record: &LogRecord) -> bool {
    optional(&record.trace_id, 16) && optional(&record.span_id, 8)
}

/// Drops the spans and log records with invalid ids; returns how many.
pub fn drop_invalid<R: Retain>(request: &mut R) -> usize {
    request.retain_items(&mut |item| match item {
        Item::Span(_, span) => valid_span(span),
        Item::Log(_, record) => valid_log(record),
        Item::Metric(..) => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_zeros_decide() {
        let span = |t: &[u8], s: &[u8], p: &[u8]| Span {
            trace_id: t.to_vec(),
            span_id: s.to_vec(),
            parent_span_id: p.to_vec(),
            ..Default::default()
        };
        assert!(valid_span(&span(&[1; 16], &[2; 8], &[])));
        assert!(valid_span(&span(&[1; 16], &[2; 8], &[3; 8])));
        assert!(!valid_span(&span(&[1; 15], &[2; 8], &[])));
        assert!(!valid_span(&span(&[1; 16], &[2; 9], &[])));
        assert!(!valid_span(&span(&[0; 16], &[2; 8], &[])));
        assert!(!valid_span(&span(&[1; 16], &[0; 8], &[])));
        assert!(!valid_span(&span(&[], &[2; 8], &[])));
        assert!(!valid_span(&span(&[1; 16], &[2; 8], &[3; 4])));
        let log = |t: &[u8], s: &[u8]| LogRecord {
            trace_id: t.to_vec(),
            span_id: s.to_vec(),
            ..Default::default()
        };
        assert!(valid_log(&log(&[], &[])));
        assert!(valid_log(&log(&[1; 16], &[2; 8])));
        assert!(!valid_log(&log(&[1; 3], &[])));
        assert!(!valid_log(&log(&[], &[2; 7])));
    }
}
