//! Query and URL sanitizing, as the Collector's redaction processor and
//! Datadog's obfuscator do it (REDACTION.md has their rules beside ours):
//! the literals of a database statement become `?` while its shape stays
//! readable, and the parts of a URL that identify someone (ids, tokens,
//! emails in path segments and query values) become `*`.
//!
//! The statement's language is read from its shape, not from `db.system`,
//! so the rule needs only the attribute itself and runs on the wire too:
//! JSON (MongoDB, Elasticsearch/OpenSearch queries), a Redis command, a
//! Memcached storage command, else SQL.

/// Attributes holding a database statement (semantic conventions, old and new).
pub const STATEMENT_KEYS: &[&str] = &["db.statement", "db.query.text"];
/// Attributes holding a whole URL, a path (with its query) or a query.
const URL_KEYS: &[&str] = &["url.full", "http.url", "url.original"];
const PATH_KEYS: &[&str] = &["url.path", "http.target"];
const QUERY_KEYS: &[&str] = &["url.query"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Statement,
    Url,
    Path,
    Query,
}

/// What sanitizing applies to an attribute named `key`, if any.
pub fn kind_of(key: &str) -> Option<Kind> {
    if STATEMENT_KEYS.contains(&key) {
        Some(Kind::Statement)
    } else if URL_KEYS.contains(&key) {
        Some(Kind::Url)
    } else if PATH_KEYS.contains(&key) {
        Some(Kind::Path)
    } else if QUERY_KEYS.contains(&key) {
        Some(Kind::Query)
    } else {
        None
    }
}

/// `text` sanitized as `kind` says, when that changes it.
pub fn apply(kind: Kind, text: &str) -> Option<String> {
    match kind {
        Kind::Statement => statement(text),
        Kind::Url => url(text),
        Kind::Path => path_and_query(text),
        Kind::Query => query(text),
    }
}

/// A span name or message: each word that is a path (`GET /users/42`).
/// URLs and query strings in prose are left to the detectors: what
/// follows `://` or `?` there is not known to be URL data.
pub fn words(text: &str) -> Option<String> {
    if !text.contains('/') {
        return None;
    }
    let mut changed = false;
    let out: Vec<String> = text
        .split(' ')
        .map(|word| {
            let done = if word.starts_with('/') {
                path_with(word, false)
            } else {
                None
            };
            changed |= done.is_some();
            done.unwrap_or_else(|| word.to_owned())
        })
        .collect();
    changed.then(|| out.join(" "))
}

// ---- statements ----

fn statement(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Some(done) = json(trimmed) {
            return done;
        }
    }
    let first = trimmed
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default();
    if let Some(done) = memcached(first, text) {
        return done;
    }
    if redis_command(first).is_some() && !is_sql_set(first, trimmed) {
        return redis(text);
    }
    sql(text)
}

/// `SET` starts both a Redis command and a SQL statement (`SET NAMES`,
/// `SET @x = 1`): SQL when it assigns.
fn is_sql_set(first: &str, text: &str) -> bool {
    first.eq_ignore_ascii_case("set") && text.lines().next().is_some_and(|l| l.contains('='))
}

/// JSON queries: every scalar becomes `"?"`, keys and structure stay.
/// `None` when it is not JSON; `Some(None)` when nothing changed.
fn json(text: &str) -> Option<Option<String>> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    fn mask(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => map.values_mut().fold(false, |c, v| mask(v) | c),
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, v| mask(v) | c),
            serde_json::Value::String(s) if s == "?" => false,
            _ => {
                *value = serde_json::Value::String("?".into());
                true
            }
        }
    }
    Some(mask(&mut value).then(|| value.to_string()))
}

/// Memcached storage commands: the data block after the command line goes.
fn memcached(first: &str, text: &str) -> Option<Option<String>> {
    const STORAGE: &[&str] = &["set", "add", "replace", "append", "prepend", "cas"];
    if !STORAGE.contains(&first) {
        return None;
    }
    let line_end = text.find("\r\n").or_else(|| text.find('\n'))?;
    Some(Some(text[..line_end].trim_end().to_owned()))
}

