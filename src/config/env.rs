//! `${env:VAR}` and `${env:VAR:-default}` expansion inside string values.
//!
//! Expansion runs on the parsed tree, never on the raw text, so an expanded
//! value cannot change the YAML structure. `$$` is a literal `$`. Nothing
//! else expands, an unset variable without a default is an error (a missing
//! secret mount should stop the agent, not send unauthenticated), and a value
//! containing a newline is refused (header injection).

use super::node::{Located, Node, Pos};

/// An expansion failure; the message names the variable, never its value.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvError {
    pub pos: Pos,
    pub message: String,
}

/// Expands every string in the tree, collecting every error.
pub fn expand_tree(
    node: &mut Located<Node>,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<EnvError>,
) {
    match &mut node.value {
        Node::Str { text, from_env } => match expand(text, lookup) {
            Ok(Some(expanded)) => {
                *text = expanded;
                *from_env = true;
            }
            Ok(None) => {}
            Err(message) => errors.push(EnvError {
                pos: node.pos,
                message,
            }),
        },
        Node::Seq(items) => items
            .iter_mut()
            .for_each(|item| expand_tree(item, lookup, errors)),
        Node::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, value)| expand_tree(value, lookup, errors)),
        _ => {}
    }
}

/// Expands one string; `Ok(None)` when it holds no `$` at all.
pub fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    if !text.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = rest.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| "unterminated `${` (write `$$` for a literal `$`)".to_owned())?;
            out.push_str(&resolve(&body[..end], lookup)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(Some(out))
}

fn resolve(reference: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let Some(spec) = reference.strip_prefix("env:") else {
        return Err(format!(
            "`${{{reference}}}` is not expanded: only ${{env:NAME}} and ${{env:NAME:-default}} are"
        ));
    };
    let (name, default) = match spec.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (spec, None),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(format!("`{name}` is not a valid environment variable name"));
    }
    let value = match (lookup(name), default) {
        (Some(value), _) => value,
        (None, Some(default)) => default.to_owned(),
        (None, None) => {
            return Err(format!(
            "environment variable {name} is not set (write ${{env:{name}:-default}} to allow that)"
        ))
        }
    };
    if value.contains(['\n', '\r']) {
        return Err(format!(
            "environment variable {name} contains a newline, which is refused"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(
            expand("Bearer ${env:KEY}", &env).unwrap().unwrap(),
            "Bearer s3cr3t"
        );
        assert_eq!(expand("${env:NOPE:-x:y}", &env).unwrap().unwrap(), "x:y");
        assert_eq!(expand("${env:EMPTY:-d}", &env).unwrap().unwrap(), "");
        assert_eq!(expand("$$5 and $x", &env).unwrap().unwrap(), "$5 and $x");
        assert_eq!(expand("plain", &env).unwrap(), None);
    }

    #[test]
    fn refuses_what_it_cannot_expand() {
        assert!(expand("${env:NOPE}", &env)
            .unwrap_err()
            .contains("NOPE is not set"));
        assert!(expand("${env:MULTI}", &env)
            .unwrap_err()
            .contains("newline"));
        assert!(expand("${file:/x}", &env)
            .unwrap_err()
            .contains("only ${env:NAME}"));
        assert!(expand("${env:KEY", &env)
            .unwrap_err()
            .contains("unterminated"));
        assert!(expand("${env:1X}", &env)
            .unwrap_err()
            .contains("not a valid"));
    }

    #[test]
    fn errors_never_contain_values() {
        let err = expand("${env:MULTI}", &env).unwrap_err();
        assert!(!err.contains("a\nb"));
    }
}
