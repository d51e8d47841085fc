//! The receivers prove a request well-formed at the wire level instead of
//! decoding it (`signal/wire.rs`). That is only sound if the wire check
//! accepts exactly what decoding accepts: this property test mutates real
//! requests of every signal (flipped, inserted and removed bytes, cuts) and
//! holds the two to the same verdict, the same item count, and the same
//! finding of invalid trace and span ids (`signal/ids.rs`).

use ignis_agent::signal::ids::drop_invalid;
use ignis_agent::signal::wire::{check, validate};
use ignis_agent::signal::SignalKind;
use ignis_agent::signal::{Logs, Metrics, Signal, Traces};
use proptest::prelude::*;

const TRACES: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"checkout"}},
  {"key":"k","value":{"kvlistValue":{"values":[{"key":"n","value":{"arrayValue":{"values":[{"intValue":"7"},{"boolValue":true},{"doubleValue":1.5},{"bytesValue":"AAE="}]}}}]}}}],
  "droppedAttributesCount":1},
 "scopeSpans":[{"scope":{"name":"s","version":"1","attributes":[{"key":"a","value":{"stringValue":"b"}}],"droppedAttributesCount":2},
  "spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173",
    "traceState":"ot=th:8","flags":257,"name":"GET /cart","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2",
    "attributes":[{"key":"user.email","value":{"stringValue":"a@b.example"}},{"key":"n","value":{"intValue":"-3"}}],
    "droppedAttributesCount":3,
    "events":[{"timeUnixNano":"3","name":"exception","attributes":[{"key":"x","value":{"stringValue":"y"}}],"droppedAttributesCount":1}],
    "droppedEventsCount":4,
    "links":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175","traceState":"a=b","attributes":[{"key":"l","value":{"stringValue":"m"}}],"droppedAttributesCount":1,"flags":1}],
    "droppedLinksCount":5,"status":{"message":"HTTP 500","code":2}},
   {"name":"second","kind":3}],"schemaUrl":"https://opentelemetry.io/schemas/1.26.0"}],
 "schemaUrl":"https://opentelemetry.io/schemas/1.26.0"}]}"#;

const LOGS: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
 "scopeLogs":[{"scope":{"name":"s"},"logRecords":[
  {"timeUnixNano":"1","observedTimeUnixNano":"2","severityNumber":9,"severityText":"INFO",
   "body":{"stringValue":"order placed by a@b.example"},"attributes":[{"key":"thread.id","value":{"intValue":"12"}}],
   "droppedAttributesCount":1,"flags":1,"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","eventName":"order"},
  {"body":{"kvlistValue":{"values":[{"key":"k","value":{"arrayValue":{"values":[{"stringValue":"v"}]}}}]}}}],
  "schemaUrl":"u"}],"schemaUrl":"u"}]}"#;

const METRICS: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
 "scopeMetrics":[{"scope":{"name":"s"},"metrics":[
  {"name":"g","description":"d","unit":"1","gauge":{"dataPoints":[{"attributes":[{"key":"a","value":{"stringValue":"b"}}],"startTimeUnixNano":"1","timeUnixNano":"2","asDouble":1.5,"flags":1,
     "exemplars":[{"filteredAttributes":[{"key":"e","value":{"stringValue":"f"}}],"timeUnixNano":"2","asInt":"3","spanId":"eee19b7ec3c1b174","traceId":"5b8efff798038103d269b633813fc60c"}]}]}},
  {"name":"c","sum":{"dataPoints":[{"asInt":"5"},{"asInt":"6"}],"aggregationTemporality":2,"isMonotonic":true},"metadata":[{"key":"m","value":{"stringValue":"n"}}]},
  {"name":"h","histogram":{"dataPoints":[{"count":"3","sum":4.5,"bucketCounts":["1","2"],"explicitBounds":[1.0],"min":0.5,"max":3.0,"exemplars":[{"asDouble":1.0}]}],"aggregationTemporality":1}},
  {"name":"e","exponentialHistogram":{"dataPoints":[{"count":"3","sum":1.0,"scale":-2,"zeroCount":"1","positive":{"offset":-1,"bucketCounts":["1","300"]},"negative":{"offset":2,"bucketCounts":["0"]},"min":0.1,"max":9.0,"zeroThreshold":0.001,"flags":1}],"aggregationTemporality":2}},
  {"name":"s","summary":{"dataPoints":[{"count":"2","sum":3.0,"quantileValues":[{"quantile":0.5,"value":1.0},{"quantile":1.0,"value":2.0}],"flags":0}]}}
 ]}]}]}"#;

fn corpus() -> Vec<(SignalKind, Vec<u8>)> {
    let mut corpus = vec![
        (SignalKind::Traces, encode::<Traces>(TRACES)),
        (SignalKind::Logs, encode::<Logs>(LOGS)),
        (SignalKind::Metrics, encode::<Metrics>(METRICS)),
    ];
    // The shared benchmark bodies, when they sit beside the project.
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/");
    for (kind, file) in [
        (SignalKind::Traces, "traces.pb"),
        (SignalKind::Logs, "logs.pb"),
        (SignalKind::Metrics, "metrics.pb"),
    ] {
        if let Ok(bytes) = std::fs::read(format!("{shared}{file}")) {
            // The first few KB: mutations then hit every level of nesting.
            corpus.push((kind, bytes[..bytes.len().min(4096)].to_vec()));
        }
    }
    corpus
}

