//! Percent-encoded text (RFC 3986): a query value holding a header line,
//! a connection string or another URL hides its secrets behind `%3A`,
//! `%40`, `%20`. Such a string is also scanned decoded, and what is found
//! there is mapped back to the encoded bytes it came from.

pub struct Decoded {
    pub text: String,
    /// Where each decoded byte starts in the encoded text (and, last, the
    /// encoded text's length).
    offsets: Vec<usize>,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `text` decoded, when it holds an escape and decodes to UTF-8.
pub fn decode(text: &str) -> Option<Decoded> {
    let b = text.as_bytes();
    let escaped = |i: usize| {
        b[i] == b'%' && i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some()
    };
    if !text.contains('%') || !(0..b.len()).any(escaped) {
        return None;
    }
    let (mut out, mut offsets) = (Vec::with_capacity(b.len()), Vec::with_capacity(b.len() + 1));
    let mut i = 0;
    while i < b.len() {
        offsets.push(i);
        if escaped(i) {
            out.push(hex(b[i + 1])? << 4 | hex(b[i + 2])?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    offsets.push(b.len());
    Some(Decoded {
        text: String::from_utf8(out).ok()?,
        offsets,
    })
}

impl Decoded {
    /// The encoded span a decoded span came from.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.offsets[start], self.offsets[end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_maps_back() {
        let text = "ref=a%3Ab%40c&x=1";
        let decoded = decode(text).unwrap();
        assert_eq!(decoded.text, "ref=a:b@c&x=1");
        let at = decoded.text.find("b@c").unwrap();
        let (start, end) = decoded.original(at, at + 3);
        assert_eq!(&text[start..end], "b%40c");
        assert!(decode("plain 100%").is_none() && decode("%ZZ").is_none());
    }
}
