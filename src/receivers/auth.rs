//! Optional bearer-token authentication of the applications that send to a
//! receiver. The comparison takes the same time wherever the token differs.

use http::HeaderMap;
use serde::Deserialize;

/// Optional authentication of the applications sending to a receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverAuth {
    /// Requests must carry `authorization: Bearer <token>`.
    pub bearer_token: String,
}

#[derive(Clone)]
pub struct BearerToken(String);

impl BearerToken {
    pub fn new(token: &str) -> Self {
        BearerToken(format!("Bearer {token}"))
    }

    /// Whether the `authorization` header carries the token.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers.get(http::header::AUTHORIZATION) else {
            return false;
        };
        let (given, expected) = (given.as_bytes(), self.0.as_bytes());
        let differences = given
            .iter()
            .zip(expected)
            .fold(given.len() ^ expected.len(), |acc, (a, b)| {
                acc | usize::from(a ^ b)
            });
        differences == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_token() {
        let token = BearerToken::new("s3cret");
        let mut headers = HeaderMap::new();
        assert!(!token.accepts(&headers));
        headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(token.accepts(&headers));
        headers.insert("authorization", "Bearer s3cre".parse().unwrap());
        assert!(!token.accepts(&headers));
        headers.insert("authorization", "Bearer s3cret2".parse().unwrap());
        assert!(!token.accepts(&headers));
    }
}
