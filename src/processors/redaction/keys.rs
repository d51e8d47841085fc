//! Keys whose values are secret whatever they hold. A key matches when the
//! last dotted segment, lowercased with `_`, `-` and other punctuation
//! removed, ends with a blocked word: `http.request.header.x-api-key`,
//! `db.password`, `clientSecret`, `refresh_token`, `Set-Cookie` all match;
//! `gen_ai.usage.input_tokens` and `token_count` do not.

pub const DEFAULT_BLOCKED: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "sessionid",
    "privatekey",
    "secretkey",
    "accesskey",
    "credential",
    "credentials",
    "connectionstring",
    "signature",
];

pub struct BlockedKeys {
    words: Vec<String>,
}

fn normalize(key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    last.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl BlockedKeys {
    pub fn new(defaults: bool, extra: &[String]) -> Self {
        let mut words: Vec<String> = extra
            .iter()
            .map(|k| normalize(k))
            .filter(|k| !k.is_empty())
            .collect();
        if defaults {
            words.extend(DEFAULT_BLOCKED.iter().map(|w| w.to_string()));
        }
        BlockedKeys { words }
    }

    pub fn matches(&self, key: &str) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let key = normalize(key);
        // Short words must match whole: "pwd" yes, "oauth" is not "auth"-ish.
        self.words.iter().any(|w| {
            if w.len() <= 4 {
                key == *w
            } else {
                key.ends_with(w.as_str())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_across_spellings() {
        let keys = BlockedKeys::new(true, &["tenant_pin".into()]);
        for key in [
            "password",
            "db.password",
            "user_password",
            "Passwd",
            "clientSecret",
            "client_secret",
            "refresh_token",
            "access-token",
            "accessToken",
            "api_key",
            "apiKey",
            "x-api-key",
            "http.request.header.authorization",
            "http.request.header.cookie",
            "Set-Cookie",
            "session",
            "session_id",
            "private_key",
            "aws_secret_access_key",
            "tenantPIN",
            "auth",
        ] {
            assert!(keys.matches(key), "{key} should be blocked");
        }
        for key in [
            "gen_ai.usage.input_tokens",
            "token_count",
            "http.route",
            "user.id",
            "author",
            "sessions_open",
            "oauth.provider",
        ] {
            assert!(!keys.matches(key), "{key} should pass");
        }
    }
}
