//! Validators: the check digits and checksums that tell a real identifier
//! from a number of the same shape. Each reads the published algorithm
//! (sources in REDACTION.md) and takes the matched text as written,
//! separators included, so a detector's pattern can stay loose.

use sha2::{Digest, Sha256};

/// The ASCII digits of `text`, as numbers.
fn digits(text: &str) -> Vec<u32> {
    text.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect()
}

/// Luhn (ISO/IEC 7812) over every digit of `text`.
fn luhn_ok(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, double) if double > 9 => double - 9,
            (true, double) => double,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Payment cards: 12–19 digits whose major industry identifier (ISO/IEC
/// 7812: 2 to 6, the card networks' ranges) and Luhn check say card.
pub fn card(text: &str) -> bool {
    let d = digits(text);
    (12..=19).contains(&d.len()) && (2..=6).contains(&d[0]) && luhn_ok(&d)
}

/// Canadian SIN: nine digits, Luhn; 0 and 8 are not issued as first digits.
pub fn ca_sin(text: &str) -> bool {
    let d = digits(text);
    d.len() == 9 && d[0] != 0 && d[0] != 8 && luhn_ok(&d)
}

/// IBANs: the ISO 13616 mod-97 check.
pub fn iban(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u64 = 0;
    for &b in tail.iter().chain(head) {
        let Some(value) = (b as char).to_digit(36) else {
            return false;
        };
        let value = u64::from(value);
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// US social security numbers: no 000/666/9xx area, 00 group or 0000
/// serial, one separator throughout.
pub fn us_ssn(text: &str) -> bool {
    if text.len() == 9 {
        let with_dashes = format!("{}-{}-{}", &text[..3], &text[3..5], &text[5..]);
        return us_ssn(&with_dashes);
    }
    let separator = text.as_bytes()[3] as char;
    let parts: Vec<&str> = text.split(separator).collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    *area != "000"
        && *area != "666"
        && !area.starts_with('9')
        && *group != "00"
        && *serial != "0000"
}

/// UK National Insurance numbers: prefixes never issued (HMRC's list).
pub fn uk_nino(text: &str) -> bool {
    let prefix: String = text.chars().take(2).collect();
    !matches!(
        prefix.as_str(),
        "BG" | "GB" | "KN" | "NK" | "NT" | "TN" | "ZZ"
    )
}

/// French NIR: a 13-digit number (Corsica's 2A/2B read as 19/18) and a
/// two-digit key of 97 − (number mod 97).
pub fn fr_nir(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 15 {
        return false;
    }
    let (number, key) = compact.split_at(13);
    let number = number.replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(key)) = (number.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    97 - n % 97 == key
}

/// German tax id (Steuer-IdNr): ISO 7064 MOD 11,10, and in the first ten
/// digits one digit twice or three times, the rest at most once.
pub fn de_tax_id(text: &str) -> bool {
    let d = digits(text);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated = counts.iter().filter(|&&c| c > 1).count();
    if repeated != 1 || counts.iter().any(|&c| c > 3) {
        return false;
    }
    let mut product = 10;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    (11 - product) % 10 == d[10]
}

/// Spanish DNI (8 digits and a letter) and NIE (X/Y/Z read as 0/1/2):
/// the letter is the number mod 23 in the Ministry's table.
pub fn es_dni(text: &str) -> bool {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let compact: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    let Some((&letter, body)) = compact.split_last() else {
        return false;
    };
    let mut number: u32 = 0;
    for (i, &b) in body.iter().enumerate() {
        let value = match b {
            b'X' if i == 0 => 0,
            b'Y' if i == 0 => 1,
            b'Z' if i == 0 => 2,
            b'0'..=b'9' => u32::from(b - b'0'),
            _ => return false,
        };
        number = number * 10 + value;
    }
    LETTERS[(number % 23) as usize] == letter
}

/// Italian codice fiscale: the last letter checks the first fifteen
/// characters (odd positions through the Ministry's table, even at face
/// value).
pub fn it_codice_fiscale(text: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let bytes = text.as_bytes();
    if bytes.len() != 16 {
        return false;
    }
    let mut sum = 0;
    for (i, &b) in bytes[..15].iter().enumerate() {
        let index = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A'),
            _ => return false,
        };
        sum += if i % 2 == 0 {
            ODD[index as usize]
        } else {
            index
        };
    }
    u32::from(bytes[15]) == u32::from(b'A') + sum % 26
}

/// Dutch BSN: the "11-proef", weights 9..2 and −1.
pub fn nl_bsn(text: &str) -> bool {
    let d = digits(text);
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i64 = d
        .iter()
        .zip([9i64, 8, 7, 6, 5, 4, 3, 2, -1])
        .map(|(&x, w)| i64::from(x) * w)
        .sum();
    sum % 11 == 0
}

/// Indian Aadhaar: twelve digits, not starting 0 or 1, Verhoeff's check.
pub fn in_aadhaar(text: &str) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let d = digits(text);
    if d.len() != 12 || d[0] < 2 {
        return false;
    }
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        c = D[c as usize][P[i % 8][x as usize] as usize];
    }
    c == 0
}

