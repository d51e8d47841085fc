//! Personal contact data: email addresses and phone numbers.

use super::{Builtin, Gate, RULE};
use crate::processors::redaction::checks;

pub const DETECTORS: &[Builtin] = &[
    Builtin {
        name: "email",
        anchors: &["@"],
        pattern: r"(?-u:\b)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?-u:\b)",
        about: "RFC 5322 addr-spec as written in practice: local part, `@`, a domain with a top-level label of letters",
        example: "sent to jane.doe+billing@example.co.uk today",
        not: "user@localhost and @handles",
        ..RULE
    },
    Builtin {
        name: "phone",
        anchors: &["+"],
        gate: Gate { digits: 8, word: 0, ..Gate::NONE },
        // `+`, the country code, then digits in any grouping: spaces,
        // dots, dashes and parentheses (`+44 7911 123456`,
        // `+81 90-1234-5678`, `+1 (415) 555-0100`).
        pattern: r"\+[1-9](?:[ .()-]{0,2}[0-9]){6,14}(?-u:\b)",
        check: Some(checks::phone_international),
        about: "E.164 numbers written with `+` and any grouping; the national number's length checked against the numbering plan of US/CA, UK, DE, FR, ES, IT, NL, IN, BR, MX, JP, AU and NG (ITU-T E.164, lengths from libphonenumber's metadata), 8–15 digits elsewhere",
        example: "call +44 7911 123456 or +1 (415) 555-0100",
        not: "score +12 and build +1.2.3",
        ..RULE
    },
    Builtin {
        name: "phone_national",
        gate: Gate { digits: 9, word: 0, ..Gate::NONE },
        // National formats with their usual groupings; every form needs a
        // separator or parentheses, so a bare run of digits (an id, a
        // count) is not read as a phone number.
        pattern: concat!(
            // NANP: (415) 555-0100, 415-555-0100, 415.555.0100
            r"(?:\([2-9][0-9]{2}\) ?|(?-u:\b)[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}(?-u:\b)",
            // Trunk prefix 0 (UK, DE, FR, NL, AU, JP, NG, IN, IT landlines):
            // 07911 123456, 020 7946 0958, 06 12 34 56 78, 090-1234-5678, (02) 9876 5432
            r"|(?:\(0[1-9][0-9]{0,4}\) ?|(?-u:\b)0[1-9][0-9]{0,4}[ .-])[0-9]{2,8}(?:[ .-][0-9]{2,8}){0,3}(?-u:\b)",
            // IN mobiles 98765 43210; BR (11) 91234-5678; MX 55 1234 5678
            r"|(?-u:\b)[6-9][0-9]{4} [0-9]{5}(?-u:\b)",
            r"|\([1-9][0-9]\) ?9?[0-9]{4}[ -][0-9]{4}(?-u:\b)",
            r"|(?-u:\b)[1-9][0-9] [0-9]{4} [0-9]{4}(?-u:\b)",
            // ES 612 34 56 78 / 612 345 678; IT mobiles 312 345 6789
            r"|(?-u:\b)(?:[67][0-9]|9[1-8])[0-9](?: [0-9]{2}){3}(?-u:\b)|(?-u:\b)(?:[67][0-9]|9[1-8])[0-9] [0-9]{3} [0-9]{3}(?-u:\b)",
            r"|(?-u:\b)3[0-9]{2}[ .-][0-9]{3}[ .-][0-9]{4}(?-u:\b)",
        ),
        check: Some(checks::phone_national),
        standalone: true,
        context: Some(super::not_a_version),
        about: "national formats with their groupings: NANP `(415) 555-0100`, trunk-0 numbers of UK, DE, FR, NL, AU, JP, NG, IT (`07911 123456`, `06 12 34 56 78`, `090-1234-5678`), IN `98765 43210`, BR `(11) 91234-5678`, MX `55 1234 5678`, ES `612 34 56 78`; 9–12 digits",
        example: "mobile 07911 123456, office (415) 555-0100",
        not: "order 2024-01-15 item 12345-6789",
        ..RULE
    },
];