/// Which arguments of a Redis command carry data: the key (first
/// argument) stays, as do option words.
#[derive(Clone, Copy)]
enum RedisArgs {
    /// Everything after the command (`AUTH`).
    All,
    /// The argument at this position (1-based).
    At(usize),
    /// Every argument after the key.
    AfterKey,
    /// Field/value pairs after the key: the values.
    Pairs,
    /// Key/value pairs: the values.
    KeyValues,
    /// Score/member pairs after options: the members.
    Scored,
}

fn redis_command(word: &str) -> Option<RedisArgs> {
    use RedisArgs::*;
    let upper = word.to_ascii_uppercase();
    Some(match upper.as_str() {
        "AUTH" | "HELLO" | "MIGRATE" => All,
        "SET" | "SETNX" | "GETSET" | "APPEND" | "LPUSHX" | "RPUSHX" | "SISMEMBER" | "ZSCORE"
        | "ZRANK" | "ZREVRANK" | "PUBLISH" | "SPUBLISH" => At(2),
        "SETEX" | "PSETEX" | "HSETNX" | "LSET" | "LREM" | "SETRANGE" | "SETBIT" | "ZINCRBY"
        | "SMOVE" | "RESTORE" => At(3),
        "LINSERT" => At(4),
        "LPUSH" | "RPUSH" | "SADD" | "SREM" | "ZREM" | "PFADD" | "XADD" | "GEOHASH" | "GEOPOS"
        | "GEODIST" | "EVAL" | "EVALSHA" => AfterKey,
        "HSET" | "HMSET" => Pairs,
        "MSET" | "MSETNX" => KeyValues,
        "ZADD" | "GEOADD" => Scored,
        "GET" | "DEL" | "EXISTS" | "EXPIRE" | "PEXPIRE" | "TTL" | "PTTL" | "INCR" | "DECR"
        | "INCRBY" | "DECRBY" | "HGET" | "HGETALL" | "HDEL" | "HKEYS" | "LRANGE" | "LPOP"
        | "RPOP" | "SMEMBERS" | "ZRANGE" | "KEYS" | "SCAN" | "TYPE" | "MGET" | "PING" | "INFO"
        | "MULTI" | "SUBSCRIBE" | "UNLINK" => At(usize::MAX),
        _ => return None,
    })
}

/// Redis commands, one per line.
fn redis(text: &str) -> Option<String> {
    let mut changed = false;
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(rule) = words.first().and_then(|w| redis_command(w)) else {
                return line.to_owned();
            };
            let masked: Vec<&str> = words
                .iter()
                .enumerate()
                .map(|(i, word)| {
                    let data = match rule {
                        RedisArgs::All => i >= 1,
                        RedisArgs::At(n) => i == n,
                        RedisArgs::AfterKey => i >= 2,
                        RedisArgs::Pairs => i >= 3 && i % 2 == 1,
                        RedisArgs::KeyValues => i >= 2 && i % 2 == 0,
                        RedisArgs::Scored => {
                            let options = words[2..]
                                .iter()
                                .take_while(|w| {
                                    ["NX", "XX", "GT", "LT", "CH", "INCR"]
                                        .contains(&w.to_ascii_uppercase().as_str())
                                })
                                .count();
                            i >= 2 + options && (i - 2 - options) % 2 == 1
                        }
                    };
                    changed |= data && *word != "?";
                    if data {
                        "?"
                    } else {
                        word
                    }
                })
                .collect();
            masked.join(" ")
        })
        .collect();
    changed.then(|| lines.join("\n"))
}

