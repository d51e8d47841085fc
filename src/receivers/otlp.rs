//! `otlp`: the OTLP receiver, gRPC on 4317 and HTTP on 4318. Its settings,
//! their checks, and the servers it starts (plain or TLS).

use super::auth::{BearerToken, ReceiverAuth};
use super::grpc::{ExportService, Receive};
use super::serve::{self, Keepalive, Limits};
use super::tls::{self, ServerTlsConfig};
use super::{BindError, Feeds, Receiver, Started};
use crate::config::component::{settings, Context, Invalid};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::config::units::{ByteSize, Dur};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
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
    /// Concurrent calls per connection (HTTP/2 streams). An SDK exports
    /// one batch at a time; the Collector's exporter ten. Each may hold a
    /// 64 KiB window of data the agent has not read yet.
    pub max_concurrent_streams: u32,
    /// Open connections; past it the agent stops accepting for a while.
    pub max_connections: usize,
    /// A connection that moved no byte for this long is closed (GOAWAY);
    /// 5 minutes unless this or `keepalive.server_parameters.
    /// max_connection_idle` (the Collector's name) says otherwise.
    pub idle_timeout: Option<Dur>,
    pub keepalive: GrpcKeepalive,
    pub auth: Option<ReceiverAuth>,
    pub tls: Option<ServerTlsConfig>,
}

/// The Collector's (and gRPC's) `keepalive` block, with gRPC's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcKeepalive {
    pub server_parameters: ServerParameters,
    pub enforcement_policy: EnforcementPolicy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerParameters {
    /// The Collector's name for `idle_timeout`; set one of the two.
    pub max_connection_idle: Option<Dur>,
    /// A connection this old is asked to go away; none by default.
    pub max_connection_age: Option<Dur>,
    /// ... and closed this long after; unbounded by default.
    pub max_connection_age_grace: Option<Dur>,
    /// The agent pings a connection that has been silent this long ...
    pub time: Dur,
    /// ... and closes it when the answer takes longer than this.
    pub timeout: Dur,
}

