//! Property tests of the redaction processor with its defaults
//! (`redaction: {}`): a planted secret of every detector never survives
//! anywhere in a request, and benign look-alikes survive untouched.

use ignis_agent::metrics::Registry;
use ignis_agent::processors::on_wire::WireChain;
use ignis_agent::processors::redaction::Redaction;
use ignis_agent::processors::redaction::{RedactAction, RedactionConfig};
use ignis_agent::processors::resource_detection::ResourceDetection;
use ignis_agent::processors::resource_detection::ResourceDetectionConfig;
use ignis_agent::processors::Processor;
use ignis_agent::proto::common::v1::any_value::Value;
use ignis_agent::proto::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use ignis_agent::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use ignis_agent::proto::metrics::v1::metric::Data;
use ignis_agent::proto::metrics::v1::{
    Exemplar, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Summary, SummaryDataPoint,
};
use ignis_agent::proto::resource::v1::Resource;
use ignis_agent::proto::trace::v1::span::{Event, Link};
use ignis_agent::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use ignis_agent::signal::wire;
use ignis_agent::signal::SignalKind;
use ignis_agent::signal::{Logs, Metrics, Signal, Traces};
use proptest::prelude::*;
use prost::Message;
use std::sync::Arc;

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u32..10, n).prop_map(|d| {
        d.iter()
            .map(|d| char::from_digit(*d, 10).unwrap())
            .collect()
    })
}

fn luhn_digit(body: &str) -> u32 {
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 0 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

fn alnum(n: usize, upper_only: bool) -> impl Strategy<Value = String> {
    let chars: &'static [u8] = if upper_only {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    };
    proptest::collection::vec(0..chars.len(), n)
        .prop_map(move |ix| ix.iter().map(|i| chars[*i] as char).collect())
}

fn iban() -> impl Strategy<Value = String> {
    (digits(18), prop_oneof![Just("DE"), Just("FR"), Just("NL")]).prop_map(|(bban, country)| {
        // Check digits: 98 - (BBAN + country + "00") mod 97.
        let rearranged: String = format!("{bban}{country}00")
            .chars()
            .map(|c| c.to_digit(36).unwrap().to_string())
            .collect();
        let remainder = rearranged
            .chars()
            .fold(0u64, |r, c| (r * 10 + c.to_digit(10).unwrap() as u64) % 97);
        format!("{country}{:02}{bban}", 98 - remainder)
    })
}

/// One secret of each detector kind.
fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            "[a-z]{3,10}",
            "[a-z]{3,8}",
            prop_oneof![Just("com"), Just("io"), Just("co.uk")]
        )
            .prop_map(|(user, host, tld)| format!("{user}.x@{host}.{tld}")),
        (digits(15), prop_oneof![Just(""), Just(" "), Just("-")]).prop_map(|(body, sep)| {
            let number = format!("4{body}{}", luhn_digit(&format!("4{body}")));
            number
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(sep)
        }),
        (100u32..665, 10u32..99, 1000u32..9999).prop_map(|(a, g, s)| format!("{a}-{g}-{s}")),
        (digits(10)).prop_map(|d| format!("+4{d}")),
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        (0u16..0xffff, 0u16..0xffff).prop_map(|(a, b)| format!("2001:db8::{a:x}:{b:x}")),
        // RFC 7519: the header is base64url JSON naming its `alg`.
        (0usize..3, alnum(30, false), alnum(40, false)).prop_map(|(alg, p, s)| {
            let header = [
                "eyJhbGciOiJIUzI1NiJ9",
                "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",
                "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0",
            ][alg];
            format!("{header}.eyJ{p}.{s}")
        }),
        alnum(32, false).prop_map(|t| format!("Bearer {t}")),
        alnum(16, true).prop_map(|k| format!("AKIA{k}")),
        alnum(40, false)
            .prop_map(|k| format!("aws_secret_access_key={}", k.replace(['a', 'b'], "/"))),
        // GitHub's format: 30 random base62 and their CRC32 in base62.
        alnum(30, false).prop_map(|k| {
            const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            let mut n = crc32fast::hash(k.as_bytes());
            let mut check = [b'0'; 6];
            for slot in check.iter_mut().rev() {
                *slot = BASE62[(n % 62) as usize];
                n /= 62;
            }
            format!("ghp_{k}{}", std::str::from_utf8(&check).unwrap())
        }),
        alnum(24, false).prop_map(|k| format!("xoxb-1234-{k}")),
        iban(),
        alnum(64, false)
            .prop_map(|k| format!("-----BEGIN PRIVATE KEY-----\n{k}\n-----END PRIVATE KEY-----")),
    ]
}

