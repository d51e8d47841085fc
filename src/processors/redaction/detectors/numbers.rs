//! Identifiers made of digits with check digits: national ids, payment
//! cards, IBANs, crypto addresses. The validator decides; a number of the
//! right shape that fails it (an order number, a count) survives.

use super::{Builtin, Gate, RULE};
use crate::processors::redaction::checks;

pub const NATIONAL_IDS: &[Builtin] = &[
    Builtin {
        name: "us_ssn",
        gate: Gate::digits(9),
        // Nine bare digits only after the number's name: any 9-digit id
        // would be one otherwise.
        pattern: r"(?-u:\b)[0-9]{3}[-. ][0-9]{2}[-. ][0-9]{4}(?-u:\b)|(?i:ssn|social security(?: number)?|ss#)[\s:#=-]*(?P<secret>[0-9]{9})(?-u:\b)",
        standalone: true,
        check: Some(checks::us_ssn),
        about: "US Social Security number with dashes, spaces or dots, or nine digits after `SSN`; SSA rules: no 000, 666 or 9xx area, 00 group, 0000 serial",
        example: "ssn 123 45 6789 on file",
        not: "call 900-12-3456",
        ..RULE
    },
    Builtin {
        name: "uk_nino",
        gate: Gate::digits(6),
        pattern: r"(?-u:\b)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-DFMP](?-u:\b)",
        standalone: true,
        check: Some(checks::uk_nino),
        about: "UK National Insurance number: two letters (HMRC's allowed prefixes), six digits, A–D",
        example: "NI number AB 12 34 56 C",
        not: "code GB 12 34 56 A",
        ..RULE
    },
    Builtin {
        name: "ca_sin",
        gate: Gate::digits(9),
        pattern: r"(?-u:\b)[0-9]{3}[ -][0-9]{3}[ -][0-9]{3}(?-u:\b)|(?i:sin|social insurance(?: number)?)[\s:#=-]*(?P<secret>[0-9]{9})(?-u:\b)",
        standalone: true,
        check: Some(checks::ca_sin),
        about: "Canadian Social Insurance Number, grouped 3-3-3 or nine digits after `SIN`; Luhn, first digit not 0 or 8",
        example: "SIN 130 454 283",
        not: "SIN 130 454 284",
        ..RULE
    },
    Builtin {
        name: "fr_nir",
        gate: Gate::digits(11),
        pattern: r"(?-u:\b)[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}(?-u:\b)",
        standalone: true,
        check: Some(checks::fr_nir),
        about: "French NIR (numéro de sécurité sociale): sex, year, month, département (2A/2B), commune, order, key = 97 − n mod 97",
        example: "NIR 2 55 08 14 168 025 38",
        not: "NIR 2 55 08 14 168 025 39",
        ..RULE
    },
    Builtin {
        name: "de_tax_id",
        gate: Gate::digits(11),
        pattern: r"(?-u:\b)[1-9][0-9](?: ?[0-9]{3}){3}(?-u:\b)",
        standalone: true,
        check: Some(checks::de_tax_id),
        about: "German Steuerliche Identifikationsnummer: 11 digits, ISO 7064 MOD 11,10, one digit repeated",
        example: "IdNr 36 574 261 809",
        not: "IdNr 36 574 261 808",
        ..RULE
    },
    Builtin {
        name: "es_dni",
        gate: Gate::digits(7),
        pattern: r"(?-u:\b)(?:[0-9]{8}|[XYZ]-?[0-9]{7})-?[A-Z](?-u:\b)",
        standalone: true,
        check: Some(checks::es_dni),
        about: "Spanish DNI (8 digits) and NIE (X/Y/Z and 7 digits) with the control letter (mod 23)",
        example: "DNI 12345678Z, NIE X1234567L",
        not: "ref 12345678A",
        ..RULE
    },
    Builtin {
        name: "it_codice_fiscale",
        gate: Gate { digits: 2, word: 16, ..Gate::NONE },
        pattern: r"(?-u:\b)[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?-u:\b)",
        standalone: true,
        check: Some(checks::it_codice_fiscale),
        about: "Italian codice fiscale: surname, name, birth date and place codes, check letter (DM 23/12/1976)",
        example: "CF RSSMRA85T10A562S",
        not: "CF RSSMRA85T10A562T",
        ..RULE
    },
    Builtin {
        name: "nl_bsn",
        gate: Gate::digits(9),
        pattern: r"(?-u:\b)[0-9]{4}\.?[0-9]{2}\.?[0-9]{3}(?-u:\b)",
        standalone: true,
        check: Some(checks::nl_bsn),
        about: "Dutch Burgerservicenummer: 9 digits passing the 11-proef",
        example: "BSN 111222333",
        not: "BSN 111222334",
        ..RULE
    },
    Builtin {
        name: "in_aadhaar",
        gate: Gate::digits(12),
        pattern: r"(?-u:\b)[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}(?-u:\b)",
        standalone: true,
        check: Some(checks::in_aadhaar),
        about: "Indian Aadhaar: 12 digits not starting 0 or 1, Verhoeff check digit (UIDAI)",
        example: "Aadhaar 2341 2341 2346",
        not: "Aadhaar 2341 2341 2345",
        ..RULE
    },
    Builtin {
        name: "br_cpf",
        gate: Gate::digits(11),
        pattern: r"(?-u:\b)[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}(?-u:\b)",
        standalone: true,
        check: Some(checks::br_cpf),
        about: "Brazilian CPF: 11 digits, two mod-11 check digits (Receita Federal)",
        example: "CPF 529.982.247-25",
        not: "CPF 529.982.247-26",
        ..RULE
    },
    Builtin {
        name: "br_cnpj",
        gate: Gate::digits(14),
        pattern: r"(?-u:\b)[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}/?[0-9]{4}-?[0-9]{2}(?-u:\b)",
        standalone: true,
        check: Some(checks::br_cnpj),
        about: "Brazilian CNPJ: 14 digits, two mod-11 check digits",
        example: "CNPJ 11.222.333/0001-81",
        not: "CNPJ 11.222.333/0001-82",
        ..RULE
    },
    Builtin {
        name: "au_tfn",
        gate: Gate::digits(8),
        // Bare eight or nine digits only after the number's name: one
        // number in eleven passes the check.
        pattern: r"(?-u:\b)[0-9]{3} [0-9]{3} [0-9]{3}(?-u:\b)|(?i:tfn|tax file number)[\s:#=-]*(?P<secret>[0-9]{8,9})(?-u:\b)",
        standalone: true,
        check: Some(checks::au_tfn),
        about: "Australian Tax File Number: 9 digits grouped 3-3-3, or 8–9 bare after `TFN`; the ATO's weighted mod-11 check",
        example: "TFN 123 456 782",
        not: "TFN 123 456 789",
        ..RULE
    },
];

