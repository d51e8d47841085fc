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

/// The key's last dotted segment, ASCII letters and digits only, lowercased,
/// back to front: compared in place, so no key allocates.
fn normalized_reversed(key: &str) -> impl Iterator<Item = u8> + Clone + '_ {
    let last = key.rsplit('.').next().unwrap_or(key);
    last.bytes()
        .rev()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase())
}

impl BlockedKeys {
    pub fn new(defaults: bool, extra: &[String]) -> Self {
        let mut words: Vec<String> = extra
            .iter()
            .map(|k| {
                let mut w: Vec<u8> = normalized_reversed(k).collect();
                w.reverse();
                String::from_utf8(w).expect("ASCII")
            })
            .filter(|k| !k.is_empty())
            .collect();
        if defaults {
            words.extend(DEFAULT_BLOCKED.iter().map(|w| w.to_string()));
        }
        BlockedKeys { words }
    }

    /// The blocked words, in the order `matches` numbers them.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The index of the blocked word `key` matches, if any.
    pub fn matches(&self, key: &str) -> Option<usize> {
        let reversed = normalized_reversed(key);
        self.words.iter().position(|word| {
            let mut rest = reversed.clone();
            let ends_with = word.bytes().rev().all(|b| rest.next() == Some(b));
            // Short words must match whole: "pwd" yes, "oauth" is not "auth"-ish.
            ends_with && (word.len() > 4 || rest.next().is_none())
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
            assert!(keys.matches(key).is_some(), "{key} should be blocked");
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
            assert!(keys.matches(key).is_none(), "{key} should pass");
        }
    }
}
