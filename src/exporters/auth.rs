//! Credentials the `ignis` exporter sends: a static API key, a key file
//! re-read when it changes (mounted Kubernetes secrets rotate), or an OAuth2
//! client-credentials token cached and refreshed before it expires.
//! Header values are marked sensitive and never logged.

use super::ignis::{IgnisExporterConfig, OAuth2Config};
use super::tls;
use super::tls::TlsClientConfig;
use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

pub enum Auth {
    Static {
        header: HeaderName,
        value: HeaderValue,
    },
    File {
        header: HeaderName,
        bearer: bool,
        path: PathBuf,
        cached: Mutex<Option<(SystemTime, HeaderValue)>>,
    },
    OAuth2(Box<OAuth2>),
}

pub struct OAuth2 {
    token_url: Uri,
    client_id: String,
    secret: Secret,
    scopes: Vec<String>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    cached: tokio::sync::Mutex<Option<(HeaderValue, Instant)>>,
}

enum Secret {
    Value(String),
    File(PathBuf),
}

/// Why credentials could not be had. Never holds a credential.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the credential is not a valid header value")]
    InvalidValue,
    #[error("`{0}` is not a valid header name")]
    InvalidHeader(String),
    #[error("{what} {}: {source}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("oauth2.token_url `{0}` is not a URL")]
    TokenUrl(String),
    #[error("oauth2 needs client_secret or client_secret_file")]
    NoSecret,
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("the OAuth2 token endpoint did not answer in 30 s")]
    Timeout,
    #[error("OAuth2 token request: {0}")]
    Request(#[source] hyper_util::client::legacy::Error),
    #[error("OAuth2 token response: {0}")]
    Response(String),
    /// The body may echo what was sent: only the status is kept.
    #[error("the OAuth2 token endpoint answered {0}")]
    Status(http::StatusCode),
    #[error("the OAuth2 token response is not valid JSON")]
    Json(#[source] serde_json::Error),
}

fn sensitive(text: &str) -> Result<HeaderValue, AuthError> {
    let mut value = HeaderValue::from_str(text.trim()).map_err(|_| AuthError::InvalidValue)?;
    value.set_sensitive(true);
    Ok(value)
}

impl Auth {
    /// The credentials an `ignis` exporter config asks for, if any.
    pub fn from_config(config: &IgnisExporterConfig) -> Result<Option<Auth>, AuthError> {
        let header = HeaderName::try_from(config.api_key_header.as_str())
            .map_err(|_| AuthError::InvalidHeader(config.api_key_header.clone()))?;
        let bearer = header == header::AUTHORIZATION;
        if let Some(key) = &config.api_key {
            let text = if bearer {
                format!("Bearer {key}")
            } else {
                key.clone()
            };
            return Ok(Some(Auth::Static {
                header,
                value: sensitive(&text)?,
            }));
        }
        if let Some(path) = &config.api_key_file {
            return Ok(Some(Auth::File {
                header,
                bearer,
                path: path.clone(),
                cached: Mutex::new(None),
            }));
        }
        if let Some(oauth) = &config.oauth2 {
            return OAuth2::new(oauth).map(|o| Some(Auth::OAuth2(Box::new(o))));
        }
        Ok(None)
    }

    /// The header to send with the next request.
    pub async fn header(&self) -> Result<(HeaderName, HeaderValue), AuthError> {
        match self {
            Auth::Static { header, value } => Ok((header.clone(), value.clone())),
            Auth::File {
                header,
                bearer,
                path,
                cached,
            } => {
                let file_error = |source| AuthError::File {
                    what: "api_key_file",
                    path: path.clone(),
                    source,
                };
                let modified = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map_err(file_error)?;
                let mut cached = cached.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((at, value)) = cached.as_ref() {
                    if *at == modified {
                        return Ok((header.clone(), value.clone()));
                    }
                }
                let key = std::fs::read_to_string(path).map_err(file_error)?;
                let text = if *bearer {
                    format!("Bearer {}", key.trim())
                } else {
                    key
                };
                let value = sensitive(&text)?;
                *cached = Some((modified, value.clone()));
                Ok((header.clone(), value))
            }
            Auth::OAuth2(oauth) => oauth.token().await.map(|v| (header::AUTHORIZATION, v)),
        }
    }

    /// After a 401: forgets cached credentials; true when a new attempt
    /// may succeed (a refreshed token, a rotated key file).
    pub async fn unauthorized(&self) -> bool {
        match self {
            Auth::Static { .. } => false,
            Auth::File { cached, .. } => {
                *cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
                true
            }
            Auth::OAuth2(oauth) => {
                *oauth.cached.lock().await = None;
                true
            }
        }
    }
}

/// A token is refreshed this long before it expires (or at 90% of its life).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

impl OAuth2 {
    fn new(config: &OAuth2Config) -> Result<Self, AuthError> {
        let token_url: Uri = config
            .token_url
            .parse()
            .map_err(|_| AuthError::TokenUrl(config.token_url.clone()))?;
        let secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(s), _) => Secret::Value(s.clone()),
            (None, Some(path)) => Secret::File(path.clone()),
            (None, None) => return Err(AuthError::NoSecret),
        };
        let connector = tls::connector(&TlsClientConfig::default(), false)?;
        Ok(OAuth2 {
            token_url,
            client_id: config.client_id.clone(),
            secret,
            scopes: config.scopes.clone(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    async fn token(&self) -> Result<HeaderValue, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some((value, refresh_at)) = cached.as_ref() {
            if Instant::now() < *refresh_at {
                return Ok(value.clone());
            }
        }
        let (token, lifetime) = tokio::time::timeout(Duration::from_secs(30), self.fetch())
            .await
            .map_err(|_| AuthError::Timeout)??;
        let value = sensitive(&format!("Bearer {token}"))?;
        let margin = REFRESH_MARGIN.min(lifetime / 10);
        *cached = Some((value.clone(), Instant::now() + lifetime - margin));
        Ok(value)
    }

    async fn fetch(&self) -> Result<(String, Duration), AuthError> {
        let secret = match &self.secret {
            Secret::Value(s) => s.clone(),
            Secret::File(path) => std::fs::read_to_string(path)
                .map_err(|source| AuthError::File {
                    what: "oauth2.client_secret_file",
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_owned(),
        };
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{secret}", self.client_id));
        let mut form = String::from("grant_type=client_credentials");
        if !self.scopes.is_empty() {
            form.push_str("&scope=");
            form.push_str(&form_encode(&self.scopes.join(" ")));
        }
        let mut request = Request::post(self.token_url.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(form)))
            .expect("a valid URI and static headers");
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, sensitive(&format!("Basic {basic}"))?);
        let response = self
            .client
            .request(request)
            .await
            .map_err(AuthError::Request)?;
        let status = response.status();
        let body = Limited::new(response.into_body(), 64 << 10)
            .collect()
            .await
            .map_err(|e| AuthError::Response(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            // The body may echo what was sent; say only the status.
            return Err(AuthError::Status(status));
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(AuthError::Json)?;
        Ok((
            parsed.access_token,
            Duration::from_secs(parsed.expires_in.unwrap_or(3600).max(1)),
        ))
    }
}

/// `application/x-www-form-urlencoded` for a value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode("ingest:write read/all"),
            "ingest%3Awrite+read%2Fall"
        );
    }

    #[tokio::test]
    async fn key_files_are_reread_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "one\n").unwrap();
        let auth = Auth::File {
            header: header::AUTHORIZATION,
            bearer: true,
            path: path.clone(),
            cached: Mutex::new(None),
        };
        assert_eq!(auth.header().await.unwrap().1, "Bearer one");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, "two").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(auth.header().await.unwrap().1, "Bearer two");
        assert!(auth.header().await.unwrap().1.is_sensitive());
    }
}