impl Default for ServerParameters {
    fn default() -> Self {
        ServerParameters {
            max_connection_idle: None,
            max_connection_age: None,
            max_connection_age_grace: None,
            time: Dur(Duration::from_secs(2 * 3600)),
            timeout: Dur(Duration::from_secs(20)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementPolicy {
    /// A client pinging more often than this (three times in a row) is
    /// sent away (GOAWAY), as gRPC servers do.
    pub min_time: Dur,
}

impl Default for EnforcementPolicy {
    fn default() -> Self {
        EnforcementPolicy {
            min_time: Dur(Duration::from_secs(300)),
        }
    }
}

impl GrpcServerConfig {
    /// How long a connection may stay silent.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
            .or(self.keepalive.server_parameters.max_connection_idle)
            .map_or(Duration::from_secs(300), |d| d.0)
    }
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: "127.0.0.1:4317".into(),
            max_recv_msg_size_mib: 4,
            max_concurrent_streams: 16,
            max_connections: 1024,
            idle_timeout: None,
            keepalive: GrpcKeepalive::default(),
            auth: None,
            tls: None,
        }
    }
}

/// The HTTP server's settings; the timeouts have the Collector's names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    pub endpoint: String,
    /// Largest accepted body after decompression.
    pub max_request_body_size: ByteSize,
    /// How long a client may take to send a request's headers.
    pub read_header_timeout: Dur,
    /// How long a client may take to send a request's body (408 past it).
    pub read_timeout: Dur,
    /// A connection that moved no byte for this long is closed.
    pub idle_timeout: Dur,
    /// A connection whose answer has not moved for this long is closed
    /// (its client stopped reading). Go's `WriteTimeout` also bounds the
    /// handler; here a slow pipeline is bounded by the admission wait.
    pub write_timeout: Dur,
    /// Open connections; past it the agent stops accepting for a while.
    pub max_connections: usize,
    /// Concurrent requests per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    pub auth: Option<ReceiverAuth>,
    pub tls: Option<ServerTlsConfig>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: "127.0.0.1:4318".into(),
            max_request_body_size: ByteSize(20 << 20),
            read_header_timeout: Dur(Duration::from_secs(10)),
            read_timeout: Dur(Duration::from_secs(30)),
            idle_timeout: Dur(Duration::from_secs(60)),
            write_timeout: Dur(Duration::from_secs(30)),
            max_connections: 1024,
            max_concurrent_streams: 16,
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
    if let Some(g) = grpc {
        if g.keepalive.server_parameters.max_connection_idle.is_some() && g.idle_timeout.is_some() {
            return Err(Invalid::new(
                "set one of `idle_timeout` and `keepalive.server_parameters.max_connection_idle`: they are the same setting",
            )
            .locate(node));
        }
    }
    let positive = grpc.as_ref().is_none_or(|g| {
        let k = &g.keepalive.server_parameters;
        g.max_concurrent_streams > 0
            && g.max_connections > 0
            && !g.idle_timeout().is_zero()
            && k.max_connection_age.is_none_or(|d| !d.0.is_zero())
            && !k.time.0.is_zero()
            && !k.timeout.0.is_zero()
    }) && http.as_ref().is_none_or(|h| {
        h.max_concurrent_streams > 0
            && h.max_connections > 0
            && !h.idle_timeout.0.is_zero()
            && !h.read_header_timeout.0.is_zero()
            && !h.read_timeout.0.is_zero()
            && !h.write_timeout.0.is_zero()
    });
    if !positive {
        return Err(Invalid::new(
            "timeouts, max_connections and max_concurrent_streams must be more than 0",
        )
        .locate(node));
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

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A gRPC client that stops reading its answers is let go after this (the
/// Collector's gRPC server has no setting for it; its HTTP one's default).
const GRPC_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP/1 on the gRPC port is not gRPC: such a client gets this long to
/// send its headers (and then an error).
const HTTP1_ON_GRPC_TIMEOUT: Duration = Duration::from_secs(10);

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
            let app = tonic::service::Routes::new(t)
                .add_service(m)
                .add_service(l)
                .into_axum_router();
            let keepalive = &grpc.keepalive.server_parameters;
            let limits = Limits {
                max_connections: grpc.max_connections,
                tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
                read_header_timeout: HTTP1_ON_GRPC_TIMEOUT,
                idle_timeout: grpc.idle_timeout(),
                max_concurrent_streams: grpc.max_concurrent_streams,
                write_timeout: GRPC_WRITE_TIMEOUT,
                keepalive: Keepalive {
                    time: Some(keepalive.time.0),
                    timeout: keepalive.timeout.0,
                    max_connection_age: keepalive.max_connection_age.map(|d| d.0),
                    max_connection_age_grace: keepalive
                        .max_connection_age_grace
                        .map_or(Duration::MAX, |d| d.0),
                    min_ping_interval: Some(grpc.keepalive.enforcement_policy.min_time.0),
                },
            };
            started.tasks.push(serve::spawn(
                listener,
                self.grpc_tls.clone(),
                app,
                limits,
                stop.clone(),
            ));
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
                http.read_timeout.0,
                http.auth
                    .as_ref()
                    .map(|a| BearerToken::new(&a.bearer_token)),
            );
            let limits = Limits {
                max_connections: http.max_connections,
                tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
                read_header_timeout: http.read_header_timeout.0,
                idle_timeout: http.idle_timeout.0,
                max_concurrent_streams: http.max_concurrent_streams,
                write_timeout: http.write_timeout.0,
                keepalive: Keepalive::OFF,
            };
            started.tasks.push(serve::spawn(
                listener,
                self.http_tls.clone(),
                app,
                limits,
                stop.clone(),
            ));
        }
        Ok(started)
    }
}
