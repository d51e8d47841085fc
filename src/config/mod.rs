//! Configuration: YAML shaped like the OpenTelemetry Collector's.
//!
//! Loading runs in stages so that one run reports every error with its file,
//! line and column: parse into a located tree (`node`), expand `${env:..}`
//! (`env`), then read each component on its own through its kind's reader
//! (`component`, `de`; the kinds are listed in `components.rs`) and check
//! the service section and the references of its pipelines (`graph`).
//!
//! This module knows no component kind: it is the framework components
//! read their settings with.

pub mod component;
pub mod de;
pub mod env;
pub mod graph;
pub mod model;
pub mod node;
pub mod telemetry;
pub mod units;

pub use model::*;
pub use node::Pos;
pub use telemetry::{LogFormat, LogsConfig, TelemetryConfig};

use std::fmt;
use std::path::Path;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.pos, self.message)
    }
}

/// Every problem found in one config file, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Reads a config file and builds it with `build`.
pub fn load_file<T>(path: &Path, build: Build<'_, T>) -> Result<T, ConfigErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, &file, &|name| std::env::var(name).ok(), build),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file,
            pos: Pos { line: 0, col: 0 },
            message: format!("cannot read the config file: {e}"),
        }])),
    }
}

/// Builds a config from its expanded tree, pushing every problem found;
/// `None` only when the document is too broken to say more.
pub type Build<'a, T> = &'a dyn Fn(&node::Located<node::Node>, &mut graph::Problems) -> Option<T>;

/// Loads config text; `file` names it in errors, `lookup` reads the environment.
pub fn load_str<T>(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    build: Build<'_, T>,
) -> Result<T, ConfigErrors> {
    let mut problems: graph::Problems = Vec::new();
    let config = match node::parse(text) {
        Err((pos, message)) => {
            problems.push((pos, message));
            None
        }
        Ok(mut tree) => {
            let mut env_errors = Vec::new();
            env::expand_tree(&mut tree, lookup, &mut env_errors);
            problems.extend(env_errors.into_iter().map(|e| (e.pos, e.message)));
            build(&tree, &mut problems)
        }
    };
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => {
            // One error per place, the first cause found: a value whose
            // `${env:..}` failed would otherwise also be reported as invalid.
            problems.sort_by_key(|(pos, _)| (pos.line, pos.col));
            problems.dedup_by_key(|(pos, _)| *pos);
            Err(ConfigErrors(
                problems
                    .into_iter()
                    .map(|(pos, message)| ConfigError {
                        file: file.to_owned(),
                        pos,
                        message,
                    })
                    .collect(),
            ))
        }
    }
}