/// Mod-11 check digits of Brazil's CPF and CNPJ over `weights`.
fn mod11_digit(d: &[u32], weights: &[u32]) -> u32 {
    let sum: u32 = d.iter().zip(weights).map(|(x, w)| x * w).sum();
    match sum % 11 {
        0 | 1 => 0,
        r => 11 - r,
    }
}

/// Brazilian CPF: two mod-11 check digits; all-equal digits are invalid.
pub fn br_cpf(text: &str) -> bool {
    let d = digits(text);
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    mod11_digit(&d[..9], &[10, 9, 8, 7, 6, 5, 4, 3, 2]) == d[9]
        && mod11_digit(&d[..10], &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2]) == d[10]
}

/// Brazilian CNPJ: two mod-11 check digits.
pub fn br_cnpj(text: &str) -> bool {
    let d = digits(text);
    if d.len() != 14 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    mod11_digit(&d[..12], &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]) == d[12]
        && mod11_digit(&d[..13], &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]) == d[13]
}

/// Australian TFN: eight or nine digits whose weighted sum is a multiple
/// of 11 (the ATO's weights).
pub fn au_tfn(text: &str) -> bool {
    let d = digits(text);
    let weights: &[u32] = match d.len() {
        9 => &[1, 4, 3, 7, 5, 8, 6, 9, 10],
        8 => &[10, 7, 8, 4, 6, 3, 5, 1],
        _ => return false,
    };
    let sum: u32 = d.iter().zip(weights).map(|(x, w)| x * w).sum();
    sum.is_multiple_of(11)
}

/// Bitcoin addresses: base58check (version 0 or 5, double SHA-256) or
/// bech32/bech32m (BIP 173 / BIP 350) with the `bc` prefix.
pub fn bitcoin(text: &str) -> bool {
    if text.len() > 3 && text[..3].eq_ignore_ascii_case("bc1") {
        return bech32(text);
    }
    base58check(text).is_some_and(|payload| payload.len() == 21 && matches!(payload[0], 0 | 5))
}

fn base58check(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut bytes: Vec<u8> = Vec::with_capacity(32);
    for c in text.bytes() {
        let mut carry = ALPHABET.iter().position(|&a| a == c)? as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|&c| c == b'1').count();
    let mut full = vec![0u8; zeros];
    full.extend(bytes);
    if full.len() < 5 {
        return None;
    }
    let (payload, checksum) = full.split_at(full.len() - 4);
    let hash = Sha256::digest(Sha256::digest(payload));
    (hash[..4] == *checksum).then(|| payload.to_vec())
}

