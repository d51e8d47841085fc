//! Strings that hold JSON (a request body logged whole, a serialized
//! event): parsed, within bounds, and walked like a map, so the blocked-key
//! list applies to their keys at any depth and every string in them is
//! scanned with the key that holds it — what a pattern over the raw text
//! cannot do for a quoted value with spaces or escapes, a number under
//! `"pin"`, or a nested object under `"credentials"`.

use super::{RedactAction, Redaction, Site};
use serde_json::Value;

/// Larger strings are scanned as text only.
const MAX_LEN: usize = 64 * 1024;
/// JSON inside JSON inside ... is walked this deep.
pub const MAX_DEPTH: usize = 4;

fn looks_like_json(text: &str) -> bool {
    let t = text.trim();
    (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'))
}

/// `text` redacted as JSON: `None` when it is not JSON (or too large or
/// deep), `Some(None)` when walking it changed nothing.
pub fn redact(
    redaction: &Redaction,
    site: Site<'_>,
    text: &str,
    depth: usize,
) -> Option<Option<String>> {
    if depth >= MAX_DEPTH || text.len() > MAX_LEN || !looks_like_json(text) {
        return None;
    }
    let mut value: Value = serde_json::from_str(text).ok()?;
    let changed = walk(redaction, site, &mut value, depth);
    Some(changed.then(|| value.to_string()))
}

fn walk(redaction: &Redaction, site: Site<'_>, value: &mut Value, depth: usize) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (key, inner) in map.iter_mut() {
                if inner.is_null() {
                    continue;
                }
                if let Some(action) = redaction.blocked_key(site.location, key) {
                    // A JSON member is masked, never removed: the shape
                    // of the document stays what its readers expect.
                    let action = if action == RedactAction::Drop {
                        RedactAction::Mask
                    } else {
                        action
                    };
                    let text = match &*inner {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    *inner = Value::String(redaction.replacement("key", action, &text));
                    changed = true;
                    continue;
                }
                let site = Site {
                    location: site.location,
                    key: Some(key),
                };
                changed |= walk(redaction, site, inner, depth);
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            walk(redaction, site, item, depth) | changed
        }),
        Value::String(text) => match redaction.scan_depth(site, text, depth + 1) {
            Some((redacted, _)) => {
                *text = redacted;
                true
            }
            None => false,
        },
        _ => false,
    }
}
