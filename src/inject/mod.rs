//! `ignis-agent inject`: the sidecar without an operator, as `linkerd
//! inject` does for its proxy. Reads Kubernetes YAML, adds the agent as a
//! native sidecar to every workload (Pod, Deployment, StatefulSet,
//! DaemonSet, ReplicaSet, Job, CronJob), points the apps at it, and emits
//! the ConfigMap holding its config; other kinds pass through untouched.
//!
//! The text is edited in place (`tree.rs` knows where every node is), so
//! comments, quoting and unrelated fields survive. What inject adds sits
//! between marker comments, and what it replaces is kept as a comment, so
//! that `--uninject` restores the input exactly and a second inject
//! changes nothing.

mod sidecar;
mod tree;

use std::collections::BTreeSet;
use tree::{Map, Node, Seq};

const BEGIN: &str = "# ignis-agent inject: begin";
const END: &str = "# ignis-agent inject: end";
const WAS: &str = "# ignis-agent inject, was: ";

/// What to inject.
pub struct Options {
    pub image: String,
    /// `IGNIS_ENDPOINT` for the agent; its config's default when `None`.
    pub endpoint: Option<String>,
    /// The agent config the ConfigMap carries.
    pub config: String,
    /// Leave an app's own `OTEL_EXPORTER_OTLP_*ENDPOINT` as it is.
    pub keep_endpoint: bool,
}

/// What went wrong, naming the document and the path in it.
#[derive(Debug, thiserror::Error)]
#[error("document {document}{what}: {path}: {message}")]
pub struct InjectError {
    document: usize,
    what: String,
    path: String,
    message: String,
}

/// Where a workload kind keeps its pod spec.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &["spec", "template", "spec"]
        }
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

/// `text` with the sidecar added to every workload in it.
pub fn inject(text: &str, options: &Options) -> Result<String, InjectError> {
    let documents = tree::parse(text).map_err(|message| InjectError {
        document: 0,
        what: String::new(),
        path: "(the YAML)".into(),
        message,
    })?;
    let mut edits = Edits::default();
    // Namespaces that need the ConfigMap, and those whose input has one.
    let mut need: BTreeSet<Option<String>> = BTreeSet::new();
    let mut have: BTreeSet<Option<String>> = BTreeSet::new();
    for (index, root) in documents.iter().enumerate() {
        let Some(root) = root.as_ref().and_then(Node::map) else {
            continue;
        };
        let kind = root.get("kind").and_then(Node::str).unwrap_or("");
        let name = root.at(&["metadata", "name"]).and_then(Node::str);
        let namespace = root
            .at(&["metadata", "namespace"])
            .and_then(Node::str)
            .map(str::to_string);
        if kind == "ConfigMap" && name == Some(sidecar::NAME) {
            have.insert(namespace);
            continue;
        }
        let Some(path) = pod_spec_path(kind) else {
            continue;
        };
        let fail = |path: &str, message: &str| InjectError {
            document: index + 1,
            what: format!(" ({kind} {})", name.unwrap_or("unnamed")),
            path: path.to_string(),
            message: message.to_string(),
        };
        let spec_path = path.join(".");
        let spec = root
            .at(path)
            .and_then(Node::map)
            .ok_or_else(|| fail(&spec_path, "missing: no pod spec to add the sidecar to"))?;
        let mut pod = PodEdits {
            text,
            spec,
            spec_path: &spec_path,
            edits: &mut edits,
            fail: &fail,
        };
        if pod.inject(options)? {
            need.insert(namespace);
        }
    }
    let mut out = edits.apply(text).ok_or_else(cannot_edit_layout)?;
    for namespace in need.difference(&have) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(BEGIN);
        out.push_str("\n---\n");
        out.push_str(&sidecar::config_map(namespace.as_deref(), &options.config));
        out.push_str(END);
        out.push('\n');
    }
    // The edits are made to lines; a layout they do not fit (a multi-line
    // scalar beside an edit, say) is refused rather than written broken.
    let (back, before) = (uninject(&out), uninject(text));
    let reversible = back == before || back.strip_suffix('\n') == Some(&before);
    if !reversible || tree::parse(&out).is_err() {
        return Err(cannot_edit_layout());
    }
    Ok(out)
}