/// Strings that look a little like secrets and must survive.
fn benign() -> impl Strategy<Value = String> {
    prop_oneof![
        // 16-digit ids that fail the Luhn check.
        digits(15).prop_map(|body| format!("{body}{}", (luhn_digit(&body) + 1) % 10)),
        // UUIDs and trace ids.
        (
            "[a-f][0-9a-f]{7}",
            "[a-f][0-9a-f]{3}",
            "[a-f][0-9a-f]{3}",
            "[a-f][0-9a-f]{11}"
        )
            .prop_map(|(a, b, c, d)| format!("{a}-{b}-4{}-{c}-{d}", &b[..3])),
        "[a-f][0-9a-f]{31}",
        (0u32..20, 0u32..50, 0u32..200).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        (2000u32..2030, 1u32..13, 1u32..29, 0u32..24, 0u32..60)
            .prop_map(|(y, m, d, h, mi)| format!("{y}-{m:02}-{d:02}T{h:02}:{mi:02}:07.123Z")),
        (1u32..5000).prop_map(|n| format!("{n}ms")),
        "GET /api/v[1-3]/orders/[a-z]{4,8}",
    ]
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn nested(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "inner".into(),
                    value: Some(AnyValue {
                        value: Some(Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue {
                                value: Some(Value::StringValue(format!("see {value} here"))),
                            }],
                        })),
                    }),
                    ..Default::default()
                }],
            })),
        }),
        ..Default::default()
    }
}

