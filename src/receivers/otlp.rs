//! `otlp`: the OTLP receiver, gRPC on 4317 and HTTP on 4318. Its settings,
//! their checks, and the servers it starts (plain or TLS).

use super::auth::{BearerToken, ReceiverAuth};
use super::grpc::{ExportService, Receive};
use super::tls::{self, ServerTlsConfig};
use super::{BindError, Feeds, Receiver, Started};
use crate::config::component::{settings, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::config::units::ByteSize;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    pub protocols: Protocols,
}

/// `grpc:` with no value turns the protocol on with its defaults, as in the
/// Collector; leaving the key out turns it off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "present")]
    pub grpc: Option<GrpcServerConfig>,
    #[serde(default, deserialize_with = "present")]
    pub http: Option<HttpServerConfig>,
}

fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(|v| Some(v.unwrap_or_default()))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerConfig {
    pub endpoint: String,
    /// Largest accepted message after decompression, in MiB.
    pub max_recv_msg_size_mib: u64,
    pub auth: Option<ReceiverAuth>,
    pub tls: Option<ServerTlsConfig>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: "127.0.0.1:4317".into(),
            max_recv_msg_size_mib: 4,
            auth: None,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    pub endpoint: String,
    /// Largest accepted body after decompression.
    pub max_request_body_size: ByteSize,
    pub auth: Option<ReceiverAuth>,
    pub tls: Option<ServerTlsConfig>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: "127.0.0.1:4318".into(),
            max_request_body_size: ByteSize(20 << 20),
            auth: None,
            tls: None,
        }
    }
}

/// A checked `otlp` receiver, its TLS certificates loaded.
pub struct Otlp {
    config: OtlpReceiverConfig,
    grpc_tls: Option<TlsAcceptor>,
    http_tls: Option<TlsAcceptor>,
}

pub fn read(node: &Located<Node>, _: &Context) -> Result<Arc<dyn Receiver>, DeError> {
    let config: OtlpReceiverConfig = settings(node)?;
    let (grpc, http) = (&config.protocols.grpc, &config.protocols.http);
    if grpc.is_none() && http.is_none() {
        return Err(
            Invalid::new("enable at least one of `protocols.grpc` and `protocols.http`")
                .locate(node),
        );
    }
    let endpoints = [
        grpc.as_ref().map(|g| &g.endpoint),
        http.as_ref().map(|h| &h.endpoint),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        if endpoint.parse::<SocketAddr>().is_err() && !endpoint.contains(':') {
            return Err(
                Invalid::new(format!("endpoint `{endpoint}` must be host:port")).locate(node),
            );
        }
    }
    let acceptor = |tls: Option<&ServerTlsConfig>| {
        tls.map(|tls| {
            for file in [
                Some(&tls.cert_file),
                Some(&tls.key_file),
                tls.client_ca_file.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                if !file.is_file() {
                    return Err(Invalid::new(format!(
                        "TLS file {} does not exist",
                        file.display()
                    )));
                }
            }
            tls::acceptor(tls).map_err(|e| Invalid::new(e.to_string()))
        })
        .transpose()
        .map_err(|e| e.locate(node))
    };
    Ok(Arc::new(Otlp {
        grpc_tls: acceptor(grpc.as_ref().and_then(|g| g.tls.as_ref()))?,
        http_tls: acceptor(http.as_ref().and_then(|h| h.tls.as_ref()))?,
        config,
    }))
}

/// Stops a server when the receivers are told to stop.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

impl Otlp {
    /// Its settings, as written.
    pub fn config(&self) -> &OtlpReceiverConfig {
        &self.config
    }
}

impl Receiver for Otlp {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn start(
        &self,
        name: &str,
        feeds: &Feeds<'_>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Started, BindError> {
        let mut started = Started::default();
        if let Some(grpc) = &self.config.protocols.grpc {
            let listener = super::bind(&grpc.endpoint)?;
            started
                .listening
                .push((format!("{name}/grpc"), super::local_addr(&listener)));
            let limit = (grpc.max_recv_msg_size_mib as usize).saturating_mul(1 << 20);
            let (t, m, l) = feeds("grpc");
            let token = grpc
                .auth
                .as_ref()
                .map(|a| BearerToken::new(&a.bearer_token));
            let (t, m, l) = (
                ExportService::new(Receive(t, token.clone()), limit),
                ExportService::new(Receive(m, token.clone()), limit),
                ExportService::new(Receive(l, token), limit),
            );
            let shutdown = stopped(stop.clone());
            started.tasks.push(match &self.grpc_tls {
                Some(acceptor) => {
                    let app = tonic::service::Routes::new(t)
                        .add_service(m)
                        .add_service(l)
                        .into_axum_router();
                    tokio::spawn(tls::serve(listener, acceptor.clone(), app, shutdown))
                }
                None => {
                    let router = tonic::transport::Server::builder()
                        .add_service(t)
                        .add_service(m)
                        .add_service(l);
                    let incoming = tonic::transport::server::TcpIncoming::from(listener)
                        .with_nodelay(Some(true));
                    let name = name.to_owned();
                    tokio::spawn(async move {
                        if let Err(e) = router
                            .serve_with_incoming_shutdown(incoming, shutdown)
                            .await
                        {
                            tracing::error!(receiver = %name, error = %e, "gRPC server failed");
                        }
                    })
                }
            });
        }
        if let Some(http) = &self.config.protocols.http {
            let listener = super::bind(&http.endpoint)?;
            started
                .listening
                .push((format!("{name}/http"), super::local_addr(&listener)));
            let (t, m, l) = feeds("http");
            let app = super::http::router(
                t,
                m,
                l,
                http.max_request_body_size.0 as usize,
                http.auth
                    .as_ref()
                    .map(|a| BearerToken::new(&a.bearer_token)),
            );
            let shutdown = stopped(stop.clone());
            started.tasks.push(match &self.http_tls {
                Some(acceptor) => {
                    tokio::spawn(tls::serve(listener, acceptor.clone(), app, shutdown))
                }
                None => {
                    let name = name.to_owned();
                    tokio::spawn(async move {
                        if let Err(e) = axum::serve(listener, app)
                            .with_graceful_shutdown(shutdown)
                            .await
                        {
                            tracing::error!(receiver = %name, error = %e, "HTTP server failed");
                        }
                    })
                }
            });
        }
        Ok(started)
    }
}
