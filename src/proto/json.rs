//! Serde helpers for the OTLP/JSON encoding
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>):
//! trace and span ids as hex, 64-bit integers written as decimal strings and
//! read from strings or numbers, `bytesValue` as base64.

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use std::fmt;

/// Trace and span ids: lowercase hex. An empty string is an absent id.
pub mod hex {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 0xf) as usize] as char);
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        decode(&text).ok_or_else(|| de::Error::custom(format!("invalid hex id {text:?}")))
    }

    fn decode(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        text.as_bytes()
            .chunks_exact(2)
            .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
            .collect()
    }
}

/// `bytesValue`: standard base64, as in proto3 JSON.
pub mod base64 {
    use super::*;
    use ::base64::engine::general_purpose::STANDARD;
    use ::base64::Engine;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(de::Error::custom)
    }
}

/// Accepts an integer given as a JSON number or a decimal string.
struct IntVisitor<T>(std::marker::PhantomData<T>);

impl<T> Visitor<'_> for IntVisitor<T>
where
    T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a string holding one")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // JSON writers sometimes print large integers as floats (1e18).
        if v.fract() == 0.0 && v.abs() < 1.9e19 {
            if v >= 0.0 {
                return self.visit_u64(v as u64);
            }
            return self.visit_i64(v as i64);
        }
        Err(E::custom(format!("{v} is not an integer")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom(format!("{v:?} is not an integer")))
    }
}

fn int<'de, D: Deserializer<'de>, T>(d: D) -> Result<T, D::Error>
where
    T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr,
{
    d.deserialize_any(IntVisitor(std::marker::PhantomData))
}

/// fixed64 / uint64 fields.
pub mod u64_str {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        int(d)
    }
}

/// int64 / sfixed64 fields.
pub mod i64_str {
    use super::*;

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        int(d)
    }
}

/// repeated fixed64 / uint64 fields.
pub mod u64_list {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for n in v {
            seq.serialize_element(&n.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        #[derive(serde::Deserialize)]
        struct Item(#[serde(deserialize_with = "super::int")] u64);
        let items: Vec<Item> = serde::Deserialize::deserialize(d)?;
        Ok(items.into_iter().map(|i| i.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
    use crate::proto::common::v1::any_value::Value;

    const BODY: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}}]},
      "scopeSpans":[{"scope":{"name":"lib"},"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000",
        "endTimeUnixNano":1544712661000000000,
        "attributes":[{"key":"n","value":{"intValue":"42"}},
                      {"key":"b","value":{"bytesValue":"aGk="}},
                      {"key":"l","value":{"arrayValue":{"values":[{"boolValue":true}]}}}],
        "status":{"code":2,"message":"boom"}}]}]}]}"#;

    #[test]
    fn decodes_otlp_json() {
        let req: ExportTraceServiceRequest = serde_json::from_str(BODY).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[0], 0x5b);
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.span_id.len(), 8);
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        let attr = |i: usize| span.attributes[i].value.as_ref().unwrap().value.clone();
        assert_eq!(attr(0), Some(Value::IntValue(42)));
        assert_eq!(attr(1), Some(Value::BytesValue(b"hi".to_vec())));
        assert!(matches!(attr(2), Some(Value::ArrayValue(_))));
        assert_eq!(span.status.as_ref().unwrap().code, 2);
    }

    #[test]
    fn round_trips_through_json() {
        let req: ExportTraceServiceRequest = serde_json::from_str(BODY).unwrap();
        let text = serde_json::to_string(&req).unwrap();
        assert!(text.contains(r#""traceId":"5b8efff798038103d269b633813fc60c""#));
        assert!(text.contains(r#""startTimeUnixNano":"1544712660000000000""#));
        let back: ExportTraceServiceRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn rejects_bad_ids() {
        let bad = BODY.replace("eee19b7ec3c1b174", "zz");
        assert!(serde_json::from_str::<ExportTraceServiceRequest>(&bad).is_err());
    }
}
