//! The settings of `threshold_alerts` and their checks.

use crate::config::component::Invalid;
use crate::config::units::Dur;
use serde::Deserialize;
use std::collections::HashSet;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdAlertsConfig {
    /// Each rule is judged once per window, over the spans of that window.
    pub window: Dur,
    /// Alerts watched at most (rule × service × model); more are ignored
    /// and counted in `ignis_alert_subjects_over_limit`.
    pub max_subjects: usize,
    pub rules: Vec<RuleConfig>,
}

impl Default for ThresholdAlertsConfig {
    fn default() -> Self {
        ThresholdAlertsConfig {
            window: Dur(Duration::from_secs(60)),
            max_subjects: 1000,
            rules: Vec::new(),
        }
    }
}

/// What a rule measures, per service, over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Spans with status ERROR over all spans (0 to 1).
    ErrorRate,
    /// Span durations' 95th percentile, in milliseconds.
    LatencyP95Ms,
    /// Span durations' 99th percentile, in milliseconds.
    LatencyP99Ms,
    /// Spans per second.
    RequestRate,
    /// GenAI tokens (input + output) in the window, per model.
    GenAiTokens,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::ErrorRate => "error_rate",
            Measure::LatencyP95Ms => "latency_p95_ms",
            Measure::LatencyP99Ms => "latency_p99_ms",
            Measure::RequestRate => "request_rate",
            Measure::GenAiTokens => "gen_ai_tokens",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Warn,
    Error,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub measure: Measure,
    /// Violated when the figure is above this...
    #[serde(default)]
    pub above: Option<f64>,
    /// ...or below this (exactly one of the two).
    #[serde(default)]
    pub below: Option<f64>,
    /// Only this service (`service.name`); every service when absent.
    #[serde(default)]
    pub service: Option<String>,
    /// Only this model (`gen_ai_tokens`); each model apart when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// Fires after this many violating windows in a row.
    #[serde(default = "two")]
    pub fire_after: u32,
    /// Resolves after this many good windows in a row.
    #[serde(default = "two")]
    pub resolve_after: u32,
    /// Windows with fewer spans say nothing about error rate or latency
    /// (one failed call of one is not a 100 % error rate worth a page).
    #[serde(default = "one")]
    pub min_spans: u64,
    #[serde(default)]
    pub severity: Severity,
}

fn two() -> u32 {
    2
}

fn one() -> u64 {
    1
}

impl RuleConfig {
    /// The threshold, and whether it is violated by `value`.
    pub fn violated_by(&self, value: f64) -> bool {
        match (self.above, self.below) {
            (Some(limit), _) => value > limit,
            (_, Some(limit)) => value < limit,
            _ => false,
        }
    }

    pub fn threshold(&self) -> f64 {
        self.above.or(self.below).unwrap_or_default()
    }
}

impl ThresholdAlertsConfig {
    pub fn check(&self) -> Result<(), Invalid> {
        if self.window.0.is_zero() || self.max_subjects == 0 {
            return Err(Invalid::new(
                "threshold_alerts needs window > 0 and max_subjects > 0",
            ));
        }
        if self.rules.is_empty() {
            return Err(Invalid::at(
                "rules",
                "threshold_alerts needs at least one rule (name, measure, above or below)",
            ));
        }
        let mut names = HashSet::new();
        for rule in &self.rules {
            let name = &rule.name;
            if name.is_empty() || !names.insert(name.as_str()) {
                return Err(Invalid::at(
                    "rules",
                    format!("every rule needs a name of its own (\"{name}\" is empty or repeated)"),
                ));
            }
            if rule.above.is_some() == rule.below.is_some() {
                return Err(Invalid::at(
                    "rules",
                    format!("rule {name}: set exactly one of above or below"),
                ));
            }
            if !rule.threshold().is_finite() {
                return Err(Invalid::at(
                    "rules",
                    format!("rule {name}: the threshold must be a number"),
                ));
            }
            if rule.fire_after == 0 || rule.resolve_after == 0 {
                return Err(Invalid::at(
                    "rules",
                    format!("rule {name}: fire_after and resolve_after must be at least 1"),
                ));
            }
            if rule.model.is_some() && rule.measure != Measure::GenAiTokens {
                return Err(Invalid::at(
                    "rules",
                    format!("rule {name}: model applies to measure gen_ai_tokens only"),
                ));
            }
        }
        Ok(())
    }
}
