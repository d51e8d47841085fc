//! The `redaction` processor's settings and their rules.

use super::detectors;
use crate::config::component::Invalid;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `redaction`. `redaction: {}` turns on every built-in detector and the
/// blocked-key list, masking what they find.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionConfig {
    /// `audit` leaves every value as it is and reports what each rule
    /// would have redacted (`GET /api/redaction`, `/metrics`).
    pub mode: RedactionMode,
    pub action: RedactAction,
    /// Only these built-in detectors (all when absent).
    pub detectors: Option<Vec<String>>,
    pub disable_detectors: Vec<String>,
    /// Per-detector action, e.g. `{ email: hash }`.
    pub detector_actions: BTreeMap<String, RedactAction>,
    /// Keys blocked besides the built-in list.
    pub blocked_keys: Vec<String>,
    pub default_blocked_keys: bool,
    pub blocked_key_action: Option<RedactAction>,
    /// When set, only these attributes survive on spans, events, links, log
    /// records and data points (resource and scope attributes are kept).
    pub allowed_keys: Vec<String>,
    pub custom: Vec<CustomDetector>,
    /// The HMAC-SHA256 key for `hash`: at least 16 bytes, from a secret.
    pub hash_key: Option<String>,
    /// Summary attributes on items that had something redacted.
    pub summary: RedactionSummary,
    /// Literals of database statements and identifying parts of URLs.
    pub sanitize: Sanitize,
}

/// `sanitize`: both on by default — a statement's literals and a URL's ids
/// are personal data as often as not.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sanitize {
    /// `db.statement`, `db.query.text`: SQL, Redis, Memcached, MongoDB and
    /// Elasticsearch literals become `?`.
    pub statements: bool,
    /// `url.full`, `http.url`, `url.original`, `url.path`, `http.target`,
    /// `url.query`, and paths in span names: ids, tokens and emails in path
    /// segments and query values become `*`.
    pub urls: bool,
}

impl Default for Sanitize {
    fn default() -> Self {
        Sanitize {
            statements: true,
            urls: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedactionSummary {
    #[default]
    None,
    /// `redaction.redacted.count`.
    Count,
    /// The count and `redaction.redacted.keys` (the attribute keys).
    Names,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            mode: RedactionMode::Redact,
            action: RedactAction::Mask,
            detectors: None,
            disable_detectors: Vec::new(),
            detector_actions: BTreeMap::new(),
            blocked_keys: Vec::new(),
            default_blocked_keys: true,
            blocked_key_action: None,
            allowed_keys: Vec::new(),
            custom: Vec::new(),
            hash_key: None,
            summary: RedactionSummary::None,
            sanitize: Sanitize::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedactionMode {
    #[default]
    Redact,
    Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedactAction {
    /// Keep the key, replace what was found with `<redacted:rule>`.
    #[default]
    Mask,
    /// Replace with a keyed hash, so equal values still correlate.
    Hash,
    /// Remove the attribute.
    Drop,
    /// Leave the value; count the finding by detector, location and key.
    Report,
}

impl RedactAction {
    pub fn name(self) -> &'static str {
        match self {
            RedactAction::Mask => "mask",
            RedactAction::Hash => "hash",
            RedactAction::Drop => "drop",
            RedactAction::Report => "report",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    pub name: String,
    pub regex: String,
    #[serde(default)]
    pub action: Option<RedactAction>,
}

impl RedactionConfig {
    /// Detector names exist; hashing has a key long enough not to be reversed.
    pub(super) fn check(&self) -> Result<(), Invalid> {
        let known: Vec<&str> = detectors::all().map(|(_, d)| d.name).collect();
        let names = self
            .detectors
            .iter()
            .flatten()
            .chain(&self.disable_detectors)
            .chain(
                self.detector_actions
                    .keys()
                    .filter(|k| !self.custom.iter().any(|d| &d.name == *k)),
            );
        for name in names {
            if !known.contains(&name.as_str()) {
                // Detectors of earlier versions that became several.
                let became = match name.as_str() {
                    "vendor_token" => " (now github_token, github_fine_grained_token, slack_token, slack_app_token, stripe_key, gitlab_token, npm_token and the other vendors' own)",
                    "webhook_url" => " (now slack_webhook and chat_webhook)",
                    _ => "",
                };
                return Err(Invalid::new(format!(
                    "unknown detector `{name}`{became} (built in: {})",
                    known.join(", ")
                )));
            }
        }
        let hashes = self.action == RedactAction::Hash
            || self.blocked_key_action == Some(RedactAction::Hash)
            || self
                .detector_actions
                .values()
                .any(|a| *a == RedactAction::Hash)
            || self
                .custom
                .iter()
                .any(|d| d.action == Some(RedactAction::Hash));
        let hashes = hashes && self.mode == RedactionMode::Redact;
        if hashes && self.hash_key.as_ref().is_none_or(|k| k.len() < 16) {
            return Err(Invalid::new(
                "hash needs a `hash_key` of at least 16 bytes, e.g. ${env:IGNIS_REDACTION_KEY}: an unkeyed hash of a short value can be reversed",
            ));
        }
        if self.custom.len() + known.len() > super::engine::MAX_RULES {
            return Err(Invalid::at(
                "custom",
                format!(
                    "at most {} custom detectors",
                    super::engine::MAX_RULES - known.len()
                ),
            ));
        }
        Ok(())
    }

    /// The action a detector's findings get.
    pub fn action_of(&self, detector: &str, custom: Option<RedactAction>) -> RedactAction {
        if self.mode == RedactionMode::Audit {
            return RedactAction::Report;
        }
        custom
            .or_else(|| self.detector_actions.get(detector).copied())
            .unwrap_or(self.action)
    }
}