pub const FINANCIAL: &[Builtin] = &[
    Builtin {
        name: "credit_card",
        gate: Gate::digits(13),
        pattern: r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
        standalone: true,
        check: Some(checks::card),
        about: "payment card numbers (PAN), 13–19 digits with optional spaces or dashes: an issuer's IIN range (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) and Luhn",
        example: "card 4111 1111 1111 1111 declined",
        not: "order 4111 1111 1111 1112",
        ..RULE
    },
    Builtin {
        name: "iban",
        gate: Gate::digits(4),
        pattern: r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
        check: Some(checks::iban),
        about: "IBAN (ISO 13616), compact or in groups of four: the mod-97 check",
        example: "pay to GB82 WEST 1234 5698 7654 32",
        not: "pay to GB82 WEST 1234 5698 7654 33",
        ..RULE
    },
];

pub const CRYPTO: &[Builtin] = &[
    Builtin {
        name: "bitcoin_address",
        gate: Gate { digits: 1, word: 26, ..Gate::NONE },
        pattern: r"(?-u:\b)(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|[bB][cC]1[02-9ac-hj-np-zAC-HJ-NP-Z]{11,71})(?-u:\b)",
        check: Some(checks::bitcoin),
        about: "Bitcoin addresses: legacy and P2SH (base58check, version 0/5, BIP 13) and SegWit/Taproot (bech32 BIP 173, bech32m BIP 350)",
        example: "send to bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        not: "id 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",
        ..RULE
    },
    Builtin {
        name: "ethereum_address",
        anchors: &["0x"],
        pattern: r"(?-u:\b)0x[0-9a-fA-F]{40}(?-u:\b)",
        check: Some(checks::ethereum),
        about: "Ethereum addresses: 0x and 20 bytes of hex; mixed case must pass EIP-55's Keccak checksum",
        example: "to 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        not: "to 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
        ..RULE
    },
];
