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
    "ssn",
];

pub struct BlockedKeys {
    words: Vec<String>,
    /// Length of the longest word: how much of a key's tail is compared.
    longest: usize,
    /// The words ending in each byte: most keys are compared with none.
    by_last_byte: Vec<Vec<usize>>,
}

/// The key's last dotted segment, ASCII letters and digits only, lowercased,
/// back to front: compared in place, so no key allocates.
fn normalized_reversed(key: &str) -> impl Iterator<Item = u8> + '_ {
    let last = key.rsplit('.').next().unwrap_or(key);
    last.bytes()
        .rev()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase())
}

/// Tails up to this long are compared from the stack.
const STACK_TAIL: usize = 64;

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
        let longest = words.iter().map(String::len).max().unwrap_or(0);
        let mut by_last_byte = vec![Vec::new(); 256];
        for (i, word) in words.iter().enumerate() {
            let last = word.as_bytes()[word.len() - 1];
            by_last_byte[usize::from(last)].push(i);
        }
        BlockedKeys {
            words,
            longest,
            by_last_byte,
        }
    }

    /// The blocked words, in the order `matches` numbers them.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The index of the blocked word `key` matches, if any.
    pub fn matches(&self, key: &str) -> Option<usize> {
        // Normalize the key's tail once (one byte past the longest word,
        // to tell a whole match from a suffix), then compare every word.
        let wanted = self.longest + 1;
        let mut stack = [0u8; STACK_TAIL];
        let heap: Vec<u8>;
        let tail: &[u8] = if wanted <= STACK_TAIL {
            let mut n = 0;
            for (slot, b) in stack.iter_mut().zip(normalized_reversed(key).take(wanted)) {
                *slot = b;
                n += 1;
            }
            &stack[..n]
        } else {
            heap = normalized_reversed(key).take(wanted).collect();
            &heap
        };
        let candidates = tail
            .first()
            .map_or(&[][..], |&last| &self.by_last_byte[usize::from(last)]);
        candidates.iter().copied().find(|&i| {
            let word = self.words[i].as_bytes();
            let ends_with = tail.len() >= word.len() && word.iter().rev().eq(&tail[..word.len()]);
            // Short words must match whole: "pwd" yes, "oauth" is not "auth"-ish.
            ends_with && (word.len() > 4 || tail.len() == word.len())
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
        let long = "a_blocked_word_longer_than_the_sixty_four_bytes_compared_on_the_stack";
        let keys_with_long = BlockedKeys::new(false, &[long.into()]);
        assert!(keys_with_long.matches(&format!("x.{long}")).is_some());
        assert!(keys_with_long.matches("x.a_blocked_word").is_none());
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