/// SQL: string, numeric, hex and dollar-quoted literals become `?`;
/// identifiers (digits in them too), quoted identifiers, keywords,
/// operators, parameters (`$1`, `:name`, `@p`) and comments stay.
fn sql(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::new();
    let (mut i, mut last) = (0, 0);
    let literal = |out: &mut String, last: &mut usize, start: usize, end: usize| {
        out.push_str(&text[*last..start]);
        out.push('?');
        *last = end;
    };
    while i < b.len() {
        let next = b.get(i + 1).copied().unwrap_or(0);
        match b[i] {
            b'\'' => {
                // Standard SQL: '' inside a string is a quote.
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => break,
                        Some(b'\'') if b.get(j + 1) == Some(&b'\'') => j += 2,
                        Some(b'\'') => {
                            j += 1;
                            break;
                        }
                        Some(_) => j += 1,
                    }
                }
                literal(&mut out, &mut last, i, j);
                i = j;
            }
            quote @ (b'"' | b'`') => {
                i = b[i + 1..]
                    .iter()
                    .position(|&c| c == quote)
                    .map_or(b.len(), |p| i + p + 2);
            }
            b'-' if next == b'-' => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
            }
            b'#' => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
            }
            b'/' if next == b'*' => {
                i = text[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            }
            b'$' if !next.is_ascii_digit() => {
                // $tag$ ... $tag$ (PostgreSQL dollar quoting).
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(t) if b[t] == b'$' => {
                        let tag = &text[i..=t];
                        let end = text[t + 1..]
                            .find(tag)
                            .map_or(b.len(), |p| t + 1 + p + tag.len());
                        literal(&mut out, &mut last, i, end);
                        i = end;
                    }
                    _ => i += 1,
                }
            }
            b'$' | b':' | b'@' => {
                // Parameters: the marker and its name or number.
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || (c == b'.' && next.is_ascii_digit()) => {
                let mut j = i;
                if c == b'0' && (next == b'x' || next == b'X') {
                    j += 2;
                    while j < b.len() && b[j].is_ascii_hexdigit() {
                        j += 1;
                    }
                } else {
                    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                        j += 1;
                    }
                    if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                        let sign = usize::from(matches!(b.get(j + 1), Some(b'+' | b'-')));
                        if b.get(j + 1 + sign).is_some_and(u8::is_ascii_digit) {
                            j += 1 + sign;
                            while j < b.len() && b[j].is_ascii_digit() {
                                j += 1;
                            }
                        }
                    }
                }
                literal(&mut out, &mut last, i, j);
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                // An identifier or keyword, digits in it included.
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    if last == 0 {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

// ---- URLs ----

/// Whether a path segment or query value identifies something: a number,
/// a UUID, a hex digest, an email, a long run of letters and digits (a
/// token; a file name such as `part-00435.parquet` is not one).
fn identifying(value: &str, short_numbers: bool) -> bool {
    let b = value.as_bytes();
    if b.is_empty() {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    let all_digits = digits == b.len();
    let hex = b.iter().all(|c| c.is_ascii_hexdigit() || *c == b'-');
    value.contains('@')
        || value.contains("%40")
        || (all_digits && (short_numbers || b.len() >= 4))
        || (hex && digits > 0 && b.len() >= 8)
        || (digits > 0 && letters > 0 && b.len() >= 16 && b.iter().all(u8::is_ascii_alphanumeric))
}

fn url(text: &str) -> Option<String> {
    url_with(text, true)
}

fn path_and_query(text: &str) -> Option<String> {
    path_with(text, true)
}

fn url_with(text: &str, queries: bool) -> Option<String> {
    let scheme_end = text.find("://")? + 3;
    let path_start = text[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |p| scheme_end + p);
    let rest = path_with(&text[path_start..], queries)?;
    Some(format!("{}{rest}", &text[..path_start]))
}

/// A path with its query and fragment; the query's values too when
/// `queries`.
fn path_with(text: &str, queries: bool) -> Option<String> {
    let (before_fragment, fragment) = match text.find('#') {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let (path, query_part) = match before_fragment.find('?') {
        Some(at) => (&before_fragment[..at], Some(&before_fragment[at + 1..])),
        None => (before_fragment, None),
    };
    let mut changed = false;
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if identifying(segment, true) {
                changed = true;
                "*"
            } else {
                segment
            }
        })
        .collect();
    let mut out = segments.join("/");
    if let Some(q) = query_part {
        out.push('?');
        match query(q).filter(|_| queries) {
            Some(done) => {
                changed = true;
                out.push_str(&done);
            }
            None => out.push_str(q),
        }
    }
    out.push_str(fragment);
    changed.then_some(out)
}

fn query(text: &str) -> Option<String> {
    let mut changed = false;
    let pairs: Vec<String> = text
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if identifying(value, false) => {
                changed = true;
                format!("{key}=*")
            }
            _ => pair.to_owned(),
        })
        .collect();
    changed.then(|| pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(text: &str) -> String {
        statement(text).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn sql_literals_become_placeholders_and_the_shape_stays() {
        // Cases of the Collector's redaction processor and go-sqllexer.
        assert_eq!(
            st("SELECT * FROM users WHERE id = 123"),
            "SELECT * FROM users WHERE id = ?"
        );
        assert_eq!(
            st("UPDATE accounts SET balance = 10 WHERE id = 7"),
            "UPDATE accounts SET balance = ? WHERE id = ?"
        );
        assert_eq!(
            st("SELECT * FROM users where id = 0x124af"),
            "SELECT * FROM users where id = ?"
        );
        assert_eq!(
            st("SELECT 1.2, 1.2e3, 1.2e-3 FROM users where id in (1, '2', 'it''s')"),
            "SELECT ?, ?, ? FROM users where id in (?, ?, ?)"
        );
        assert_eq!(
            st("SELECT * FROM users123 where id = 1 -- by jane@example.com"),
            "SELECT * FROM users123 where id = ? -- by jane@example.com"
        );
        assert_eq!(
            st("SELECT $func$INSERT INTO t VALUES ('a', 1)$func$ FROM t2 WHERE a = $1 AND b = :name"),
            "SELECT ? FROM t2 WHERE a = $1 AND b = :name"
        );
        assert_eq!(
            st(r#"SELECT "col1" FROM t WHERE x = 'bob'"#),
            r#"SELECT "col1" FROM t WHERE x = ?"#
        );
        assert_eq!(st("SELECT * FROM t"), "SELECT * FROM t");
    }

    #[test]
    fn redis_memcached_and_json_queries() {
        assert_eq!(st("AUTH james my-secret-password"), "AUTH ? ?");
        assert_eq!(st("SET user:123 john EX 60"), "SET user:123 ? EX 60");
        assert_eq!(
            st("HSET key field1 v1 field2 v2"),
            "HSET key field1 ? field2 ?"
        );
        assert_eq!(st("MSET k1 v1 k2 v2"), "MSET k1 ? k2 ?");
        assert_eq!(st("ZADD key NX CH 1 m1 2 m2"), "ZADD key NX CH 1 ? 2 ?");
        assert_eq!(st("GET user:123"), "GET user:123");
        assert_eq!(st("SET NAMES 'utf8'"), "SET NAMES ?");
        assert_eq!(st("SET @x = 5"), "SET @x = ?");
        assert_eq!(st("set mykey 0 60 5\r\nsecret\r\n"), "set mykey 0 60 5");
        assert_eq!(
            st(r#"{"find":"users","filter":{"name":"john","age":{"$gt":30}}}"#),
            r#"{"find":"?","filter":{"name":"?","age":{"$gt":"?"}}}"#
        );
    }

    #[test]
    fn urls_lose_their_identifying_parts() {
        let u = |t: &str| url(t).unwrap_or_else(|| t.to_owned());
        assert_eq!(
            u("https://api.example.com/users/123e4567-e89b-12d3-a456-426614174000/orders/42?page=2&email=jane%40example.com"),
            "https://api.example.com/users/*/orders/*?page=2&email=*"
        );
        assert_eq!(
            u("https://example.com/v1/products?q=shoes"),
            "https://example.com/v1/products?q=shoes"
        );
        assert_eq!(
            u("http://h:8080/a/9f86d081884c7d65?t=abcdef0123456789"),
            "http://h:8080/a/*?t=*"
        );
        assert_eq!(
            words("GET /users/42/profile?id=12345").as_deref(),
            Some("GET /users/*/profile?id=12345")
        );
        assert_eq!(words("GET /users/{id}"), None);
        assert_eq!(query("id=20931&limit=50").as_deref(), Some("id=*&limit=50"));
    }
}
