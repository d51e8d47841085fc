use super::*;
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

fn config(yaml_rules: Vec<RuleConfig>) -> ThresholdAlertsConfig {
    ThresholdAlertsConfig {
        window: crate::config::units::Dur(Duration::from_secs(10)),
        rules: yaml_rules,
        ..ThresholdAlertsConfig::default()
    }
}

fn rule(name: &str, measure: Measure, above: f64) -> RuleConfig {
    RuleConfig {
        name: name.into(),
        measure,
        above: Some(above),
        below: None,
        service: None,
        model: None,
        fire_after: 2,
        resolve_after: 2,
        min_spans: 1,
        severity: Severity::Error,
    }
}

/// `count` spans of `service`, `errors` of them failed, each `ms` long.
fn traces(
    service: &str,
    count: usize,
    errors: usize,
    ms: u64,
    model: Option<(&str, i64)>,
) -> Traces {
    let spans = (0..count)
        .map(|i| Span {
            name: "GET /".into(),
            start_time_unix_nano: 0,
            end_time_unix_nano: ms * 1_000_000,
            status: Some(Status {
                code: if i < errors { 2 } else { 1 },
                message: String::new(),
            }),
            attributes: model
                .map(|(m, tokens)| {
                    vec![
                        text("gen_ai.request.model", m),
                        kv("gen_ai.usage.input_tokens", Value::IntValue(tokens)),
                    ]
                })
                .unwrap_or_default(),
            ..Default::default()
        })
        .collect();
    Traces {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Runs one window: records `traces`, emits, and has the pipelines take
/// what came out. Returns the records' (state, service) pairs.
fn window(alerts: &ThresholdAlerts, traces: &[Traces]) -> Vec<(String, String, i32)> {
    for t in traces {
        alerts.record(t);
    }
    let out = match alerts.emit() {
        Some(Derived::Logs(logs)) => logs,
        None => Logs::default(),
        Some(_) => panic!("logs only"),
    };
    alerts.settled(true);
    out.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|r| {
            let attr = |k: &str| string_attribute(&r.attributes, k).unwrap().to_owned();
            (attr("state"), attr("service"), r.severity_number)
        })
        .collect()
}

fn active(registry: &Registry, rule: &str) -> u64 {
    registry
        .snapshot()
        .into_iter()
        .find(|(name, labels, _)| {
            *name == "ignis_alert_active" && labels.iter().any(|(k, v)| *k == "rule" && v == rule)
        })
        .map_or(0, |(_, _, v)| v)
}

#[test]
fn fires_after_n_bad_windows_and_resolves_after_m_good_ones() {
    let registry = Arc::new(Registry::default());
    let alerts = ThresholdAlerts::new(
        config(vec![rule("errors", Measure::ErrorRate, 0.05)]),
        "threshold_alerts".into(),
        Arc::clone(&registry),
    );
    let bad = || traces("checkout", 100, 10, 5, None);
    let good = || traces("checkout", 100, 1, 5, None);
    // One bad window is not enough; a good one resets the count.
    assert_eq!(window(&alerts, &[bad()]), []);
    assert_eq!(window(&alerts, &[good()]), []);
    assert_eq!(window(&alerts, &[bad()]), []);
    let fired = window(&alerts, &[bad()]);
    assert_eq!(fired, [("firing".into(), "checkout".into(), 17)]);
    assert_eq!(active(&registry, "errors"), 1);
    // Still bad: no new record.
    assert_eq!(window(&alerts, &[bad()]), []);
    assert_eq!(window(&alerts, &[good()]), []);
    assert_eq!(
        window(&alerts, &[good()]),
        [("resolved".into(), "checkout".into(), 17)]
    );
    assert_eq!(active(&registry, "errors"), 0);
}

#[test]
fn each_service_and_model_is_judged_apart() {
    let registry = Arc::new(Registry::default());
    let mut tokens = rule("tokens", Measure::GenAiTokens, 1000.0);
    tokens.fire_after = 1;
    let mut slow = rule("slow", Measure::LatencyP99Ms, 500.0);
    slow.fire_after = 1;
    slow.service = Some("api".into());
    let alerts = ThresholdAlerts::new(config(vec![tokens, slow]), "a".into(), registry);
    let fired = window(
        &alerts,
        &[
            traces("chat", 10, 0, 5, Some(("gpt-4o", 200))),
            traces("chat", 10, 0, 5, Some(("small", 1))),
            traces("api", 10, 0, 900, None),
            traces("web", 10, 0, 900, None),
        ],
    );
    // gpt-4o: 2000 tokens; small: 10. api is slow; web too, but the rule
    // watches api only.
    assert_eq!(
        fired,
        [
            ("firing".into(), "api".into(), 17),
            ("firing".into(), "chat".into(), 17)
        ]
    );
}

#[test]
fn a_silent_service_breaks_a_request_rate_floor_and_untaken_records_come_again() {
    let registry = Arc::new(Registry::default());
    let mut floor = rule("traffic", Measure::RequestRate, 0.0);
    floor.above = None;
    floor.below = Some(1.0);
    floor.fire_after = 1;
    floor.resolve_after = 1;
    let alerts = ThresholdAlerts::new(config(vec![floor]), "a".into(), registry);
    // 100 spans in 10 s: 10/s.
    alerts.record(&traces("cart", 100, 0, 5, None));
    assert!(alerts.emit().is_none());
    alerts.settled(true);
    // Then nothing: 0/s. The pipelines refuse the record once...
    let Some(Derived::Logs(first)) = alerts.emit() else {
        panic!("the silence fires")
    };
    alerts.settled(false);
    // ...and it is offered again with the next window's.
    let Some(Derived::Logs(again)) = alerts.emit() else {
        panic!("kept until taken")
    };
    alerts.settled(true);
    assert_eq!(first, again);
    assert!(alerts.emit().is_none());
}

#[test]
fn rules_are_checked() {
    let check = |r: RuleConfig| config(vec![r]).check().map_err(|e| e.message).err();
    let mut both = rule("x", Measure::ErrorRate, 0.1);
    both.below = Some(0.0);
    assert!(check(both)
        .unwrap()
        .contains("exactly one of above or below"));
    let mut model = rule("x", Measure::ErrorRate, 0.1);
    model.model = Some("m".into());
    assert!(check(model).unwrap().contains("gen_ai_tokens only"));
    let mut never = rule("x", Measure::ErrorRate, 0.1);
    never.fire_after = 0;
    assert!(check(never).unwrap().contains("at least 1"));
    assert!(check(rule("x", Measure::ErrorRate, 0.1)).is_none());
    let twice = config(vec![
        rule("x", Measure::ErrorRate, 0.1),
        rule("x", Measure::RequestRate, 1.0),
    ]);
    assert!(twice.check().unwrap_err().message.contains("repeated"));
}