fn encode<S: Signal>(json: &str) -> Vec<u8> {
    let request: S = serde_json::from_str(json).expect("the corpus is valid OTLP/JSON");
    request.encode_to_vec()
}

/// What decoding says: the item count, or an error.
fn decoded(kind: SignalKind, bytes: &[u8]) -> Option<usize> {
    decoded_ids(kind, bytes).map(|(count, _)| count)
}

/// The item count and whether some item has invalid ids, or an error.
fn decoded_ids(kind: SignalKind, bytes: &[u8]) -> Option<(usize, bool)> {
    fn of<S: Signal>(bytes: &[u8]) -> Option<(usize, bool)> {
        let mut request = S::decode(bytes).ok()?;
        let count = request.item_count();
        Some((count, drop_invalid(&mut request) > 0))
    }
    match kind {
        SignalKind::Traces => of::<Traces>(bytes),
        SignalKind::Logs => of::<Logs>(bytes),
        SignalKind::Metrics => of::<Metrics>(bytes),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Cut(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Cut),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let at = |i: &usize| i % bytes.len();
    match mutation {
        Mutation::Set(i, b) => {
            let i = at(i);
            bytes[i] = *b;
        }
        Mutation::Insert(i, b) => {
            let i = at(i);
            bytes.insert(i, *b);
        }
        Mutation::Remove(i) => {
            let i = at(i);
            bytes.remove(i);
        }
        Mutation::Cut(i) => {
            let i = at(i);
            bytes.truncate(i);
        }
    }
}

#[test]
fn the_corpus_is_valid_and_counted() {
    for (kind, bytes) in corpus().into_iter().take(3) {
        let count = decoded(kind, &bytes).expect("decodes");
        assert!(count >= 2, "{kind:?} has items");
        assert_eq!(validate(kind, &bytes), Ok(count), "{kind:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn wire_validation_agrees_with_decoding(
        pick in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let corpus = corpus();
        let (kind, mut bytes) = corpus[pick % corpus.len()].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let wire = check(kind, &bytes).ok().map(|c| (c.items, c.invalid_ids));
        prop_assert_eq!(wire, decoded_ids(kind, &bytes), "{:?}", kind);
    }
}

#[test]
fn invalid_ids_are_found_on_the_wire_as_when_decoded() {
    let span = |ids: &str| {
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"s"{ids}}}]}}]}}]}}"#)
    };
    let log = |ids: &str| {
        format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"eventName":"e"{ids}}}]}}]}}]}}"#
        )
    };
    let good_trace = r#","traceId":"5b8efff798038103d269b633813fc60c""#;
    let good_span = r#","spanId":"eee19b7ec3c1b174""#;
    let cases: Vec<(SignalKind, Vec<u8>, bool)> = vec![
        (
            SignalKind::Traces,
            encode::<Traces>(&span(&format!("{good_trace}{good_span}"))),
            false,
        ),
        (
            SignalKind::Traces,
            encode::<Traces>(&span(&format!(
                "{good_trace}{good_span},\"parentSpanId\":\"eee19b7ec3c1b173\""
            ))),
            false,
        ),
        (
            SignalKind::Traces,
            encode::<Traces>(&span(good_trace)),
            true,
        ),
        (SignalKind::Traces, encode::<Traces>(&span(good_span)), true),
        (
            SignalKind::Traces,
            encode::<Traces>(&span(&format!(
                "{good_trace},\"spanId\":\"eee19b7ec3c1b1\""
            ))),
            true,
        ),
        (
            SignalKind::Traces,
            encode::<Traces>(&span(
                &format!("\"traceId\":\"00000000000000000000000000000000\"{good_span}")
                    .replacen('"', ",\"", 1),
            )),
            true,
        ),
        (
            SignalKind::Traces,
            encode::<Traces>(&span(&format!(
                "{good_trace}{good_span},\"parentSpanId\":\"eeee\""
            ))),
            true,
        ),
        (SignalKind::Logs, encode::<Logs>(&log("")), false),
        (
            SignalKind::Logs,
            encode::<Logs>(&log(&format!("{good_trace}{good_span}"))),
            false,
        ),
        (
            SignalKind::Logs,
            encode::<Logs>(&log(",\"traceId\":\"5b8efff7\"")),
            true,
        ),
        (
            SignalKind::Logs,
            encode::<Logs>(&log(",\"spanId\":\"eee19b\"")),
            true,
        ),
    ];
    for (kind, bytes, invalid) in cases {
        let wire = check(kind, &bytes).unwrap();
        assert_eq!(wire.invalid_ids, invalid, "{kind:?} {bytes:?}");
        assert_eq!(
            decoded_ids(kind, &bytes),
            Some((1, invalid)),
            "{kind:?} {bytes:?}"
        );
    }
}