fn bech32(text: &str) -> bool {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GENERATOR: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    // Mixed case is invalid by BIP 173.
    if text.bytes().any(|b| b.is_ascii_lowercase()) && text.bytes().any(|b| b.is_ascii_uppercase())
    {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    let Some((hrp, data)) = lower.rsplit_once('1') else {
        return false;
    };
    if data.len() < 6 {
        return false;
    }
    let mut values: Vec<u32> = hrp.bytes().map(|b| u32::from(b >> 5)).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|b| u32::from(b & 31)));
    for c in data.bytes() {
        let Some(v) = CHARSET.iter().position(|&x| x == c) else {
            return false;
        };
        values.push(v as u32);
    }
    let mut check = 1u32;
    for v in values {
        let top = check >> 25;
        check = ((check & 0x1ff_ffff) << 5) ^ v;
        for (i, g) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                check ^= g;
            }
        }
    }
    // bech32 (witness v0) or bech32m (v1+).
    check == 1 || check == 0x2bc8_30a3
}

/// Ethereum addresses: all one case, or EIP-55's mixed-case checksum
/// (Keccak-256 of the lowercase hex).
pub fn ethereum(text: &str) -> bool {
    let hex = &text[2..];
    let lower = hex.bytes().all(|b| !b.is_ascii_uppercase());
    let upper = hex.bytes().all(|b| !b.is_ascii_lowercase());
    if lower || upper {
        return true;
    }
    use sha3::Keccak256;
    let hash = Keccak256::digest(hex.to_ascii_lowercase().as_bytes());
    hex.bytes().enumerate().all(|(i, b)| {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
        !b.is_ascii_alphabetic() || (nibble >= 8) == b.is_ascii_uppercase()
    })
}

/// GitHub tokens: the last six characters are the CRC32 of the thirty
/// before them, in base62 (GitHub's 2021 token format).
pub fn github(text: &str) -> bool {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let Some((prefix, body)) = text.rsplit_once('_') else {
        return false;
    };
    // Refresh tokens come longer too (76), without a documented checksum.
    if body.len() != 36 {
        return prefix == "ghr" && body.len() > 36;
    }
    let (random, checksum) = body.split_at(30);
    let mut n = crc32fast::hash(random.as_bytes());
    let mut encoded = [b'0'; 6];
    for slot in encoded.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    encoded == checksum.as_bytes()
}

/// JWTs: the header decodes (base64url) to a JSON object naming its `alg`.
pub fn jwt(text: &str) -> bool {
    use base64::Engine;
    let header = text.split('.').next().unwrap_or_default();
    let Ok(decoded) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('='))
    else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&decoded)
        .is_ok_and(|header| header.get("alg").is_some_and(serde_json::Value::is_string))
}

