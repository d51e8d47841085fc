//! Credentials recognized by where they stand rather than by their shape:
//! in a URL, in an HTTP header line, after a secret-looking key.

use super::{Builtin, RULE};
use crate::processors::redaction::checks;

pub const DETECTORS: &[Builtin] = &[
    Builtin {
        name: "url_credentials",
        // `@` rather than `://`: most URLs hold no user, and a set pass
        // over the string tells so without running the pattern.
        anchors: &["@"],
        // The password of `scheme://user:password@host` (database URLs,
        // brokers, HTTP basic auth in a URL); the user name stays.
        pattern: r"(?i)[a-z][a-z0-9+.-]*://[^\s:/?#@]*:(?P<secret>[^\s@/?#]+)@",
        about: "passwords in URLs (RFC 3986 userinfo): `postgres://`, `mysql://`, `mongodb+srv://`, `redis://:pass@`, `amqp://`, `https://user:pass@`",
        example: "postgres://app:s3cr3t-Pa55@db.internal:5432/orders",
        not: "https://example.com:8443/path",
        ..RULE
    },
    Builtin {
        name: "oracle_connect",
        anchors: &["jdbc:oracle"],
        // `jdbc:oracle:thin:user/password@//host:1521/service`
        pattern: r"(?i)jdbc:oracle:[a-z0-9]+:[^\s/:@]+/(?P<secret>[^\s@]+)@",
        about: "passwords in Oracle JDBC thin connect strings (`user/password@//host:port/service`)",
        example: "jdbc:oracle:thin:app/M3kcp7x7RvlF@//db.internal:1521/ORCL",
        not: "jdbc:oracle:thin:@//db.internal:1521/ORCL",
        ..RULE
    },
    Builtin {
        name: "http_authorization",
        anchors: &["authorization"],
        // A scheme with parameters (Digest, AWS SigV4) to the end of the
        // line; otherwise the scheme and its one credential.
        pattern: r"(?i)(?:proxy-)?authorization\s*:\s*(?P<secret>(?:digest|aws4-hmac-sha256|hoba|mutual|vapid)[ \t][^\r\n]*[^\s\r\n]|(?:[a-z][a-z0-9-]*[ \t]+)?[A-Za-z0-9._~+/=-]+)",
        about: "the credentials of `Authorization` and `Proxy-Authorization` header lines inside text (RFC 9110), whatever the scheme",
        example: "GET / HTTP/1.1\r\nAuthorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n",
        not: "authorization failed for user",
        ..RULE
    },
    Builtin {
        name: "http_cookie",
        anchors: &["cookie"],
        pattern: r"(?i)(?-u:\b)(?:set-)?cookie\s*:\s*(?P<secret>[^\r\n]*[^\s\r\n])",
        check: Some(cookie_credential),
        about: "the value of `Cookie` and `Set-Cookie` header lines inside text (RFC 6265) when a cookie in it holds a credential-like value (8 characters or more with digits or mixed case): the whole list; `theme=dark; lang=en` stays",
        example: "Set-Cookie: SID=31d4d96e407aad42; Path=/; Secure; HttpOnly",
        not: "cookie banner accepted",
        ..RULE
    },
    Builtin {
        name: "api_key_header",
        anchors: &["api-key", "auth-token", "access-token", "apikey"],
        pattern: r"(?i)(?-u:\b)(?:x-)?(?:api-?key|auth-token|access-token)\s*:\s*(?P<secret>[^\r\n]*[^\s\r\n])",
        about: "API key header lines inside text: `X-Api-Key`, `Api-Key`, `X-Auth-Token`, `X-Access-Token`",
        example: "X-Api-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        not: "api-key rotation scheduled",
        ..RULE
    },
    Builtin {
        name: "bearer",
        anchors: &["bearer", "basic", "token"],
        pattern: r"(?i)(?-u:\b)(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}",
        check: Some(credential_like),
        about: "credentials after an HTTP auth scheme in free text (`Bearer …`, `Basic …`, `token …`, RFC 6750 / RFC 7617)",
        example: "retrying with Bearer 8f14e45fceea167a5a36dedd4bea2543",
        not: "the token expired yesterday",
        ..RULE
    },
    Builtin {
        // `key=value`, `key: value`, `"key": "value"`, `key='value'`, URL
        // query and form parameters, cookie lists, inside any text: the
        // value of a blocked key is redacted, the key kept.
        name: "key_value",
        anchors: super::KEY_STEMS,
        // An auth scheme and its credential count as one value
        // (`Authorization: Bearer …`); otherwise a value ends at a space.
        pattern: r#"(?i)(?P<key>[A-Za-z0-9_.-]*(?:{stems})[A-Za-z0-9_.-]*)(?P<sep>\\?["']?\s*=\s*\\?["']?|\\?["']?\s*:\s+\\?["']?|\\?["']\s*:\s*\\?["']?)(?P<secret>(?:bearer|basic|digest|token|negotiate|apikey)[ \t]+[A-Za-z0-9._~+/=-]+|[^\s&;,"'<>\\]+)"#,
        blocked_key: true,
        about: "values of blocked keys (the blocked-key list) inside any text: `k=v` and `k: v` lists, JSON, quoted values, query strings, form bodies, cookie lists",
        example: "login ok user=bob passwd=hunter2xyz session_id=8f14e45f",
        not: "max_tokens=512 token_count=42",
        ..RULE
    },
    Builtin {
        name: "generic_secret",
        anchors: &["key", "secret", "token", "pass", "cred", "salt", "private"],
        pattern: r#"(?i)(?P<key>[A-Za-z0-9_.-]*(?:key|secret|token|pass|cred|salt|private)[A-Za-z0-9_.-]*)\\?["']?\s*[:=]\s*\\?["']?(?P<secret>[A-Za-z0-9+/=_.~-]{16,})"#,
        check: Some(checks::high_entropy),
        about: "a high-entropy value (≥ 16 characters, letters and digits, ≥ 3.5 bits/character, not hex or a UUID) after a secret-looking key not on the blocked list (`signing_key=…`, `webhook_salt: …`)",
        example: "signing_key=q8Xz2LmP4vR7nT1wK9bYd3F",
        not: "cache_key=user_profile_settings",
        ..RULE
    },
];

