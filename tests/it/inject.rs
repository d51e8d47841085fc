//! `ignis-agent inject` on real-world manifests (`tests/inject/`: Helm
//! output, multi-container pods, existing init containers and env, every
//! workload kind): the output is valid Kubernetes (kubernetes-validate,
//! offline, strict), injecting twice is injecting once, `--uninject` gives
//! back the input byte for byte, comments and unrelated documents survive,
//! and the sidecar is the one `deploy/sidecar.yaml` shows.

use crate::common::process::BIN;
use crate::common::python::python;
use ignis_agent::components;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KUBERNETES: &str = "1.33.0";

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inject");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Runs `ignis-agent inject ARGS` with `input` on stdin: success, stdout, stderr.
fn inject(args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .arg("inject")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn pod_spec(doc: &Value) -> Option<&Value> {
    match doc["kind"].as_str()? {
        "Pod" => Some(&doc["spec"]),
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => {
            Some(&doc["spec"]["template"]["spec"])
        }
        "CronJob" => Some(&doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

fn kubernetes_validate(yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("injected.yaml");
    std::fs::write(&file, yaml).unwrap();
    let output = Command::new(python().with_file_name("kubernetes-validate"))
        .args(["--strict", "-k", KUBERNETES])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs");
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}\n{yaml}");
}

#[test]
fn real_world_manifests_are_injected_validly_idempotently_and_reversibly() {
    let files = fixtures();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let input = std::fs::read_to_string(&file).unwrap();
        let name = file.display();
        let (ok, output, err) = inject(&["-"], &input);
        assert!(ok, "{name}: {err}");
        kubernetes_validate(&output);

        // Twice is once; uninject is the input, byte for byte.
        let (ok, twice, err) = inject(&["-"], &output);
        assert!(ok, "{name}: {err}");
        assert_eq!(twice, output, "{name}: a second inject changed it");
        let (ok, back, err) = inject(&["--uninject", "-"], &output);
        assert!(ok, "{name}: {err}");
        assert_eq!(back, input, "{name}: uninject did not give the input back");

        // Every comment of the input is still there.
        for line in input.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(output.contains(line), "{name}: lost {line:?}");
        }

        let before = documents(&input);
        let after = documents(&output);
        let mut namespaces = std::collections::BTreeSet::new();
        let mut workloads = 0;
        for (old, new) in before.iter().zip(&after) {
            let Some(spec) = pod_spec(new) else {
                assert_eq!(
                    old, new,
                    "{name}: a document that is not a workload changed"
                );
                continue;
            };
            workloads += 1;
            namespaces.insert(new["metadata"]["namespace"].as_str().map(str::to_string));
            let sidecar = &spec["initContainers"][0];
            assert_eq!(sidecar["name"], "ignis-agent", "{name}: {spec:#}");
            assert_eq!(sidecar["restartPolicy"], "Always");
            // The init containers it had run after the agent, in order.
            let old_spec = pod_spec(old).unwrap();
            let old_init = old_spec["initContainers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                &spec["initContainers"].as_array().unwrap()[1..],
                &old_init[..]
            );
            // Every app container exports to the agent, nowhere else.
            for container in spec["containers"].as_array().unwrap() {
                let endpoint = env_value(container, "OTEL_EXPORTER_OTLP_ENDPOINT");
                let http = env_value(container, "OTEL_EXPORTER_OTLP_PROTOCOL")
                    .is_some_and(|p| p.starts_with("http"));
                let expected = if http {
                    "http://localhost:4318"
                } else {
                    "http://localhost:4317"
                };
                assert_eq!(endpoint, Some(expected), "{name}: {container:#}");
                for signal in ["TRACES", "METRICS", "LOGS"] {
                    let variable = format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT");
                    assert_eq!(env_value(container, &variable), None, "{name}");
                }
            }
            let volumes: Vec<&str> = spec["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v["name"].as_str())
                .collect();
            for volume in ["ignis-agent-config", "ignis-agent-queue", "ignis-api-key"] {
                assert!(volumes.contains(&volume), "{name}: {volumes:?}");
            }
            // Everything else in the pod spec is as it was.
            for (key, value) in old_spec.as_object().unwrap() {
                if !["initContainers", "containers", "volumes"].contains(&key.as_str()) {
                    assert_eq!(&spec[key], value, "{name}: {key}");
                }
            }
        }
        assert!(workloads > 0, "{name}");
        // One ConfigMap per namespace, carrying a config that loads.
        let config_maps: Vec<&Value> = after[before.len()..].iter().collect();
        assert_eq!(config_maps.len(), namespaces.len(), "{name}");
        for config_map in config_maps {
            assert_eq!(config_map["kind"], "ConfigMap");
            assert_eq!(config_map["metadata"]["name"], "ignis-agent");
            let config = config_map["data"]["config.yaml"].as_str().unwrap();
            components::load_str_with(
                config,
                "config.yaml",
                &|_| None,
                &std::sync::Arc::new(ignis_agent::metrics::Registry::default()),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn the_sidecar_is_the_one_deploy_sidecar_yaml_shows() {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/sidecar.yaml"))
            .unwrap();
    let shipped = documents(&shipped);
    let pod = shipped.iter().find(|d| d["kind"] == "Pod").unwrap();
    let app = "apiVersion: v1\nkind: Pod\nmetadata: { name: checkout }\nspec:\n  containers:\n    - name: app\n      image: example/checkout:1.0\n";
    let (ok, output, err) = inject(&["--endpoint", "https://otlp.ignis.example:4317", "-"], app);
    assert!(ok, "{err}");
    let injected = documents(&output);
    let spec = pod_spec(&injected[0]).unwrap();
    assert_eq!(spec["initContainers"][0], pod["spec"]["initContainers"][0]);
    assert_eq!(spec["volumes"], pod["spec"]["volumes"]);
    assert_eq!(
        injected[1]["data"], shipped[0]["data"],
        "the shipped config"
    );
}

#[test]
fn what_cannot_be_injected_is_refused_naming_the_document_and_path() {
    let cases = [
        (
            "kind: Service\n---\nkind: Deployment\nmetadata: { name: web }\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          ports: [{ containerPort: 4317 }]\n",
            "document 2 (Deployment web): spec.template.spec.containers[0].ports: port 4317 is the agent's",
        ),
        (
            "kind: DaemonSet\nmetadata: { name: exporter }\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      containers: [{ name: e, image: e }]\n",
            "document 1 (DaemonSet exporter): spec.template.spec.hostNetwork",
        ),
        (
            "kind: Pod\nmetadata: { name: p }\nspec:\n  containers:\n    - name: a\n      env: [{ name: A, value: b }]\n",
            "document 1 (Pod p): spec.containers[0].env: written in flow style",
        ),
        (
            "kind: Pod\nmetadata: { name: p }\nspec:\n  volumes:\n    - { name: ignis-agent-queue, emptyDir: {} }\n  containers:\n    - name: a\n",
            "document 1 (Pod p): spec.volumes: a volume named `ignis-agent-queue`",
        ),
        (
            "kind: Job\nmetadata: { name: j }\nspec: { backoffLimit: 1 }\n",
            "document 1 (Job j): spec.template.spec: missing",
        ),
        ("kind: Pod\nspec: [unclosed\n", "(the YAML)"),
    ];
    for (input, expected) in cases {
        let (ok, output, err) = inject(&["-"], input);
        assert!(!ok, "{input}\n{output}");
        assert!(output.is_empty(), "nothing half-done on stdout: {output}");
        assert!(err.contains(expected), "{err}\nexpected {expected}");
    }
}

#[test]
fn keep_endpoint_leaves_the_apps_own_and_a_bad_config_is_refused() {
    let app = "kind: Pod\nmetadata: { name: p }\nspec:\n  containers:\n    - name: a\n      env:\n        - name: OTEL_EXPORTER_OTLP_ENDPOINT\n          value: http://collector:4317\n";
    let (ok, output, err) = inject(&["--keep-endpoint", "-"], app);
    assert!(ok, "{err}");
    let spec = documents(&output)[0]["spec"].clone();
    assert_eq!(
        env_value(&spec["containers"][0], "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("http://collector:4317")
    );
    assert_eq!(spec["initContainers"][0]["name"], "ignis-agent");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(
        &config,
        "receivers: { otlp: { protocols: { grpc: { endpoint: x } } } }\n",
    )
    .unwrap();
    let (ok, output, err) = inject(&["--config", config.to_str().unwrap(), "-"], app);
    assert!(!ok && output.is_empty(), "{output}");
    assert!(err.contains("bad.yaml"), "{err}");
}