/// Shannon entropy of `text` in bits per character.
pub fn entropy(text: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in text.bytes() {
        counts[b as usize] += 1;
    }
    let n = text.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A generic secret next to a secret-looking key: long, mixed letters and
/// digits, high entropy (hex keys included), and not a UUID (an id as
/// often as a secret).
pub fn high_entropy(text: &str) -> bool {
    let value = text.trim_matches(|c| c == '"' || c == '\'');
    let letters = value.bytes().filter(u8::is_ascii_alphabetic).count();
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    let uuid = value.len() == 36 && value.bytes().filter(|&b| b == b'-').count() == 4;
    value.len() >= 16 && letters > 0 && digits > 0 && !uuid && entropy(value) >= 3.0
}

/// International numbers (`+` and the country code): the national
/// significant number has a length the country's numbering plan allows
/// (ITU-T E.164 assignments; lengths as libphonenumber's metadata gives
/// them for the countries named, 4–14 digits elsewhere).
pub fn phone_international(text: &str) -> bool {
    let d = digits(text);
    let plans: &[(&[u32], std::ops::RangeInclusive<usize>)] = &[
        (&[1], 10..=10),
        (&[4, 4], 9..=10),
        (&[4, 9], 6..=13),
        (&[3, 3], 9..=9),
        (&[3, 4], 9..=9),
        (&[3, 9], 6..=11),
        (&[3, 1], 9..=9),
        (&[9, 1], 10..=10),
        (&[5, 5], 10..=11),
        (&[5, 2], 10..=10),
        (&[8, 1], 9..=10),
        (&[6, 1], 9..=9),
        (&[2, 3, 4], 8..=10),
    ];
    for (code, lengths) in plans {
        if d.starts_with(code) {
            let national = &d[code.len()..];
            // NANP: area code and exchange do not start with 0 or 1.
            let nanp_ok = code != &[1] || (national[0] >= 2 && national[3] >= 2);
            return lengths.contains(&national.len()) && nanp_ok;
        }
    }
    (8..=15).contains(&d.len())
}

/// National numbers: a length some numbering plan above allows, one kind
/// of separator throughout (a CPF `091.449.882-08` mixes two).
pub fn phone_national(text: &str) -> bool {
    let mut separators = text.bytes().filter(|b| matches!(b, b' ' | b'.' | b'-'));
    let first = separators.next();
    let one_kind =
        separators.all(|b| Some(b) == first) || text.starts_with('(') && !text.contains('.');
    one_kind && (9..=12).contains(&digits(text).len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_test_vectors() {
        // ISO 7812 / network test numbers.
        assert!(card("4111 1111 1111 1111") && card("5500-0000-0000-0004"));
        assert!(card("378282246310005") && card("6011111111111117"));
        assert!(!card("4111 1111 1111 1112") && !card("1234567890123452"));
        assert!(iban("GB82 WEST 1234 5698 7654 32") && iban("DE89370400440532013000"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33"));
        assert!(us_ssn("123-45-6789") && us_ssn("123 45 6789") && us_ssn("123.45.6789"));
        assert!(!us_ssn("123-45 6789") && !us_ssn("666-45-6789") && !us_ssn("900-45-6789"));
        assert!(ca_sin("130 454 283") && !ca_sin("130 454 284") && !ca_sin("046 454 286"));
        assert!(fr_nir("2 55 08 14 168 025 38") && !fr_nir("2 55 08 14 168 025 39"));
        assert!(de_tax_id("36574261809") && de_tax_id("86095742719") && !de_tax_id("86095742718"));
        assert!(es_dni("12345678Z") && es_dni("X1234567L") && !es_dni("12345678A"));
        assert!(it_codice_fiscale("RSSMRA85T10A562S") && !it_codice_fiscale("RSSMRA85T10A562T"));
        assert!(nl_bsn("111222333") && !nl_bsn("111222334"));
        assert!(in_aadhaar("2341 2341 2346") && !in_aadhaar("2341 2341 2345"));
        assert!(br_cpf("529.982.247-25") && !br_cpf("529.982.247-26") && !br_cpf("111.111.111-11"));
        assert!(br_cnpj("11.222.333/0001-81") && !br_cnpj("11.222.333/0001-82"));
        assert!(au_tfn("123 456 782") && !au_tfn("123 456 789"));
        // BIP 173 / BIP 350 / the Bitcoin wiki's examples.
        assert!(bitcoin("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"));
        assert!(bitcoin("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));
        assert!(!bitcoin("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"));
        assert!(bitcoin("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
        assert!(bitcoin(
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
        ));
        assert!(!bitcoin("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"));
        // EIP-55's own examples.
        assert!(ethereum("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
        assert!(ethereum("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"));
        assert!(!ethereum("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
        assert!(jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x") && !jwt("eyJmb28iOjF9.e.x"));
        assert!(phone_international("+44 7911 123456") && !phone_international("+44 79"));
        assert!(phone_international("+1 415 555 0100") && !phone_international("+1 115 555 0100"));
        assert!(high_entropy("q8Xz2LmP4vR7nT1wK9bY") && !high_entropy("aaaaaaaaaaaaaaaa1"));
        assert!(!high_entropy("3f2b1c4d-9e8f-4a5b-8c7d-6e5f4a3b2c1d"));
        assert!(high_entropy("3f591a546e99b329379931fdfe8dcfa039975cbd"));
        assert!(phone_national("07911 123456") && !phone_national("091.449.882-08"));
    }
}