/// A cookie list holds a credential: some cookie's value (attributes of
/// `Set-Cookie` aside) is long and has digits or mixed case.
fn cookie_credential(list: &str) -> bool {
    const ATTRIBUTES: &[&str] = &[
        "expires",
        "max-age",
        "domain",
        "path",
        "samesite",
        "priority",
        "partitioned",
    ];
    list.split(';').any(|pair| {
        let Some((name, value)) = pair.split_once('=') else {
            return false;
        };
        let name = name.trim().to_ascii_lowercase();
        // A cookie list in a URL's decoded query ends at the next parameter.
        let value = value.split('&').next().unwrap_or_default();
        let value = value.trim().trim_matches('"');
        let digits = value.bytes().any(|b| b.is_ascii_digit());
        let mixed = value.bytes().any(|b| b.is_ascii_lowercase())
            && value.bytes().any(|b| b.is_ascii_uppercase());
        !ATTRIBUTES.contains(&name.as_str()) && value.len() >= 8 && (digits || mixed)
    })
}

/// After `Bearer`, anything is a credential; after `token` or `basic` in
/// prose ("token expired", "basic authentication"), only something with a
/// digit or a symbol.
fn credential_like(found: &str) -> bool {
    let (scheme, credential) = found.split_once(char::is_whitespace).unwrap_or_default();
    scheme.eq_ignore_ascii_case("bearer")
        || credential
            .trim_start()
            .bytes()
            .any(|b| !b.is_ascii_alphabetic())
}
