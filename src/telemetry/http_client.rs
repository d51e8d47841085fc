//! The HTTP client the OTLP/HTTP exporters of the agent's own telemetry
//! send with: the agent's hyper + rustls client (the same roots as its
//! exporters), rather than a second HTTP stack. The SDK exports from its
//! own threads, outside the runtime, so each request runs as a task on the
//! agent's runtime and the SDK awaits its result.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Answers longer than this are not read (an OTLP answer is a few bytes).
const MAX_ANSWER: usize = 4 << 20;

#[derive(Debug, Clone)]
pub struct RuntimeHttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl RuntimeHttpClient {
    /// Must be called on the agent's runtime.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let connector = crate::exporters::tls::connector(&Default::default(), false)
            .map_err(|e| e.to_string())?;
        Ok(RuntimeHttpClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            runtime: tokio::runtime::Handle::current(),
            timeout,
        })
    }
}

async fn exchange(
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, HttpError> {
    let response = client.request(request.map(Full::new)).await?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_ANSWER).collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

impl HttpClient for RuntimeHttpClient {
    // The trait is `#[async_trait]`; this is what that attribute writes.
    fn send_bytes<'a, 'b>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let client = self.client.clone();
        let timeout = self.timeout;
        let task = self
            .runtime
            .spawn(async move { tokio::time::timeout(timeout, exchange(client, request)).await });
        Box::pin(async move {
            match task.await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(format!("no answer within {timeout:?}").into()),
                Err(e) => Err(Box::new(e) as HttpError),
            }
        })
    }
}
