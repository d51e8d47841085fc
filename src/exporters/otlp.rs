//! `otlp_grpc` (alias `otlp`) and `otlp_http` (alias `otlphttp`): OTLP to
//! any destination. Their settings and checks; the transports are
//! `grpc.rs` and `http.rs`.

use super::batch::BatchConfig;
use super::delivery::{DeliveryConfig, Exporter, Senders, SpawnError};
use super::grpc::GrpcTransport;
use super::http::HttpTransport;
use super::retry::RetryConfig;
use super::tls::{self, TlsClientConfig};
use crate::compression::Compression;
use crate::config::component::{required, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::config::units::Dur;
use crate::queue::QueueConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpExporterConfig {
    /// `http://` is plaintext, `https://` (or no scheme) is TLS.
    pub endpoint: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// otlp_http only: full URLs that replace `endpoint` + `/v1/<signal>`.
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub batch: BatchConfig,
}

pub(super) fn default_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}

impl OtlpExporterConfig {
    /// Endpoints are URLs (with a scheme for HTTP), headers are valid, TLS
    /// files exist and load, the timeout is positive.
    pub fn check(&self, http: bool) -> Result<(), Invalid> {
        let endpoints = [
            Some(&self.endpoint),
            self.traces_endpoint.as_ref(),
            self.metrics_endpoint.as_ref(),
            self.logs_endpoint.as_ref(),
        ];
        for endpoint in endpoints.into_iter().flatten() {
            let has_scheme = endpoint.starts_with("http://") || endpoint.starts_with("https://");
            if http && !has_scheme {
                return Err(Invalid::at(
                    "endpoint",
                    format!("endpoint `{endpoint}` must start with http:// or https://"),
                ));
            }
            let full = if has_scheme {
                endpoint.clone()
            } else {
                format!("https://{endpoint}")
            };
            match full.parse::<http::Uri>() {
                Ok(uri) if uri.host().is_some() => {}
                _ => {
                    return Err(Invalid::at(
                        "endpoint",
                        format!("endpoint `{endpoint}` is not a valid URL"),
                    ))
                }
            }
        }
        if !http
            && (self.traces_endpoint.is_some()
                || self.metrics_endpoint.is_some()
                || self.logs_endpoint.is_some())
        {
            return Err(Invalid::new(
                "traces_endpoint, metrics_endpoint and logs_endpoint are for otlp_http only",
            ));
        }
        for (name, value) in &self.headers {
            if http::HeaderName::try_from(name.as_str()).is_err() {
                return Err(Invalid::at(
                    "headers",
                    format!("`{name}` is not a valid header name"),
                ));
            }
            // The value may be a secret: say which header, never what it holds.
            if http::HeaderValue::try_from(value.as_str()).is_err() {
                return Err(Invalid::at(
                    "headers",
                    format!("the value of header `{name}` is not a valid header value"),
                ));
            }
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(Invalid::at(
                "tls",
                "tls.cert_file and tls.key_file go together",
            ));
        }
        for file in [&self.tls.ca_file, &self.tls.cert_file, &self.tls.key_file]
            .into_iter()
            .flatten()
        {
            if !file.is_file() {
                return Err(Invalid::at(
                    "tls",
                    format!("TLS file {} does not exist", file.display()),
                ));
            }
        }
        // Loads the certificates and keys, so a bad one is a config error.
        tls::connector(&self.tls, !http).map_err(|e| Invalid::at("tls", e.to_string()))?;
        if self.timeout.0.is_zero() {
            return Err(Invalid::at("timeout", "timeout must be more than 0"));
        }
        Ok(())
    }

    pub fn delivery(&self) -> DeliveryConfig {
        DeliveryConfig::new(&self.sending_queue, &self.retry_on_failure, &self.batch)
    }
}

/// A built `otlp_grpc` or `otlp_http` exporter.
pub struct Otlp {
    config: OtlpExporterConfig,
    delivery: DeliveryConfig,
    http: bool,
}

fn read(node: &Located<Node>, http: bool) -> Result<Arc<dyn Exporter>, DeError> {
    let config: OtlpExporterConfig = required(node)?;
    let delivery = config.delivery();
    config
        .check(http)
        .and_then(|()| delivery.check())
        .map_err(|e| e.locate(node))?;
    Ok(Arc::new(Otlp {
        config,
        delivery,
        http,
    }))
}

/// `otlp_grpc`, `otlp`.
pub fn read_grpc(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Exporter>, DeError> {
    read(node, false)
}

/// `otlp_http`, `otlphttp`.
pub fn read_http(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Exporter>, DeError> {
    read(node, true)
}

impl Otlp {
    /// Its settings, as written.
    pub fn config(&self) -> &OtlpExporterConfig {
        &self.config
    }

    /// `otlp_http` rather than `otlp_grpc`.
    pub fn is_http(&self) -> bool {
        self.http
    }
}

impl Exporter for Otlp {
    fn delivery(&self) -> &DeliveryConfig {
        &self.delivery
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn spawn(&self, senders: Senders<'_>) -> Result<Vec<JoinHandle<()>>, SpawnError> {
        Ok(if self.http {
            senders.spawn(HttpTransport::new(&self.config)?, None)
        } else {
            senders.spawn(GrpcTransport::new(&self.config)?, None)
        })
    }
}
