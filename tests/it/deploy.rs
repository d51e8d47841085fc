//! The Kubernetes manifests in `deploy/`: valid against a pinned Kubernetes
//! version's schemas (`kubernetes-validate`, offline, strict), and the
//! agent configs they carry load.

use crate::common::python::python;
use ignis_agent::components;
use std::path::Path;
use std::process::Command;

const KUBERNETES: &str = "1.33.0";

fn manifests() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// The `config.yaml: |` block of a ConfigMap in `manifest`.
fn embedded_config(manifest: &str) -> Option<String> {
    let start = manifest.find("config.yaml: |\n")? + "config.yaml: |\n".len();
    let indent = manifest[start..].len() - manifest[start..].trim_start_matches(' ').len();
    let mut config = String::new();
    for line in manifest[start..].lines() {
        if line.trim().is_empty() {
            config.push('\n');
        } else if line.len() >= indent && line[..indent].trim().is_empty() {
            config.push_str(&line[indent..]);
            config.push('\n');
        } else {
            break;
        }
    }
    Some(config)
}

#[test]
fn manifests_are_valid_kubernetes() {
    let files = manifests();
    assert!(files.len() >= 2, "{files:?}");
    let validate = python().with_file_name("kubernetes-validate");
    let output = Command::new(validate)
        .args(["--strict", "-k", KUBERNETES])
        .args(&files)
        .output()
        .expect("kubernetes-validate runs");
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("passed for resource pod/checkout"), "{said}");
    assert!(
        said.contains("passed for resource deployment/ignis-gateway"),
        "{said}"
    );
}

#[test]
fn the_configs_they_carry_load_and_the_sidecars_is_the_shipped_one() {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.yaml")).unwrap();
    for file in manifests() {
        let manifest = std::fs::read_to_string(&file).unwrap();
        let config = embedded_config(&manifest).expect("a ConfigMap with config.yaml");
        components::load_str(&config, &file.display().to_string(), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        if file.ends_with("sidecar.yaml") {
            assert_eq!(
                config.trim_end(),
                shipped.trim_end(),
                "deploy/sidecar.yaml carries config.yaml"
            );
        }
    }
}