fn cannot_edit_layout() -> InjectError {
    InjectError {
        document: 0,
        what: String::new(),
        path: "(the YAML)".into(),
        message: "the sidecar cannot be added to this layout without breaking it; \
                  write the pod specs in plain block style"
            .into(),
    }
}

/// `text` as it was before `inject`: its additions removed, what it
/// replaced restored.
pub fn uninject(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed == BEGIN {
            inside = true;
            continue;
        }
        if inside {
            inside = trimmed != END;
            continue;
        }
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        match line[indent..].strip_prefix(WAS) {
            Some(original) => {
                out.push_str(&line[..indent]);
                out.push_str(original);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The edits to one pod spec.
struct PodEdits<'a, F: Fn(&str, &str) -> InjectError> {
    text: &'a str,
    spec: &'a Map,
    spec_path: &'a str,
    edits: &'a mut Edits,
    fail: &'a F,
}

impl<F: Fn(&str, &str) -> InjectError> PodEdits<'_, F> {
    /// Adds the sidecar; false if it is there already.
    fn inject(&mut self, options: &Options) -> Result<bool, InjectError> {
        let spec = self.spec;
        let containers_path = format!("{}.containers", self.spec_path);
        let containers = spec
            .get("containers")
            .and_then(Node::seq)
            .filter(|s| !s.items.is_empty())
            .ok_or_else(|| (self.fail)(&containers_path, "missing or empty"))?;
        let init = spec.get("initContainers");
        let already = |seq: Option<&Seq>| {
            seq.is_some_and(|s| {
                s.items.iter().any(|c| {
                    c.map().and_then(|c| c.get("name")).and_then(Node::str) == Some(sidecar::NAME)
                })
            })
        };
        if already(init.and_then(Node::seq)) {
            return Ok(false);
        }
        if already(Some(containers)) {
            return Err((self.fail)(
                &containers_path,
                "an `ignis-agent` container is already here (not as a native sidecar): remove it first",
            ));
        }
        self.refuse_clashes(containers, &containers_path)?;

        let app = containers.items[0]
            .map()
            .and_then(|c| c.get("name"))
            .and_then(Node::str)
            .unwrap_or("app");
        let container = sidecar::container(&sidecar::Sidecar {
            image: &options.image,
            endpoint: options.endpoint.as_deref(),
            app,
        });
        // First among the init containers: the others may send telemetry.
        self.add_items(spec, "initContainers", &container, true)?;
        for (i, container) in containers.items.iter().enumerate() {
            let path = format!("{containers_path}[{i}]");
            let container = container
                .map()
                .ok_or_else(|| (self.fail)(&path, "not a mapping"))?;
            self.point_at_agent(container, &path, options.keep_endpoint)?;
        }
        self.add_items(spec, "volumes", sidecar::volumes(), false)?;
        Ok(true)
    }

    /// What the pod would be refused for, or fail on, with the sidecar.
    fn refuse_clashes(&self, containers: &Seq, containers_path: &str) -> Result<(), InjectError> {
        if self.spec.get("hostNetwork").and_then(Node::str) == Some("true") {
            return Err((self.fail)(
                &format!("{}.hostNetwork", self.spec_path),
                "the pod uses the node's network: a sidecar there would take the node's \
                 ports 4317, 4318 and 13133; run the gateway (deploy/gateway.yaml) for such pods",
            ));
        }
        for (i, container) in containers.items.iter().enumerate() {
            let ports = container
                .map()
                .and_then(|c| c.get("ports"))
                .and_then(Node::seq)
                .map_or(&[][..], |p| &p.items[..]);
            for port in ports {
                let number = port
                    .map()
                    .and_then(|p| p.get("containerPort"))
                    .and_then(Node::str);
                if let Some(n) = number.and_then(|n| n.parse::<u16>().ok()) {
                    if sidecar::PORTS.contains(&n) {
                        return Err((self.fail)(
                            &format!("{containers_path}[{i}].ports"),
                            &format!(
                                "port {n} is the agent's; the pod's containers share one network"
                            ),
                        ));
                    }
                }
            }
        }
        let volumes = self.spec.get("volumes");
        for volume in volumes
            .and_then(Node::seq)
            .map_or(&[][..], |v| &v.items[..])
        {
            if let Some(name) = volume.map().and_then(|v| v.get("name")).and_then(Node::str) {
                if sidecar::VOLUMES.contains(&name) {
                    return Err((self.fail)(
                        &format!("{}.volumes", self.spec_path),
                        &format!("a volume named `{name}` is already here"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sets `OTEL_EXPORTER_OTLP_ENDPOINT` in one app container, setting
    /// aside (as comments) the endpoints it had unless `keep`.
    fn point_at_agent(
        &mut self,
        container: &Map,
        path: &str,
        keep: bool,
    ) -> Result<(), InjectError> {
        let env = container.get("env").and_then(Node::seq);
        fn variable(item: &Node) -> Option<(&str, Option<&str>)> {
            let item = item.map()?;
            Some((
                item.get("name")?.str()?,
                item.get("value").and_then(Node::str),
            ))
        }
        let mut http = false;
        let mut theirs = Vec::new();
        for item in env.map_or(&[][..], |e| &e.items[..]) {
            match variable(item) {
                Some(("OTEL_EXPORTER_OTLP_PROTOCOL", Some(protocol))) => {
                    http = protocol.starts_with("http");
                }
                Some((name, _)) if sidecar::ENDPOINT_VARIABLES.contains(&name) => theirs.push(item),
                _ => {}
            }
        }
        let ours = |item: &&Node| {
            variable(item).is_some_and(|(name, value)| {
                name == "OTEL_EXPORTER_OTLP_ENDPOINT"
                    && value.is_some_and(|v| v.starts_with("http://localhost:431"))
            })
        };
        if (keep && !theirs.is_empty()) || (theirs.len() == 1 && theirs.iter().all(ours)) {
            return Ok(());
        }
        if env.is_some_and(|e| e.flow && !e.items.is_empty()) {
            return Err((self.fail)(
                &format!("{path}.env"),
                "written in flow style ([...]): write it as a block list to inject",
            ));
        }
        for item in theirs {
            let (start, end) = self.item_lines(item, &format!("{path}.env"))?;
            self.edits.comment_out(self.text, start, end);
        }
        self.add_items(container, "env", &sidecar::endpoint_variable(http), false)
    }

    /// Adds `items` (a block list at indentation 0) to the list under
    /// `key` in `map`: first or last, creating the key if missing or
    /// empty.
    fn add_items(
        &mut self,
        map: &Map,
        key: &str,
        items: &str,
        first: bool,
    ) -> Result<(), InjectError> {
        let text = self.text;
        let path = format!("{}.{key}", self.map_path(map));
        if map.flow {
            return Err((self.fail)(
                &self.map_path(map),
                "written in flow style ({...}): write it as a block mapping to inject",
            ));
        }
        match map.entry(key) {
            Some((_, Node::Seq(seq))) if !seq.flow && !seq.items.is_empty() => {
                let column = self.dash(seq.items[0].start(), &path)?;
                let line = line_start(text, column);
                let indent = column - line;
                let at = if first {
                    line
                } else {
                    line_after(text, seq.end)
                };
                self.edits.insert(at, marked(items, indent), indent);
            }
            Some((name, value)) => {
                // Empty (`[]`, `~`, nothing): set aside, written anew.
                let empty = match value {
                    Node::Seq(s) => s.items.is_empty(),
                    Node::Scalar(s) => matches!(s.value.as_str(), "" | "~" | "null"),
                    Node::Map(_) => false,
                };
                if !empty {
                    return Err((self.fail)(&path, "not a list"));
                }
                let line = line_start(text, name.start);
                if !text[line..name.start].trim().is_empty() {
                    return Err((self.fail)(
                        &path,
                        "shares its line with another key: cannot edit it",
                    ));
                }
                // An empty value's span may run on to the next token.
                let value_end = match value {
                    Node::Scalar(s) if s.start == s.end => name.end,
                    _ => value.end().max(name.end),
                };
                let end = line_after(text, value_end);
                self.edits.comment_out(text, line, end);
                let block = format!("{key}:\n{}", indented(items, 2));
                let indent = name.start - line;
                self.edits.insert(end, marked(&block, indent), indent);
            }
            None => {
                let line = line_start(text, map.start);
                let indent = map.start - line;
                let block = format!("{key}:\n{}", indented(items, 2));
                self.edits
                    .insert(line_after(text, map.end), marked(&block, indent), indent);
            }
        }
        Ok(())
    }

    /// The path of `map` for messages (the pod spec, or a container in it).
    fn map_path(&self, map: &Map) -> String {
        if std::ptr::eq(map, self.spec) {
            return self.spec_path.to_string();
        }
        let containers = self.spec.get("containers").and_then(Node::seq);
        let index = containers.and_then(|c| {
            c.items
                .iter()
                .position(|n| n.map().is_some_and(|m| std::ptr::eq(m, map)))
        });
        match index {
            Some(i) => format!("{}.containers[{i}]", self.spec_path),
            None => self.spec_path.to_string(),
        }
    }

    /// The offset of the `-` that starts the list item beginning at `start`.
    fn dash(&self, start: usize, path: &str) -> Result<usize, InjectError> {
        let before = self.text[..start].trim_end();
        if before.ends_with('-') {
            Ok(before.len() - 1)
        } else {
            Err((self.fail)(path, "a list item without a `-`"))
        }
    }

    /// The whole lines of a block list item: from its `-` line to the end
    /// of its last line.
    fn item_lines(&self, item: &Node, path: &str) -> Result<(usize, usize), InjectError> {
        let dash = self.dash(item.start(), path)?;
        let line = line_start(self.text, dash);
        if !self.text[line..dash].trim().is_empty() {
            return Err((self.fail)(
                path,
                "an item that shares its line: cannot edit it",
            ));
        }
        Ok((line, line_after(self.text, item.end())))
    }
}

/// Text edits by offset into the original, applied at once: (start, end,
/// replacement, indentation of an insertion).
#[derive(Default)]
struct Edits(Vec<(usize, usize, String, usize)>);

impl Edits {
    /// `text` (whole lines, indented by `indent`) inserted at `at`.
    fn insert(&mut self, at: usize, text: String, indent: usize) {
        self.0.push((at, at, text, indent));
    }

    /// Lines `start..end` kept as `WAS` comments, indentation kept.
    fn comment_out(&mut self, text: &str, start: usize, end: usize) {
        let mut commented = String::new();
        for line in text[start..end].split_inclusive('\n') {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            commented.push_str(&line[..indent]);
            commented.push_str(WAS);
            commented.push_str(&line[indent..]);
        }
        if !commented.ends_with('\n') {
            commented.push('\n');
        }
        self.0.push((start, end, commented, 0));
    }

    /// The edited text; `None` if two edits overlap.
    fn apply(mut self, text: &str) -> Option<String> {
        // By position. At one position, insertions before a replacement
        // (they end what comes before the replaced lines), and of two
        // insertions (the end of a container that ends its pod spec, say)
        // the deeper block first: it ends the inner mapping, then the
        // outer one goes on.
        self.0.sort_by_key(|(start, end, _, indent)| {
            (*start, end > start, std::cmp::Reverse(*indent))
        });
        let mut out = String::with_capacity(text.len() + 4096);
        let mut at = 0;
        for (start, end, replacement, _) in &self.0 {
            out.push_str(text.get(at..*start)?);
            if *start > 0 && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(replacement);
            at = *end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }
}

/// `block` between the markers, every line indented by `indent`.
fn marked(block: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    format!("{pad}{BEGIN}\n{}{pad}{END}\n", indented(block, indent))
}

fn indented(block: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::with_capacity(block.len() + 64);
    for line in block.lines() {
        if !line.is_empty() {
            out.push_str(&pad);
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The offset where the line holding `at` begins.
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |n| n + 1)
}

/// The offset just past the line holding the character before `end`.
fn line_after(text: &str, end: usize) -> usize {
    // Bytes: the character before `end` may be wider than one.
    let from = end.saturating_sub(1);
    text.as_bytes()[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |n| from + n + 1)
}