/// A request carrying `text` in every place data hides.
fn traces(text: &str) -> Traces {
    let wrapped = format!("user {text} did it");
    Traces {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("host.note", &wrapped)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: wrapped.clone(),
                    attributes: vec![string("msg", &wrapped), nested("ctx", text)],
                    events: vec![Event {
                        name: "exception".into(),
                        attributes: vec![string("exception.message", &wrapped)],
                        ..Default::default()
                    }],
                    links: vec![Link {
                        attributes: vec![string("why", &wrapped)],
                        ..Default::default()
                    }],
                    status: Some(Status {
                        message: wrapped.clone(),
                        code: 2,
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(text: &str) -> Logs {
    let wrapped = format!("login failed for {text}");
    Logs {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        body: Some(AnyValue {
                            value: Some(Value::StringValue(wrapped.clone())),
                        }),
                        attributes: vec![string("detail", &wrapped)],
                        ..Default::default()
                    },
                    LogRecord {
                        body: Some(AnyValue {
                            value: Some(Value::KvlistValue(KeyValueList {
                                values: vec![string("event", &wrapped), nested("data", text)],
                            })),
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Built once: compiling the detectors is the slow part in a debug build.
fn redaction() -> &'static Redaction {
    static REDACTION: std::sync::OnceLock<Redaction> = std::sync::OnceLock::new();
    REDACTION.get_or_init(|| {
        Redaction::new(
            &RedactionConfig::default(),
            &Arc::new(Registry::default()),
            "redaction",
        )
        .unwrap()
    })
}

/// The secret's telling part: for "Bearer xyz" the credential, for
/// "aws_secret_access_key=..." the key.
fn core(secret: &str) -> &str {
    secret
        .strip_prefix("Bearer ")
        .or_else(|| secret.strip_prefix("aws_secret_access_key="))
        .unwrap_or(secret)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn planted_secrets_never_survive(secret in secret()) {
        let r = redaction();
        let mut t = traces(&secret);
        r.apply(&mut t);
        let text = format!("{t:?}");
        prop_assert!(!text.contains(core(&secret)), "secret {:?} survived in {}", secret, text);
        let mut l = logs(&secret);
        r.apply(&mut l);
        let text = format!("{l:?}");
        prop_assert!(!text.contains(core(&secret)), "secret {:?} survived in {}", secret, text);
    }

    #[test]
    fn benign_look_alikes_survive(text in benign()) {
        let r = redaction();
        let original = traces(&text);
        let mut t = original.clone();
        r.apply(&mut t);
        prop_assert_eq!(t, original);
        let original = logs(&text);
        let mut l = original.clone();
        r.apply(&mut l);
        prop_assert_eq!(l, original);
    }
}

#[test]
fn blocked_keys_are_masked_whatever_they_hold_and_other_keys_kept() {
    let r = redaction();
    let mut t = traces("nothing secret");
    let span = &mut t.resource_spans[0].scope_spans[0].spans[0];
    span.attributes.push(string("db.password", "hunter2"));
    span.attributes
        .push(string("http.request.header.x-api-key", "k-123"));
    span.attributes.push(nested("request", "x"));
    if let Some(Value::KvlistValue(list)) = &mut span
        .attributes
        .last_mut()
        .unwrap()
        .value
        .as_mut()
        .unwrap()
        .value
    {
        list.values.push(string("refreshToken", "r-456"));
    }
    span.attributes
        .push(string("gen_ai.usage.input_tokens", "1200"));
    r.apply(&mut t);
    let text = format!("{t:?}");
    for secret in ["hunter2", "k-123", "r-456"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("1200"), "a token count is not a token");
    assert!(text.contains("nothing secret"));
}

#[test]
fn hashing_is_keyed_and_consistent() {
    let config = |key: &str| RedactionConfig {
        action: RedactAction::Hash,
        hash_key: Some(key.into()),
        ..RedactionConfig::default()
    };
    let registry = Arc::new(Registry::default());
    let a = Redaction::new(&config("key-one-0123456789"), &registry, "r").unwrap();
    let b = Redaction::new(&config("key-two-0123456789"), &registry, "r").unwrap();
    let run = |r: &Redaction| {
        let mut t = traces("alice@example.com");
        r.apply(&mut t);
        t.resource_spans[0].scope_spans[0].spans[0].name.clone()
    };
    assert_eq!(run(&a), run(&a), "equal inputs correlate");
    assert_ne!(run(&a), run(&b), "the key matters");
    assert!(run(&a).starts_with("user <email:"), "{}", run(&a));
    assert!(registry.total("ignis_redacted_values", &[("rule", "email")]) > 0);
}

#[test]
fn summaries_count_and_name_only_when_asked_and_allowed_keys_keep_only_those() {
    use ignis_agent::processors::redaction::RedactionSummary;
    let registry = Arc::new(Registry::default());
    let run = |config: RedactionConfig| {
        let r = Redaction::new(&config, &registry, "r").unwrap();
        let mut t = traces("bob@example.com");
        let span = &mut t.resource_spans[0].scope_spans[0].spans[0];
        span.attributes.push(string("password", "x"));
        span.attributes.push(string("http.route", "/pay"));
        r.apply(&mut t);
        t.resource_spans
            .swap_remove(0)
            .scope_spans
            .swap_remove(0)
            .spans
            .swap_remove(0)
            .attributes
    };
    let keys = |attrs: &[KeyValue]| attrs.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>();

    let plain = run(RedactionConfig::default());
    assert!(
        !keys(&plain).iter().any(|k| k.starts_with("redaction.")),
        "no summary by default"
    );

    let counted = run(RedactionConfig {
        summary: RedactionSummary::Count,
        ..RedactionConfig::default()
    });
    let count = counted
        .iter()
        .find(|kv| kv.key == "redaction.redacted.count")
        .unwrap();
    // msg (email), ctx (nested email), password.
    assert_eq!(
        count.value.as_ref().unwrap().value,
        Some(Value::IntValue(3))
    );
    assert!(!keys(&counted).contains(&"redaction.redacted.keys".to_string()));

    let named = run(RedactionConfig {
        summary: RedactionSummary::Names,
        ..RedactionConfig::default()
    });
    let names = format!(
        "{:?}",
        named
            .iter()
            .find(|kv| kv.key == "redaction.redacted.keys")
            .unwrap()
    );
    assert!(
        names.contains("password") && names.contains("msg"),
        "{names}"
    );

    let allowed = run(RedactionConfig {
        allowed_keys: vec!["http.route".into()],
        ..RedactionConfig::default()
    });
    assert_eq!(keys(&allowed), vec!["http.route"]);
}

// ---------------------------------------------------------------------------
// The wire path (`processors/on_wire.rs`) against the decoded path: the same
// processors, the same requests, the same result.

fn metrics(text: &str) -> Metrics {
    let point_attributes = vec![string("route", text), string("db.password", "x")];
    let exemplar = Exemplar {
        filtered_attributes: vec![string("user", text)],
        ..Default::default()
    };
    let metric = |name: &str, data: Data| Metric {
        name: name.into(),
        metadata: vec![string("note", text)],
        data: Some(data),
        ..Default::default()
    };
    Metrics {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource::default()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "s".into(),
                    attributes: vec![string("scope.note", text)],
                    ..Default::default()
                }),
                metrics: vec![
                    metric(
                        "g",
                        Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                attributes: point_attributes.clone(),
                                exemplars: vec![exemplar.clone()],
                                ..Default::default()
                            }],
                        }),
                    ),
                    metric(
                        "h",
                        Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: point_attributes.clone(),
                                exemplars: vec![exemplar],
                                bucket_counts: vec![1, 2],
                                explicit_bounds: vec![1.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "s",
                        Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                attributes: point_attributes,
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Chains that run on the wire: enrichment and redaction in both orders,
/// masking, hashing, dropping, and an allow-list.
fn chains() -> &'static [Vec<Arc<dyn Processor>>] {
    static CHAINS: std::sync::OnceLock<Vec<Vec<Arc<dyn Processor>>>> = std::sync::OnceLock::new();
    CHAINS.get_or_init(|| {
        let registry = Arc::new(Registry::default());
        let env = |k: &str| match k {
            "K8S_POD_NAME" => Some("checkout-7d9f".to_string()),
            "HOSTNAME" => Some("node-a".to_string()),
            _ => None,
        };
        let detect = |override_| {
            Arc::new(ResourceDetection::detect(
                &ResourceDetectionConfig {
                    override_,
                    ..Default::default()
                },
                &env,
            )) as Arc<dyn Processor>
        };
        let redact = |config: RedactionConfig| {
            Arc::new(Redaction::new(&config, &registry, "r").unwrap()) as Arc<dyn Processor>
        };
        vec![
            vec![detect(false), redact(RedactionConfig::default())],
            vec![redact(RedactionConfig {
                action: RedactAction::Hash,
                hash_key: Some("a-key-for-the-test-0123".into()),
                allowed_keys: vec!["msg".into(), "detail".into(), "route".into()],
                ..RedactionConfig::default()
            })],
            vec![
                redact(RedactionConfig {
                    blocked_key_action: Some(RedactAction::Drop),
                    detector_actions: [("email".to_string(), RedactAction::Drop)].into(),
                    ..RedactionConfig::default()
                }),
                detect(true),
            ],
        ]
    })
}

fn same_on_the_wire<S: Signal + std::fmt::Debug>(request: S) -> Result<(), TestCaseError> {
    same_bytes_on_the_wire::<S>(request.encode_to_vec())
}

fn same_bytes_on_the_wire<S: Signal + std::fmt::Debug>(
    encoded: Vec<u8>,
) -> Result<(), TestCaseError> {
    let request = S::decode(encoded.as_slice()).unwrap();
    prop_assert_eq!(
        wire::check(S::KIND, &encoded).unwrap().unknown_fields,
        false
    );
    for chain in chains() {
        let mut decoded = request.clone();
        for processor in chain {
            ignis_agent::processors::apply(&**processor, &mut decoded);
        }
        let on_wire = WireChain::new(chain).expect("these chains run on the wire");
        let out = on_wire
            .apply(S::KIND, &encoded)
            .unwrap_or_else(|| encoded.clone());
        prop_assert_eq!(S::decode(out.as_slice()).unwrap(), decoded);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_wire_path_redacts_as_the_decoded_path(
        text in prop_oneof![secret(), benign()],
        blocked in any::<bool>(),
    ) {
        let mut t = traces(&text);
        if blocked {
            let span = &mut t.resource_spans[0].scope_spans[0].spans[0];
            span.attributes.push(string("db.password", &text));
            span.attributes.push(KeyValue { key: "apiKey".into(), value: None, ..Default::default() });
        }
        same_on_the_wire(t)?;
        same_on_the_wire(logs(&text))?;
        same_on_the_wire(metrics(&text))?;
    }
}

#[test]
fn requests_with_unknown_fields_are_flagged_for_decoding() {
    let mut encoded = traces("x").encode_to_vec();
    // Field 15 of the request, a string: not in the schema.
    encoded.extend_from_slice(b"\x7a\x03a@b");
    assert!(
        wire::check(SignalKind::Traces, &encoded)
            .unwrap()
            .unknown_fields
    );
}

#[test]
fn a_resource_or_scope_given_twice_is_merged_as_decoding_merges_it() {
    let field = |number: u8, payload: &[u8]| {
        let mut out = vec![number << 3 | 2];
        prost::encoding::encode_varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    };
    let mut resource_spans = traces("a@b.example").resource_spans[0].encode_to_vec();
    let second = Resource {
        attributes: vec![string("k8s.pod.name", "mine"), string("ip", "10.0.0.1")],
        ..Default::default()
    };
    resource_spans.extend(field(1, &second.encode_to_vec()));
    let scope = InstrumentationScope {
        attributes: vec![string("owner", "c@d.example")],
        ..Default::default()
    };
    let scope_spans = [
        field(1, &scope.encode_to_vec()),
        field(1, &scope.encode_to_vec()),
    ]
    .concat();
    resource_spans.extend(field(2, &scope_spans));
    same_bytes_on_the_wire::<Traces>(field(1, &resource_spans)).unwrap();
}

/// The leak classes a corpus of planted secrets found (issue 12), from
/// their published formats: blocked keys inside free text, SSNs and E.164
/// numbers written with spaces, Slack app tokens and webhook URLs; and a
/// look-alike that was damaged: version numbers shaped like IPv4.
fn leak_class() -> impl Strategy<Value = (String, String)> {
    let value = "[A-Za-z0-9]{12,24}";
    prop_oneof![
        (
            prop_oneof![
                Just("passwd"),
                Just("password"),
                Just("client_secret"),
                Just("session_id"),
                Just("apiKey"),
                Just("access_token"),
                Just("x-api-key"),
                Just("refresh_token")
            ],
            value,
            0..5usize
        )
            .prop_map(|(key, v, shape)| {
                let text = match shape {
                    0 => format!("login failed {key}={v} for user 42"),
                    1 => format!(r#"payload {{"{key}": "{v}", "user": 42}}"#),
                    2 => format!("GET /cb?{key}={v}&page=2 HTTP/1.1"),
                    3 => format!("config {key}: '{v}' loaded"),
                    _ => format!("retrying with {key} = {v}"),
                };
                (text, v)
            }),
        (value).prop_map(|v| (format!("set-cookie=SID={v}; Path=/; HttpOnly"), v)),
        (value).prop_map(|v| (format!("Authorization: Bearer {v}"), v)),
        // SSNs: an area of 001-665 or 667-899, a group 01-99, a serial 0001-9999.
        (
            1u32..900,
            1u32..100,
            1u32..10000,
            prop_oneof![Just(' '), Just('.'), Just('-')]
        )
            .prop_filter("a valid area", |(a, ..)| *a != 666)
            .prop_map(|(a, g, s, sep)| {
                let ssn = format!("{a:03}{sep}{g:02}{sep}{s:04}");
                (format!("customer ssn {ssn} verified"), ssn)
            }),
        // E.164, grouped as each country writes its numbers.
        (0usize..6, "[0-9]{10}").prop_map(|(country, d)| {
            let n = match country {
                0 => format!("+44 7{} {}", &d[..3], &d[3..9]),
                1 => format!("+81 90 {} {}", &d[..4], &d[4..8]),
                2 => format!("+49 151 {}", &d[..8]),
                3 => format!("+33 6 {} {} {} {}", &d[..2], &d[2..4], &d[4..6], &d[6..8]),
                4 => format!("+1 (415) 555-{}", &d[..4]),
                _ => format!("+91 98{} {}", &d[..3], &d[3..8]),
            };
            (format!("call back on {n} please"), n)
        }),
        ("[A-Z0-9]{10}", "[0-9]{13}", "[a-f0-9]{64}").prop_map(|(a, b, c)| {
            let token = format!("xapp-1-A{a}-{b}-{c}");
            (format!("socket mode with {token}"), token)
        }),
        ("[A-Z0-9]{8}", "[A-Z0-9]{8}", "[A-Za-z0-9]{24}").prop_map(|(t, b, x)| {
            let url = format!("https://hooks.slack.com/services/T{t}/B{b}/{x}");
            (format!("posting alert to {url}"), url)
        }),
    ]
}

fn redacted_body(text: &str) -> String {
    let mut l = logs(text);
    redaction().apply(&mut l);
    format!("{l:?}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_leak_classes_found_by_the_corpus_are_closed((text, secret) in leak_class()) {
        let redacted = redacted_body(&text);
        prop_assert!(!redacted.contains(&secret), "{:?} survived in {}", secret, redacted);
        same_on_the_wire(logs(&text))?;
    }

    #[test]
    fn version_numbers_shaped_like_ipv4_survive(a in 1u8..30, b in 0u8..100, c in 0u8..100, d in 0u8..250) {
        let version = format!("{a}.{b}.{c}.{d}");
        for text in [format!("upgraded to version {version}"), format!("build {version} deployed")] {
            prop_assert!(redacted_body(&text).contains(&version), "{} damaged", text);
        }
        let mut t = traces("hello");
        t.resource_spans[0].resource.as_mut().unwrap().attributes.push(string("service.version", &version));
        let original = t.clone();
        redaction().apply(&mut t);
        prop_assert_eq!(&t, &original);
        same_on_the_wire(original)?;
        // An address after other words is still one.
        let address = format!("client {version} connected");
        prop_assert!(!redacted_body(&address).contains(&version));
    }
}

#[test]
fn a_look_alike_key_does_not_shield_the_next_one() {
    for (text, secret) in [
        ("token_count=5 password=hunter2hunter2", "hunter2hunter2"),
        ("monkey=1 password=hunter2hunter2", "hunter2hunter2"),
        (
            "gen_ai.usage.input_tokens: 12 api_key=skabcdef123456",
            "skabcdef123456",
        ),
    ] {
        let redacted = redaction().text(text).unwrap();
        assert!(!redacted.contains(secret), "{redacted}");
    }
    // Only the blocked key's value goes.
    assert_eq!(
        redaction().text("password=abc user=johnsmith").unwrap(),
        "password=<redacted:key_value> user=johnsmith"
    );
    assert_eq!(
        redaction()
            .text("Authorization: Bearer abcdefgh12345678 done")
            .unwrap(),
        "Authorization: <redacted:http_authorization> done"
    );
}

#[test]
fn blocked_keys_in_text_keep_the_key_and_lose_the_value() {
    let redacted = redaction()
        .text("login failed passwd=hunter2xyz for user 42; token_count=7")
        .unwrap();
    assert_eq!(
        redacted,
        "login failed passwd=<redacted:key_value> for user 42; token_count=7"
    );
}
