//! `ignis`: OTLP to Ignis Platform with an API key (or a key file, or OAuth2
//! client credentials), TLS required, gzip and a disk queue by default, and
//! a ledger of deliveries served at /api/ledger.

use super::auth::Auth;
use super::batch::BatchConfig;
use super::delivery::{DeliveryConfig, Exporter, Senders, SpawnError};
use super::grpc::GrpcTransport;
use super::http::HttpTransport;
use super::ledger::Ledger;
use super::otlp::{default_timeout, OtlpExporterConfig};
use super::retry::RetryConfig;
use super::tls::TlsClientConfig;
use crate::compression::Compression;
use crate::config::component::{required, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::config::units::Dur;
use crate::queue::{QueueConfig, Storage};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Where the `ignis` exporter keeps its disk queue unless told otherwise.
pub const IGNIS_QUEUE_DIRECTORY: &str = "/var/lib/ignis-agent";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IgnisProtocol {
    #[default]
    Grpc,
    Http,
}

/// The `ignis` exporter: OTLP to Ignis Platform with authentication, TLS
/// required, gzip and a disk queue by default, and a ledger of deliveries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnisExporterConfig {
    /// `https://host:port`; `http://` only with `insecure: true`.
    pub endpoint: String,
    #[serde(default)]
    pub protocol: IgnisProtocol,
    /// Allows a plaintext endpoint (tests, a local relay).
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub api_key: Option<String>,
    /// A file holding the key, re-read when it changes (a mounted secret).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// The header carrying the key; `authorization` gets `Bearer <key>`.
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// Batches remembered in the delivery ledger (served at /api/ledger).
    #[serde(default = "default_ledger_size")]
    pub ledger_size: usize,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

fn default_api_key_header() -> String {
    "authorization".into()
}

fn default_ledger_size() -> usize {
    1000
}

/// OAuth2 client credentials: a token from `token_url`, cached and
/// refreshed before it expires, and once more on a 401.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    pub token_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl IgnisExporterConfig {
    /// The OTLP transport settings this exporter sends with.
    pub fn otlp(&self) -> OtlpExporterConfig {
        let bare = self
            .endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let plaintext = self.insecure && !self.endpoint.starts_with("https://");
        let scheme = if plaintext { "http" } else { "https" };
        OtlpExporterConfig {
            endpoint: format!("{scheme}://{bare}"),
            headers: self.headers.clone(),
            compression: self.compression,
            timeout: self.timeout,
            tls: self.tls.clone(),
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            sending_queue: self.sending_queue.clone(),
            retry_on_failure: self.retry_on_failure.clone(),
            batch: self.batch.clone(),
        }
    }
}

impl IgnisExporterConfig {
    fn check(&self) -> Result<(), Invalid> {
        if self.endpoint.starts_with("http://") && !self.insecure {
            return Err(Invalid::at(
                "endpoint",
                "Ignis Platform takes data over TLS only: use https:// (or set insecure: true for a local relay)",
            ));
        }
        let methods = [
            self.api_key.is_some(),
            self.api_key_file.is_some(),
            self.oauth2.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(Invalid::new("use one of api_key, api_key_file and oauth2"));
        }
        if http::HeaderName::try_from(self.api_key_header.as_str()).is_err() {
            return Err(Invalid::at(
                "api_key_header",
                "api_key_header is not a valid header name",
            ));
        }
        if let Some(key) = &self.api_key {
            if key.trim().is_empty()
                || http::HeaderValue::try_from(format!("Bearer {key}")).is_err()
            {
                // Say what is wrong, never what the key is.
                return Err(Invalid::at(
                    "api_key",
                    "api_key is empty or not valid in a header",
                ));
            }
        }
        if let Some(oauth) = &self.oauth2 {
            if oauth
                .token_url
                .parse::<http::Uri>()
                .map_or(true, |u| u.host().is_none())
            {
                return Err(Invalid::at("oauth2", "oauth2.token_url must be a URL"));
            }
            if oauth.client_secret.is_none() && oauth.client_secret_file.is_none() {
                return Err(Invalid::at(
                    "oauth2",
                    "oauth2 needs client_secret or client_secret_file",
                ));
            }
        }
        self.otlp().check(false)
    }

    /// Queue on disk unless told otherwise, so an outage of the platform
    /// or a restart of the pod loses nothing.
    fn delivery(&self) -> DeliveryConfig {
        let mut queue = self.sending_queue.clone();
        queue.storage.get_or_insert(Storage::Disk);
        queue
            .directory
            .get_or_insert_with(|| PathBuf::from(IGNIS_QUEUE_DIRECTORY));
        DeliveryConfig::new(&queue, &self.retry_on_failure, &self.batch)
    }
}

/// A built `ignis` exporter.
pub struct Ignis {
    config: IgnisExporterConfig,
    otlp: OtlpExporterConfig,
    delivery: DeliveryConfig,
    auth: Option<Arc<Auth>>,
}

pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Exporter>, DeError> {
    let config: IgnisExporterConfig = required(node)?;
    let delivery = config.delivery();
    config
        .check()
        .and_then(|()| delivery.check())
        .map_err(|e| e.locate(node))?;
    let auth = Auth::from_config(&config)
        .map_err(|e| Invalid::new(e.to_string()).locate(node))?
        .map(Arc::new);
    Ok(Arc::new(Ignis {
        otlp: config.otlp(),
        config,
        delivery,
        auth,
    }))
}

impl Ignis {
    /// Its settings, as written.
    pub fn config(&self) -> &IgnisExporterConfig {
        &self.config
    }
}

impl Exporter for Ignis {
    fn delivery(&self) -> &DeliveryConfig {
        &self.delivery
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn spawn(&self, senders: Senders<'_>) -> Result<Vec<JoinHandle<()>>, SpawnError> {
        let name = senders.name().to_owned();
        let (registry, ledgers) = senders.registry();
        let ledger = Arc::new(Ledger::new(self.config.ledger_size, registry, &name));
        ledgers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((format!("{name}/{}", senders.signal()), Arc::clone(&ledger)));
        let auth = self.auth.clone();
        Ok(match self.config.protocol {
            IgnisProtocol::Grpc => {
                let mut transport = GrpcTransport::new(&self.otlp)?;
                transport.auth = auth;
                senders.spawn(transport, Some(ledger))
            }
            IgnisProtocol::Http => {
                let mut transport = HttpTransport::new(&self.otlp)?;
                transport.auth = auth;
                senders.spawn(transport, Some(ledger))
            }
        })
    }
}
