//! Exporters over TLS and mutual TLS, against a real TLS server.

use crate::common;

use bytes::Bytes;
use common::client::{grpc_export, spans};
use common::sink::{Sink, SinkState};
use common::{addr, agent_yaml, fast_delivery, start_agent, wait_until};
use ignis_agent::signal::Traces;
use prost::Message;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all in
/// a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["agent".to_string()])
            .unwrap()
            .signed_by(&client_key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("client.pem"), client.pem()).unwrap();
        std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        Pki {
            ca: ca.der().clone(),
            server_cert: server.der().clone(),
            server_key: server_key.serialize_der(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn server_config(&self, require_client_cert: bool) -> rustls::ServerConfig {
        let builder = rustls::ServerConfig::builder_with_provider(Self::provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Self::provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        builder
            .with_single_cert(vec![self.server_cert.clone()], key)
            .unwrap()
    }
}

/// Sends 5 spans through an agent exporting with `exporter` settings and
/// reports whether the TLS sink received them within `wait`.
async fn delivered(kind: &str, exporter: String, state: &Arc<SinkState>, wait: Duration) -> bool {
    let agent = start_agent(&agent_yaml(kind, &format!("{exporter}{}", fast_delivery()))).await;
    grpc_export::<Traces>(
        addr(&agent, "otlp/grpc"),
        Bytes::from(spans(0, 5).encode_to_vec()),
        None,
    )
    .await
    .unwrap();
    let state = state.clone();
    let ok = wait_until(wait, || state.items::<Traces>() == 5).await;
    drop(agent);
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_exporters_verify_the_server_with_ca_file() {
    let pki = Pki::new();
    for kind in ["otlp_grpc", "otlp_http"] {
        let (addr, state) = Sink::start_tls(pki.server_config(false)).await;
        let exporter = format!(
            "    endpoint: https://{addr}\n    tls: {{ ca_file: {} }}\n",
            pki.path("ca.pem").display()
        );
        assert!(
            delivered(kind, exporter, &state, Duration::from_secs(5)).await,
            "{kind} over TLS"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_is_refused_unless_verification_is_skipped() {
    let pki = Pki::new();
    let (addr, state) = Sink::start_tls(pki.server_config(false)).await;
    // The public roots don't know this CA: no handshake, nothing delivered.
    let exporter = format!("    endpoint: https://{addr}\n");
    assert!(!delivered("otlp_grpc", exporter, &state, Duration::from_millis(800)).await);
    assert_eq!(*state.attempts.lock().unwrap(), 0);
    let exporter =
        format!("    endpoint: https://{addr}\n    tls: {{ insecure_skip_verify: true }}\n");
    assert!(delivered("otlp_grpc", exporter, &state, Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_sends_the_client_certificate() {
    let pki = Pki::new();
    let (addr, state) = Sink::start_tls(pki.server_config(true)).await;
    let ca = pki.path("ca.pem");
    let without = format!(
        "    endpoint: https://{addr}\n    tls: {{ ca_file: {} }}\n",
        ca.display()
    );
    assert!(!delivered("otlp_http", without, &state, Duration::from_millis(800)).await);
    let with = format!(
        "    endpoint: https://{addr}\n    tls: {{ ca_file: {}, cert_file: {}, key_file: {} }}\n",
        ca.display(),
        pki.path("client.pem").display(),
        pki.path("client.key").display()
    );
    assert!(
        delivered("otlp_http", with, &state, Duration::from_secs(5)).await,
        "mTLS"
    );
}

/// Agent A (plaintext in) → its exporter over TLS → agent B's TLS receiver
/// (mTLS when asked) → the sink.
async fn through_a_tls_receiver(kind: &str, mutual: bool) -> bool {
    let pki = Pki::new();
    let sink = Sink::start().await;
    let p = |name: &str| pki.path(name).display().to_string();
    let client_ca = if mutual {
        format!(", client_ca_file: {}", p("ca.pem"))
    } else {
        String::new()
    };
    let b = start_agent(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0", tls: {{ cert_file: {cert}, key_file: {key}{client_ca} }} }}
      http: {{ endpoint: "127.0.0.1:0", tls: {{ cert_file: {cert}, key_file: {key}{client_ca} }} }}
processors:
  memory_limiter: {{ limit_mib: 4096 }}
exporters:
  otlp_grpc: {{ endpoint: "http://{sink}", batch: {{ flush_timeout: 10ms }} }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlp_grpc] }}
"#,
        cert = p("server.pem"),
        key = p("server.key"),
        sink = sink.grpc,
    ))
    .await;
    let target = if kind == "otlp_grpc" {
        addr(&b, "otlp/grpc")
    } else {
        addr(&b, "otlp/http")
    };
    let client_cert = if mutual {
        format!(
            ", cert_file: {}, key_file: {}",
            p("client.pem"),
            p("client.key")
        )
    } else {
        String::new()
    };
    let exporter = format!(
        "    endpoint: https://{target}\n    tls: {{ ca_file: {}{client_cert} }}\n",
        p("ca.pem")
    );
    delivered(kind, exporter, &sink.state, Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_speak_tls_and_mutual_tls() {
    for kind in ["otlp_grpc", "otlp_http"] {
        assert!(
            through_a_tls_receiver(kind, false).await,
            "{kind} to a TLS receiver"
        );
        assert!(
            through_a_tls_receiver(kind, true).await,
            "{kind} to an mTLS receiver"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mtls_receiver_refuses_clients_without_a_certificate() {
    let pki = Pki::new();
    let sink = Sink::start().await;
    let p = |name: &str| pki.path(name).display().to_string();
    let b = start_agent(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0", tls: {{ cert_file: {}, key_file: {}, client_ca_file: {} }} }}
exporters:
  otlp_grpc: {{ endpoint: "http://{}" }}
service:
  admin: {{ endpoint: "127.0.0.1:0" }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp_grpc] }}
"#,
        p("server.pem"),
        p("server.key"),
        p("ca.pem"),
        sink.grpc
    ))
    .await;
    let exporter = format!(
        "    endpoint: https://{}\n    tls: {{ ca_file: {} }}\n",
        addr(&b, "otlp/grpc"),
        p("ca.pem")
    );
    assert!(
        !delivered(
            "otlp_grpc",
            exporter,
            &sink.state,
            Duration::from_millis(800)
        )
        .await
    );
}
