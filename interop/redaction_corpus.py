#!/usr/bin/env python3
"""Deterministic redaction test corpus for ignis-agent.

    target/interop-venv/bin/python interop/redaction_corpus.py OUT_DIR [--seed N]

Writes into OUT_DIR:
  values.jsonl       secrets and look-alikes: {kind, family, detector, value, needle}
  placements.jsonl   every value planted in every location, in one text shape each: {id, kind,
                     family, detector, location, shape, signal, key, text, needle}; `needle` is the
                     value's needle as it appears in `text` (JSON-escaped in the json shape,
                     percent-encoded in the url shape), `key` the attribute key holding `text`
  {traces,logs,metrics}-NNN.pb / .json   OTLP Export*ServiceRequests (official opentelemetry-proto
                     classes) and the same as OTLP/JSON, each <= 2 MiB; the span, log record or data
                     point carrying a placement (the resource, for resource_attr) has int `corpus.id`
  summary.json       counts per kind / family / detector / location / shape / signal

Validity comes from libraries we did not write: python-stdnum judges national ids, IBANs, cards,
bitcoin addresses and MACs (random candidates kept only when stdnum accepts them; look-alikes only
when it rejects them and no other check below accepts them), phonenumbers (libphonenumber) every
phone. Token formats follow the vendors' published formats (source next to each generator). All
random parts come from random.Random(seed) (Faker seeded from it): none is a real credential.
The run ends with a self-check (asserts), including a second run in a child process with another
PYTHONHASHSEED whose files must be byte-identical.
"""

import argparse, base64, datetime, hashlib, ipaddress, json, os, re, string, subprocess, sys, tempfile, time, uuid, zlib
from collections import Counter
from pathlib import Path
from random import Random
from urllib.parse import quote

import phonenumbers
from Crypto.Hash import keccak
from faker import Faker
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status
from phonenumbers import Leniency, PhoneNumberFormat as PNF, PhoneNumberMatcher, PhoneNumberType
from stdnum import bitcoin, iban, isbn, luhn, mac
from stdnum.au import tfn
from stdnum.bitcoin import bech32_checksum
from stdnum.br import cnpj, cpf
from stdnum.ca import sin
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

DEFAULT_SEED = 20250601
MAX_REQUEST = 2 * 1024 * 1024
PB_BUDGET = 640 * 1024  # pb bytes per request: keeps the OTLP/JSON twin under 2 MiB too
BASE_NS = 1_748_779_200_000_000_000  # 2025-06-01T12:00:00Z: realistic, fixed timestamps

REGIONS = ["US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "MX", "JP", "AU", "NG"]
LOCATIONS = ["resource_attr", "span_attr", "span_attr_array", "span_attr_nested", "span_name",
             "event_name", "event_attr", "exception_message", "exception_stacktrace",
             "status_message", "link_attr", "log_body", "log_body_map", "log_attr", "datapoint_attr"]
SIGNAL = {loc: "traces" for loc in LOCATIONS[:11]}
SIGNAL.update(log_body="logs", log_body_map="logs", log_attr="logs", datapoint_attr="metrics")
# Locations whose text sits under an attribute key (the inner key for kvlists).
KEYED_LOCS = {"resource_attr", "span_attr", "span_attr_array", "span_attr_nested", "event_attr",
              "link_attr", "log_body_map", "log_attr", "datapoint_attr"}
SHAPES = ["bare", "sentence", "kv_list", "json", "url", "header", "stack"]
NEUTRAL_KEYS = ["app.note", "detail", "ref", "app.detail", "note"]  # never secret-looking
KV_KEYS = ["ref", "value", "id", "note"]
# Values that are themselves HTTP header lines: the header shape puts them among others.
HEADER_DETECTORS = {"http_authorization", "http_cookie", "api_key_header", "benign_header"}

UPPER, LOWER, DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
B62 = DIGITS + UPPER + LOWER          # this order is the one GitHub's checksum uses
UD = UPPER + DIGITS
HEX = "0123456789abcdef"
B64URL = string.ascii_letters + DIGITS + "-_"
B32AWS = UPPER + "234567"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
K8S = "bcdfghjklmnpqrstvwxz2456789"       # Kubernetes' SafeEncodeString alphabet
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "en_IN"]
WORDS = ["orders", "billing", "checkout", "catalog", "search", "payments", "ledger", "gateway",
         "inventory", "shipping", "profile", "auth", "notify", "report", "export", "cart"]
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")

SENTENCES = ["The import job stopped at {v} and will retry.", "Customer support noted {v} in the ticket",
             "upstream returned {v}, continuing with the next batch", "Reference: {v}.",
             "Please double-check ({v}) before the next release", "while reconciling we saw {v} twice"]
JAVA_STACK = ("java.lang.IllegalStateException: rejected input {v}\n"
              "\tat com.acme.orders.OrderService.place(OrderService.java:142)\n"
              "\tat com.acme.orders.OrderController.create(OrderController.java:57)\n"
              "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)\n"
              "\tat java.base/java.lang.Thread.run(Thread.java:1583)")
PY_STACK = ("Traceback (most recent call last):\n"
            '  File "/app/orders/service.py", line 88, in place\n'
            "    total = price_order(order)\n"
            '  File "/app/orders/pricing.py", line 31, in price_order\n'
            '    raise ValueError(f"rejected input {ref}")\n'
            "ValueError: rejected input {v}")

# ---- encoding helpers -------------------------------------------------------------------------

def b64(b): return base64.b64encode(b).decode()
def b64u(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
def jesc(s): return json.dumps(s, ensure_ascii=False)[1:-1]  # as the string appears inside JSON
def chunks(s, n): return [s[i:i + n] for i in range(0, len(s), n)]

def pem(label, der, width=64, headers=""):
    # RFC 7468 textual encoding: base64 lines of 64 (OpenSSH uses 70).
    return f"-----BEGIN {label}-----\n{headers}" + "\n".join(chunks(b64(der), width)) + f"\n-----END {label}-----"

def crc24(data):
    # RFC 4880 §6.1: the OpenPGP armor checksum.
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF

def pgp_armor(kind, body):
    # RFC 4880 §6.2: header line, blank line, base64 body, "=" + CRC-24, footer.
    return (f"-----BEGIN PGP {kind} BLOCK-----\n\n" + "\n".join(chunks(b64(body), 64)) +
            "\n=" + b64(crc24(body).to_bytes(3, "big")) + f"\n-----END PGP {kind} BLOCK-----")

def to_base(n, alphabet):
    out = ""
    while n:
        n, r = divmod(n, len(alphabet))
        out = alphabet[r] + out
    return out

def base62_crc32(body):
    # GitHub token checksum: CRC32 of the 30-char random part, base62 (0-9A-Za-z), left-padded
    # with "0" to 6 chars. https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
    # (the blog names CRC32 + base62; alphabet and padding as in the open validators that cite it).
    return to_base(zlib.crc32(body.encode()), B62).rjust(6, "0")

def b58check(payload):  # Bitcoin base58check: payload + first 4 bytes of sha256(sha256(payload))
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + to_base(int.from_bytes(data, "big"), B58)

def to5(data):  # BIP-173 convertbits(8 -> 5), zero-padded
    bits = "".join(f"{b:08b}" for b in data)
    bits += "0" * (-len(bits) % 5)
    return [int(bits[i:i + 5], 2) for i in range(0, len(bits), 5)]

def bech32(hrp, data5):
    # BIP-173 Bech32; the polymod is stdnum's own (stdnum.bitcoin.bech32_checksum).
    exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    chk = bech32_checksum(exp + data5 + [0] * 6) ^ 1
    return hrp + "1" + "".join(BECH32[d] for d in data5 + [(chk >> 5 * (5 - i)) & 31 for i in range(6)])

def eip55(addr):
    # EIP-55 mixed-case checksum: uppercase a hex letter where keccak256(lower hex) nibble >= 8.
    h = keccak.new(digest_bits=256, data=addr.encode()).hexdigest()
    return "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(addr))

def nino_ok(prefix):
    # python-stdnum has no UK NINO module; HMRC's published rules (NIM39110): first letter not
    # D F I Q U V, second not D F I O Q U V, prefixes BG GB KN NK NT TN ZZ never allocated.
    return prefix[0] not in "DFIQUV" and prefix[1] not in "DFIOQUV" and \
        prefix not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")

def accepted_anywhere(text):
    """True when a detector we test would rightly accept part of text: a digit run passing a
    stdnum checksum (SSN only in its ddd-dd-dddd shape: its check accepts almost any 9 digits),
    or a valid phone that libphonenumber's PhoneNumberMatcher finds for any of REGIONS at
    EXACT_GROUPING (digits grouped as that region writes them, or not grouped at all: the
    default VALID leniency also takes e.g. ORD-2024-000123 and 666-58-4364 as phones)."""
    for m in re.finditer(r"\d[\d .\-/]*\d", text):
        d = re.sub(r"\D", "", m.group())
        if len(d) < 8:
            continue
        if (13 <= len(d) <= 19 and luhn.is_valid(d)) or any(v.is_valid(d) for v in CHECKSUMMED):
            return True
        if re.fullmatch(r"\d{3}[- ]?\d{2}[- ]?\d{4}", m.group()) and ssn.is_valid(d):
            return True
    return sum(c.isdigit() for c in text) >= 7 and any(
        True for r in REGIONS for _ in PhoneNumberMatcher(text, r, leniency=Leniency.EXACT_GROUPING))

CHECKSUMMED = [sin, bsn, tfn, aadhaar, cpf, idnr, cnpj, nir]

class NeedleIndex:
    """Finds any secret needle inside a string (prefix-bucketed: fast enough for 100k texts)."""
    def __init__(self, needles):
        self.k = min(len(n) for n in needles)
        self.idx = {}
        for n in needles:
            self.idx.setdefault(n[:self.k], []).append(n)
    def find(self, text):
        for i in range(len(text) - self.k + 1):
            for n in self.idx.get(text[i:i + self.k], ()):
                if text.startswith(n, i):
                    return n
        return None

def universal_ouis():
    # IEEE OUI blocks from stdnum's copy of the registry (stdnum/oui.dat): a random universal MAC
    # is almost never in it, and stdnum.mac rejects unknown manufacturers.
    data = Path(mac.__file__).with_name("oui.dat").read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(r"^([0-9A-F]{6})[-, ]", data, re.M)]

CARDS = [  # (prefixes, length, grouping): ISO/IEC 7812 IIN ranges as the card brands publish them
    (["4"], 16, (4, 4, 4, 4)), (["51", "53", "55", "2221", "2720", "23"], 16, (4, 4, 4, 4)), (["34", "37"], 15, (4, 6, 5)),
    (["6011", "644", "65"], 16, (4, 4, 4, 4)), (["3528", "3566", "3589"], 16, (4, 4, 4, 4)), (["36", "38"], 14, (4, 6, 4)),
    (["62"], 19, (4, 4, 4, 4, 3)), (["6759", "5018"], 16, (4, 4, 4, 4))]
# SWIFT IBAN registry BBAN structures (stdnum checks them, and BE/ES/NO national check digits).
IBAN_BBAN = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n", "BE": "12n",
             "CH": "5n12c", "AT": "16n", "PL": "24n", "SE": "20n", "IE": "4a14n", "PT": "21n", "NO": "11n", "DK": "14n", "FI": "14n"}
DEPTS = ["%02d" % d for d in range(1, 96) if d != 20] + ["2A", "2B"]
PEM_TYPES = [  # (label, DER prefix so the base64 starts like the real thing, random tail length)
    ("RSA PRIVATE KEY", "308204a40201000282010100", 1180),                          # RFC 8017 A.1.2
    ("EC PRIVATE KEY", None, 0),                                                    # RFC 5915
    ("PRIVATE KEY", "308204bd020100300d06092a864886f70d0101010500048204a7", 1191),  # RFC 5958 (PKCS#8)
    ("ENCRYPTED PRIVATE KEY", "3082052d305706092a864886f70d01050d304a", 1290),      # RFC 5958 §3
    ("DSA PRIVATE KEY", "308201bb02010002818100", 435)]                             # OpenSSL DSA
KEYED = [("passwd={s}", "passwd"), ("password: {s}", "password"), ("client_secret={s}", "client_secret"),
         ("session_id={s}", "session_id"), ("apiKey={s}", "apiKey"), ("access_token={s}", "access_token"),
         ('"secret": "{s}"', "secret"), ("private_key='{s}'", "private_key"), ("?token={s}&page=2", "token"),
         ("username=bob&password={s}", "password"), ("refresh_token={s}", "refresh_token"), ("api_key: {s}", "api_key"),
         ("DB_PASSWORD={s}", "DB_PASSWORD"), ('db_password = "{s}"', "db_password"), ("secret_key: {s}", "secret_key"),
         ("auth_token={s}", "auth_token"), ("pwd={s}", "pwd"), ("client_secret: '{s}'", "client_secret")]

class Gen:
    """All randomness: self.r = Random(seed); Faker instances seeded from the same seed."""

    def __init__(self, seed):
        self.r, self.fakers, self.ouis = Random(seed), [], universal_ouis()
        for i, loc in enumerate(LOCALES):
            self.fakers.append(Faker(loc))
            self.fakers[-1].seed_instance(seed * 31 + i)
    def s(self, alphabet, n): return "".join(self.r.choices(alphabet, k=n))
    def hx(self, n): return self.s(HEX, n)
    def dg(self, n): return self.s(DIGITS, n)
    def rb(self, n): return self.r.randbytes(n)
    def ri(self, a, b): return self.r.randint(a, b)
    def pick(self, seq): return self.r.choice(seq)
    def fk(self): return self.r.choice(self.fakers)
    def word(self): return self.r.choice(WORDS)
    def uuid4(self): return str(uuid.UUID(int=self.r.getrandbits(128), version=4))
    def slug(self): return re.sub(r"[^a-z0-9]", "", self.fk().domain_word().lower())[:12] or self.word()
    def user(self): return re.sub(r"[^a-z0-9_]", "", self.fk().user_name().lower()) or "svc"
    def date(self): return datetime.datetime.fromtimestamp(self.ri(1_500_000_000, 1_800_000_000), datetime.timezone.utc)

    def until(self, make, ok, tries=500000):  # rejection sampling: the first candidate ok() accepts
        return next(c for c in (make() for _ in range(tries)) if ok(c))
    def password(self, lo=10, hi=28):  # >= 8 random chars; some with symbols that survive URLs and JSON
        alpha = B62 + "!$*@^~.-_" if self.r.random() < 0.3 else B62
        return self.s(B62, 1) + self.s(alpha, self.ri(lo, hi) - 1)

    def email(self, i):
        f, u = self.fk(), self.user()
        e = [f.ascii_free_email, f.ascii_company_email, lambda: f"{u}+{self.pick(['billing', 'ops', 'alerts'])}@{f.free_email_domain()}",
             lambda: f"{u}{self.ri(1, 999)}@mail.{f.domain_name()}", lambda: f"{u.capitalize()}.{self.slug().capitalize()}@{self.slug().capitalize()}.com",
             lambda: f"{u}@{self.pick(['eu', 'us', 'corp'])}.{self.slug()}.co.uk"][i % 6]()
        return e if EMAIL_RE.fullmatch(e) else f.ascii_free_email()

    def phone(self, i):
        # Random national numbers shaped like libphonenumber's example for the region, kept only
        # when is_valid_number says so; then written in one of 7 styles that must parse back.
        region = REGIONS[i % len(REGIONS)]
        ex = phonenumbers.example_number_for_type(region, self.pick([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]))
        nsn = str(ex.national_number)
        num = self.until(lambda: phonenumbers.PhoneNumber(country_code=ex.country_code, italian_leading_zero=ex.italian_leading_zero,
                                                          national_number=int(nsn[:2] + self.dg(len(nsn) - 2))), phonenumbers.is_valid_number)
        intl = phonenumbers.format_number(num, PNF.INTERNATIONAL)
        p = re.split(r"[\s-]+", intl)
        styles = [phonenumbers.format_number(num, PNF.E164), intl, phonenumbers.format_number(num, PNF.NATIONAL), ".".join(p),
                  "-".join(p), " ".join(p), f"{p[0]} ({p[1]}) " + " ".join(p[2:]) if len(p) > 2 else intl]
        text = styles[(i // len(REGIONS)) % len(styles)]
        try:
            back = phonenumbers.parse(text, region)
            return text if phonenumbers.is_valid_number(back) and back.national_number == num.national_number else styles[0]
        except phonenumbers.NumberParseException:
            return styles[0]

    def national(self, name, i, valid):
        # (candidate maker, stdnum module, display formats). Secrets keep what stdnum accepts,
        # look-alikes (same maker, same formats) what it rejects.
        r, ri = self.r, self.ri
        make, mod, fmts = {
            # Likewise a SIN (3-3-3 by the Government of Canada) bare only after its name.
            "ca_sin": (lambda: r.choice("1234679") + self.dg(8), sin, [sin.format, lambda c: f"{c[:3]} {c[3:6]} {c[6:]}", lambda c: f"SIN {c}"]),
            "fr_nir": (lambda: r.choice("12") + self.dg(2) + "%02d" % ri(1, 12) + r.choice(DEPTS) + "%03d%03d%02d" % (ri(1, 999), ri(1, 999), ri(1, 97)),
                       nir, [nir.format, str]),
            "de_tax_id": (self.idnr_candidate, idnr, [idnr.format, str]),
            "es_dni": (lambda: self.dg(8) + r.choice(DNI_LETTERS), dni, [str, lambda c: c[:8] + "-" + c[8]]),
            "es_nie": (lambda: r.choice("XYZ") + self.dg(7) + r.choice(DNI_LETTERS), nie, [str, lambda c: f"{c[0]}-{c[1:8]}-{c[8]}"]),
            "it_codice_fiscale": (lambda: self.s(UPPER, 6) + self.dg(2) + r.choice("ABCDEHLMPRST") + "%02d" % r.choice([ri(1, 28), ri(41, 68)]) +
                                  r.choice("ABCDEFGHILM") + self.dg(3) + r.choice(UPPER), codicefiscale, [str]),
            "nl_bsn": (lambda: r.choice("123456789") + self.dg(8), bsn, [str, bsn.format]),
            "in_aadhaar": (lambda: r.choice("23456789") + self.dg(11), aadhaar, [aadhaar.format, str]),
            "br_cpf": (lambda: self.dg(11), cpf, [cpf.format, str]),
            "br_cnpj": (lambda: self.dg(8) + r.choice(["0001", "0001", "0002"]) + self.dg(2), cnpj, [cnpj.format, str]),
            # The ATO writes a TFN 123 456 782; bare, one number in eleven passes the check.
            "au_tfn": (lambda: r.choice("123456789") + self.dg(8), tfn, [tfn.format, lambda c: f"TFN {c}"]),
            # SSA's published form is AAA-GG-SSSS; nine bare digits are an SSN
            # only with its name before them (any 9-digit id would be one).
            "us_ssn": (lambda: "%03d%02d%04d" % (ri(1, 899), ri(1, 99), ri(1, 9999)), ssn, [ssn.format, lambda c: f"{c[:3]} {c[3:5]} {c[5:]}", lambda c: f"SSN {c}"]),
        }[name]
        return fmts[i % len(fmts)](self.until(make, lambda c: mod.is_valid(c) == valid))

    def idnr_candidate(self):  # Steuer-IdNr: 10 digits, exactly one of them twice, then a check digit
        rep = self.pick(DIGITS)
        seq = self.r.sample([d for d in DIGITS if d != rep], 8) + [rep, rep]
        self.r.shuffle(seq)
        return "".join(seq) + self.pick(DIGITS) if seq[0] != "0" else self.idnr_candidate()
    def nino(self, i, valid):
        p, d, sfx = self.until(lambda: self.s(UPPER, 2), lambda x: nino_ok(x) == valid), self.dg(6), self.pick("ABCD")
        return [f"{p} {d[:2]} {d[2:4]} {d[4:]} {sfx}", f"{p}{d}{sfx}"][i % 2]
    def ssn_invalid_area(self, i):  # area 000, 666 or 9xx: never issued, stdnum rejects
        c = "%s%02d%04d" % (["000", "666", "9" + self.dg(2)][i % 3], self.ri(1, 99), self.ri(1, 9999))
        # undivided 666/9xx digits are valid Spanish numbers as written: only 000 goes undivided
        return [ssn.format(c), f"{c[:3]} {c[3:5]} {c[5:]}", c if c[0] == "0" else ssn.format(c)][(i // 3) % 3]

    def card(self, i, valid):
        prefixes, length, groups = CARDS[i % len(CARDS)]
        c = self.until(lambda: (lambda p: p + self.dg(length - len(p)))(self.pick(prefixes)), lambda x: luhn.is_valid(x) == valid)
        g = [c[sum(groups[:k]):sum(groups[:k + 1])] for k in range(len(groups))]
        return [c, " ".join(g), "-".join(g)][(i // len(CARDS)) % 3]
    def iban(self, i, valid):
        cc = list(IBAN_BBAN)[i % len(IBAN_BBAN)]

        def make():
            bban = "".join(self.s({"n": DIGITS, "a": UPPER, "c": UD}[t], int(n)) for n, t in re.findall(r"(\d+)([nac])", IBAN_BBAN[cc]))
            return cc + iban.calc_check_digits(cc + "00" + bban) + bban  # mod-97 from stdnum; national checks by rejection
        c = self.until(make, iban.is_valid)
        if not valid:
            c = self.until(lambda: c[:2] + "%02d" % self.ri(2, 98) + c[4:], lambda x: not iban.is_valid(x))
        return [iban.format(c), c][(i // len(IBAN_BBAN)) % 2]

    def bitcoin(self, i):
        # P2PKH "1…", P2SH "3…" (base58check), P2WPKH / P2WSH "bc1q…" (BIP-173); stdnum must accept.
        make = [lambda: b58check(b"\x00" + self.rb(20)), lambda: b58check(b"\x05" + self.rb(20)),
                lambda: bech32("bc", [0] + to5(self.rb(20))), lambda: bech32("bc", [0] + to5(self.rb(32)))][i % 4]
        return self.until(make, bitcoin.is_valid)

    def bitcoin_bad(self, i):
        a = self.bitcoin(i)
        alpha = BECH32 if a.startswith("bc1") else B58
        k = self.ri(len(a) - 6, len(a) - 1)
        return self.until(lambda: a[:k] + self.pick(alpha.replace(a[k], "")) + a[k + 1:], lambda x: not bitcoin.is_valid(x))

    def ipv4(self, i):
        if i % 2 == 0:  # RFC 1918 private
            net = ipaddress.ip_network(self.pick(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]))
            return str(net[self.r.randrange(1, net.num_addresses - 1)])
        return str(self.until(lambda: ipaddress.IPv4Address(self.r.getrandbits(32)), lambda a: a.is_global and not a.is_multicast))

    def ipv6(self, i):  # global unicast 2000::/3 full and compressed, unique local fd00::/8, link-local fe80::/64
        g, st = [self.r.getrandbits(16) for _ in range(8)], i % 4
        g[0] = [0x2000 | (g[0] & 0x1FFF), 0x2000 | (g[0] & 0x1FFF), 0xFD00 | (g[0] & 0xFF), 0xFE80][st]
        if st == 3:
            g[1:4] = [0, 0, 0]
        elif st:
            g[3:5] = [0, 0]
        a = ipaddress.IPv6Address(int("".join("%04x" % x for x in g), 16))
        return a.exploded if st == 0 else a.compressed

    def mac(self, i):  # universal (known IEEE OUI) and locally administered unicast; stdnum must accept
        make = (lambda: self.pick(self.ouis).lower() + self.hx(6)) if i % 2 else \
            (lambda: "%02x" % ((self.r.getrandbits(8) & 0xFC) | 2) + self.hx(10))
        c = ":".join(chunks(self.until(make, lambda x: mac.is_valid(":".join(chunks(x, 2)))), 2))
        return [c, c.upper(), c.upper().replace(":", "-"), ".".join(chunks(c.replace(":", ""), 4))][(i // 2) % 4]

    def pem_private_key(self, i):
        label, prefix, n = PEM_TYPES[i % len(PEM_TYPES)]
        der = bytes.fromhex(prefix) + self.rb(n) if prefix else (  # EC P-256: key, OID prime256v1, public point
            bytes.fromhex("30770201010420") + self.rb(32) + bytes.fromhex("a00a06082a8648ce3d030107a14403420004") + self.rb(64))
        headers = f"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{self.hx(32).upper()}\n\n" \
            if label == "RSA PRIVATE KEY" and (i // 5) % 3 == 1 else ""  # legacy OpenSSL encrypted PEM (RFC 1421)
        v = pem(label, der, headers=headers)
        return v.replace("\n", "\\n") if (i // 5) % 4 == 3 else v  # env-file style: escaped newlines

    def jwt(self, i):
        # RFC 7519 / RFC 7515 compact serialization: b64url(header).b64url(payload).b64url(signature).
        alg, siglen = [("HS256", 32), ("RS256", 256), ("ES256", 64), ("PS256", 256), ("HS512", 64), ("EdDSA", 64)][i % 6]
        iat = 1_748_000_000 + self.ri(0, 5_000_000)
        pay = {"sub": self.uuid4() if i % 2 else str(self.ri(10000, 9999999)),
               "iss": self.pick(["https://auth.example.com/", "https://login.acme.test", "urn:acme:idp"]),
               "aud": self.pick(["orders-api", "billing", "https://api.example.com"]), "iat": iat,
               "exp": iat + self.pick([300, 3600, 86400]), "jti": self.hx(16)} | ({"scope": "read:orders write:orders"} if i % 4 == 0 else {})
        enc = lambda o: b64u(json.dumps(o, separators=(",", ":")).encode())
        return f"{enc({'alg': alg, 'typ': 'JWT'} | ({'kid': self.hx(16)} if i % 3 else {}))}.{enc(pay)}.{b64u(self.rb(siglen))}"
    def checksummed(self, prefix):  # 30 base62 + base62 CRC32 (GitHub 2021 / npm 2021 token formats)
        body = self.s(B62, 30)
        return prefix + body + base62_crc32(body)
    def keyed(self, forms, i, secret):
        form, key = forms[i % len(forms)]
        return form.replace("{s}", secret), secret, key

    def gcp_service_account(self, i):
        # Google Cloud service-account key file (cloud.google.com/iam/docs/keys-create-delete).
        proj, sa = f"{self.word()}-{self.slug()}-{self.ri(100, 999)}", f"{self.word()}-sa"
        pk = pem("PRIVATE KEY", bytes.fromhex(PEM_TYPES[2][1]) + self.rb(1191)) + "\n"
        obj = {"type": "service_account", "project_id": proj, "private_key_id": self.hx(40), "private_key": pk,
               "client_email": f"{sa}@{proj}.iam.gserviceaccount.com", "client_id": str(self.ri(10 ** 20, 10 ** 21 - 1)),
               "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": "https://oauth2.googleapis.com/token",
               "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
               "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{sa}%40{proj}.iam.gserviceaccount.com",
               "universe_domain": "googleapis.com"}
        return json.dumps(obj, indent=2 if i % 2 else None), jesc(pk)  # needle: the key as it appears in the JSON

    def azure_sas(self, i):
        # Azure service SAS (learn.microsoft.com "Create a service SAS"): sig = url-encoded base64 HMAC-SHA256.
        sig, d = quote(b64(self.rb(32)), safe=""), datetime.date(2025, 1, 1) + datetime.timedelta(days=self.ri(0, 400))
        q = f"sv=2022-11-02&ss=b&srt=sco&sp=rl&se={d}T00:00:00Z&st=2025-01-01T00:00:00Z&spr=https&sig={sig}"
        return (f"https://{self.slug()}{self.dg(2)}.blob.core.windows.net/{self.word()}/{self.word()}.csv?{q}" if i % 2 else q), sig

    def url_credentials(self, i):
        # RFC 3986 userinfo (user:password@host) in the URL forms these services document.
        u, pw, dom = self.user(), self.s(B62, 1) + self.s(B62 + "-_.~", self.ri(11, 27)), self.fk().domain_name()
        return [f"https://{u}:{pw}@{dom}/api/v1/export", f"postgres://{u}:{pw}@db.internal:5432/{self.word()}",
                f"postgresql://{u}:{pw}@pg.{dom}:5432/app?sslmode=require", f"mysql://{u}:{pw}@mysql.{dom}:3306/shop",
                f"mongodb+srv://{u}:{pw}@cluster0.{self.s(LOWER + DIGITS, 5)}.mongodb.net/app?retryWrites=true&w=majority",
                f"redis://:{pw}@cache.internal:6379/0", f"amqp://{u}:{pw}@rabbitmq.internal:5672/%2F", f"ftp://{u}:{pw}@files.{dom}/incoming/"][i % 8], pw
    def jdbc(self, i):  # JDBC URL syntax of the PostgreSQL, SQL Server, MySQL and Oracle drivers' docs
        u, pw, h, db = self.word() + "_app", self.s(B62, self.ri(10, 24)), f"db{self.ri(1, 9)}.internal", self.word()
        return [f"jdbc:postgresql://{h}:5432/{db}?user={u}&password={pw}", f"jdbc:sqlserver://{h}:1433;databaseName={db};user={u};password={pw};encrypt=true",
                f"jdbc:mysql://{h}:3306/{db}?user={u}&password={pw}&useSSL=true", f"jdbc:oracle:thin:{u}/{pw}@//{h}:1521/ORCLPDB1"][i % 4], pw

    def authorization(self, i):  # RFC 6750 Bearer (opaque or JWT), RFC 7617 Basic (base64 of user:password)
        if i % 4 < 2:
            tok = self.s(B64URL, self.ri(32, 64)) if i % 4 == 0 else self.jwt(i)
            return (f"Authorization: Bearer {tok}" if i % 8 < 4 else f"authorization: bearer {tok}"), tok
        cred = b64(f"{self.word()}-{self.ri(1, 99)}:{self.s(B62, self.ri(10, 20))}".encode())
        return (f"Authorization: Basic {cred}" if i % 4 == 2 else f"Proxy-Authorization: Basic {cred}"), cred
    def cookie(self, i):  # RFC 6265 Cookie / Set-Cookie
        sid = self.hx(32).upper() if i % 4 == 3 else self.s(B64URL, self.ri(24, 48))
        return [f"Cookie: SID={sid}; theme=dark", f"Set-Cookie: session={sid}; Path=/; HttpOnly; Secure; SameSite=Lax",
                f"Cookie: lang=en; sessionid={sid}; theme=dark", f"Set-Cookie: JSESSIONID={sid}; Path=/; HttpOnly"][i % 4], sid

    def version_ipv4_shaped(self, i):  # (value with its context word, bare dotted number)
        q = ".".join(str(x) for x in [self.ri(1, 255)] + [self.ri(0, 255) for _ in range(3)])
        if i % 6 == 5:
            q = f"{self.ri(6, 10)}.0.{self.dg(5)}.{self.dg(4)}"
            return f"build {q}", q
        return [f"version {q}", f"service.version={q}", f"app.version: {q}", f"v{q}", f"release {q} deployed"][i % 6], q
    def ssh_public_key(self, i):  # RFC 4253 §6.6 / RFC 8709 public key lines: public, must survive
        if i % 2:
            return "ssh-ed25519 " + b64(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + self.rb(32)) + f" {self.word()}-deploy-{self.ri(1, 99)}"
        return "ssh-rsa " + b64(b"\0\0\0\x07ssh-rsa\0\0\0\x03\x01\x00\x01\0\0\x01\x01\x00" + self.rb(256)) + f" ci-runner-{self.ri(1, 99)}"
    def generic_secret(self, i):  # a high-entropy value whose only tell is the key next to it
        k = ["signing_key", "hmac_secret", "encryption_key", "webhook_secret", "jwt_secret", "master_key", "app_secret_key"][i % 7]
        v = [self.s(B62, 40), self.hx(64), b64(self.rb(32)), "whsec_" + b64(self.rb(24))][i % 4]
        return (f"{k}={v}" if i % 2 else f'{k}: "{v}"'), v, k

def nat(name, valid): return lambda g, i: g.national(name, i, valid)

NATIONAL = ["us_ssn", "ca_sin", "fr_nir", "de_tax_id", "es_dni", "es_nie", "it_codice_fiscale", "nl_bsn", "in_aadhaar",
            "br_cpf", "br_cnpj", "au_tfn"]
# rows: (family, detector, count, generator(g, i) -> value | (value, needle[, key]) | look-alike (value, bare))
SECRETS = [
    ("personal", "email", 130, Gen.email), ("personal", "phone", 182, Gen.phone),
    *[("national_id", n, 40, nat(n, True)) for n in NATIONAL],
    ("national_id", "uk_nino", 40, lambda g, i: g.nino(i, True)),
    ("financial", "credit_card", 160, lambda g, i: g.card(i, True)), ("financial", "iban", 128, lambda g, i: g.iban(i, True)),
    ("crypto", "bitcoin_address", 60, Gen.bitcoin),
    ("crypto", "ethereum_address", 60, lambda g, i: "0x" + (lambda a: eip55(a) if i % 2 else a)(g.hx(40))),  # EIP-55
    ("network", "ipv4", 80, Gen.ipv4), ("network", "ipv6", 60, Gen.ipv6), ("network", "mac_address", 60, Gen.mac),
    ("private_key", "pem_private_key", 50, Gen.pem_private_key),
    # https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.key ("openssh-key-v1\0"), 70-char lines
    ("private_key", "openssh_private_key", 20, lambda g, i: pem("OPENSSH PRIVATE KEY", b"openssh-key-v1\x00" + g.rb(g.pick([380, 1000, 1800])), 70)),
    # RFC 4880 §5.5.1.3 Secret-Key packet (old format tag 5) in ASCII armor
    ("private_key", "pgp_private_key", 20, lambda g, i: pgp_armor("PRIVATE KEY", b"\x95\x03\xc6\x04" + g.rb(g.pick([600, 920])))),
    # age v1 (age-encryption.org/v1, C2SP age.md): Bech32 with HRP "age-secret-key-", upper case
    ("private_key", "age_secret_key", 20, lambda g, i: bech32("age-secret-key-", to5(g.rb(32))).upper()),
    ("token", "jwt", 80, Gen.jwt),
    # https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
    ("token", "github_token", 100, lambda g, i: g.checksummed(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"][i % 5])),
    # GitHub fine-grained PAT: github_pat_ + 22 + "_" + 59 (gitleaks github-fine-grained-pat: github_pat_\w{82})
    ("token", "github_fine_grained_pat", 30, lambda g, i: "github_pat_11" + g.s(UD, 20) + "_" + g.s(B62, 59)),
    # GitLab token prefixes (docs.gitlab.com/security/tokens): glpat-/gldt-/glrt- + 20 [0-9A-Za-z_-]
    ("token", "gitlab_token", 45, lambda g, i: ["glpat-", "gldt-", "glrt-"][i % 3] + g.s(B64URL, 20)),
    # https://github.blog/2021-09-23-announcing-npms-new-access-token-format/ (npm_ + 36, CRC32 like GitHub's)
    ("token", "npm_token", 30, lambda g, i: g.checksummed("npm_")),
    # PyPI API token: "pypi-" + base64url macaroon beginning "AgEIcHlwaS5vcmc" (pypi.org/help/#apitoken; gitleaks)
    ("token", "pypi_token", 25, lambda g, i: "pypi-AgEIcHlwaS5vcmc" + b64u(g.rb(g.ri(50, 140)))),
    # Docker Hub personal access token dckr_pat_ + 27 (GitHub secret-scanning partner patterns; gitleaks)
    ("token", "dockerhub_token", 25, lambda g, i: "dckr_pat_" + g.s(B64URL, 27)),
    # api.slack.com/authentication/token-types: xoxb-/xoxp- numeric ids + secret; app-level xapp-1-A…-…-hex
    ("token", "slack_token", 60, lambda g, i: [
        f"xoxb-{g.ri(10 ** 9, 10 ** 13 - 1)}-{g.ri(10 ** 9, 10 ** 13 - 1)}-{g.s(B62, 24)}",
        f"xoxp-{g.ri(10 ** 9, 10 ** 13 - 1)}-{g.ri(10 ** 9, 10 ** 13 - 1)}-{g.ri(10 ** 9, 10 ** 13 - 1)}-{g.hx(32)}",
        f"xapp-1-A{g.s(UD, 10)}-{g.dg(13)}-{g.hx(64)}"][i % 3]),
    # api.slack.com/messaging/webhooks: https://hooks.slack.com/services/T…/B…/<24>
    ("token", "slack_webhook", 30, lambda g, i: f"https://hooks.slack.com/services/T{g.s(UD, g.ri(8, 10))}/B{g.s(UD, g.ri(8, 10))}/{g.s(B62, 24)}"),
    # docs.stripe.com/keys: sk_live_/rk_live_/sk_test_ + alphanumerics (gitleaks: 10..99)
    ("token", "stripe_key", 44, lambda g, i: ["sk_live_", "rk_live_", "sk_test_", "rk_test_"][i % 4] + g.s(B62, g.pick([24, 34, 58, 99]))),
    ("token", "twilio_api_key", 25, lambda g, i: "SK" + g.hx(32)),  # Twilio API key SID: SK + 32 hex
    ("token", "sendgrid_api_key", 25, lambda g, i: f"SG.{g.s(B64URL, 22)}.{g.s(B64URL, 43)}"),  # SendGrid: SG.<22>.<43>
    ("token", "mailgun_api_key", 25, lambda g, i: "key-" + g.hx(32)),  # Mailgun private API key (legacy format)
    # Shopify access tokens / shared secret: shpat_/shpca_/shppa_/shpss_ + 32 hex (gitleaks shopify-*)
    ("token", "shopify_token", 40, lambda g, i: ["shpat_", "shpca_", "shppa_", "shpss_"][i % 4] + g.hx(32)),
    # OpenAI: legacy sk-<20>T3BlbkFJ<20>; sk-proj-/sk-svcacct-/sk-admin- <74|58>T3BlbkFJ<74|58> (gitleaks openai-api-key)
    ("token", "openai_api_key", 40, lambda g, i: "sk-" + g.s(B62, 20) + "T3BlbkFJ" + g.s(B62, 20) if i % 4 == 0 else
     ["sk-proj-", "sk-svcacct-", "sk-admin-"][i % 3] + (lambda n: g.s(B64URL, n) + "T3BlbkFJ" + g.s(B64URL, n))(74 if i % 2 else 58)),
    # Anthropic: sk-ant-api03- / sk-ant-admin01- + 93 + "AA" (gitleaks anthropic-api-key / anthropic-admin-api-key)
    ("token", "anthropic_api_key", 24, lambda g, i: ["sk-ant-api03-", "sk-ant-admin01-"][i % 2] + g.s(B64URL, 93) + "AA"),
    ("token", "huggingface_token", 25, lambda g, i: "hf_" + g.s(string.ascii_letters, 34)),  # HF access token (gitleaks)
    # Datadog API key (32 hex) / application key (40 hex): only recognisable in context (docs.datadoghq.com/account_management/api-app-keys)
    ("token", "datadog_api_key", 32, lambda g, i: g.keyed([("DD_API_KEY={s}", "DD_API_KEY"), ("dd-api-key: {s}", "dd-api-key"),
        ('datadog_api_key: "{s}"', "datadog_api_key"), ("DD_APP_KEY={s}", "DD_APP_KEY")], i, g.hx(40 if i % 4 == 3 else 32))),
    ("token", "new_relic_key", 25, lambda g, i: "NRAK-" + g.s(UD, 27)),  # New Relic user API key (gitleaks)
    # docs.sentry.io DSN: https://<public key, 32 hex>@o<org>.ingest[.region].sentry.io/<project>
    ("token", "sentry_dsn", 24, lambda g, i: f"https://{g.hx(32)}@o{g.ri(100000, 4999999)}.ingest.{['', 'us.', 'de.'][i % 3]}sentry.io/{g.ri(1000000, 9999999)}"),
    # Discord bot token: base64(user snowflake id) . 6 (timestamp) . 27+ (HMAC) (discord.com/developers/docs/reference)
    ("token", "discord_bot_token", 25, lambda g, i: b64(str(g.ri(10 ** 17, 13 * 10 ** 17)).encode()).rstrip("=") + "." + g.s(B64URL, 6) + "." + g.s(B64URL, g.pick([27, 38]))),
    ("token", "discord_webhook", 24, lambda g, i: f"https://{['discord.com', 'discordapp.com', 'canary.discord.com'][i % 3]}/api/webhooks/{g.ri(10 ** 17, 10 ** 19 - 1)}/{g.s(B64URL, 68)}"),
    # core.telegram.org/bots/api: <bot id>:<35>, the secret part starting "AA" (gitleaks telegram-bot-api-token)
    ("token", "telegram_bot_token", 25, lambda g, i: f"{g.ri(10 ** 7, 10 ** 10 - 1)}:AA{g.s(B64URL, 33)}"),
    # HashiCorp Vault 1.10+ tokens: hvs. service, hvb. batch (developer.hashicorp.com/vault/docs/concepts/tokens; gitleaks)
    ("token", "vault_token", 30, lambda g, i: "hvs." + g.s(B64URL, g.ri(90, 110)) if i % 3 else "hvb." + g.s(B64URL, g.ri(138, 160))),
    # Grafana Cloud glc_<base64 JSON>; service account glsa_<32>_<8 hex> (gitleaks grafana-*)
    ("token", "grafana_token", 30, lambda g, i: "glsa_" + g.s(B62, 32) + "_" + g.hx(8) if i % 2 else "glc_" + b64(json.dumps(
        {"o": str(g.ri(100000, 999999)), "n": f"stack-{g.ri(100000, 999999)}-{g.word()}", "k": g.s(B62, 24), "m": {"r": g.pick(["us", "eu"])}},
        separators=(",", ":")).encode())),
    # Microsoft Teams incoming webhook URL (gitleaks microsoft-teams-webhook)
    ("token", "teams_webhook", 24, lambda g, i: f"https://{g.slug()}.webhook.office.com/webhookb2/{g.uuid4()}@{g.uuid4()}/IncomingWebhook/{g.hx(32)}/{g.uuid4()}"),
    # AWS IAM "Unique identifiers": AKIA (long-term) / ASIA (temporary) + 16 [A-Z2-7]
    ("cloud", "aws_access_key", 50, lambda g, i: ["AKIA", "ASIA"][i % 2] + g.s(B32AWS, 16)),
    # AWS secret access key: 40 base64-alphabet chars, only recognisable in context (AWS CLI config docs)
    ("cloud", "aws_secret_key", 40, lambda g, i: g.keyed([("aws_secret_access_key = {s}", "aws_secret_access_key"), ("AWS_SECRET_ACCESS_KEY={s}", "AWS_SECRET_ACCESS_KEY"),
        ('"SecretAccessKey": "{s}"', "SecretAccessKey"), ("aws_secret_access_key: {s}", "aws_secret_access_key")], i, g.s(B62 + "/+", 40))),
    ("cloud", "google_api_key", 40, lambda g, i: "AIza" + g.s(B64URL, 35)),  # Google API key (gitleaks gcp-api-key)
    ("cloud", "gcp_service_account", 20, Gen.gcp_service_account),
    # Azure Storage connection string (learn.microsoft.com "Configure Azure Storage connection strings"): 64-byte key, 88 base64 chars
    ("cloud", "azure_storage_key", 30, lambda g, i: (lambda k: (f"DefaultEndpointsProtocol=https;AccountName={g.slug()}{g.dg(3)};AccountKey={k};"
        "EndpointSuffix=core.windows.net", k))(b64(g.rb(64)))),
    ("cloud", "azure_sas_token", 30, Gen.azure_sas),
    ("credentials", "url_credentials", 120, Gen.url_credentials), ("credentials", "jdbc", 40, Gen.jdbc),
    ("credentials", "http_authorization", 72, Gen.authorization), ("credentials", "http_cookie", 40, Gen.cookie),
    ("credentials", "api_key_header", 24, lambda g, i: (lambda k: ([f"X-Api-Key: {k}", f"x-api-key: {k}", f"Api-Key: {k}", f"X-Auth-Token: {k}"][i % 4], k))(g.s(B62, g.ri(24, 48)))),
    ("credentials", "keyed_secret", 306, lambda g, i: g.keyed(KEYED, i, g.password())),
    # a high-entropy value whose only tell is the key next to it
    ("credentials", "generic_secret", 56, Gen.generic_secret),
]
LOOKALIKES = [
    # personal: phone-shaped numbers that are clearly not phones (libphonenumber's matcher must find none)
    ("personal", "order_id", 70, lambda g, i: [f"ORD-{g.ri(2019, 2025)}-{g.dg(6)}", f"ORD-{g.ri(2019, 2025)}{g.ri(1, 12):02d}-{g.dg(5)}-{g.pick(UPPER)}", f"PO-{g.dg(4)}-{g.s(UPPER, 3)}"][i % 3]),
    ("personal", "invoice_number", 70, lambda g, i: [f"INV-{g.ri(2019, 2025)}-{g.ri(1, 12):02d}-{g.dg(5)}", f"INV/{g.ri(2019, 2025)}/{g.dg(6)}"][i % 2]),
    ("personal", "isbn13", 70, lambda g, i: isbn.format(g.until(lambda: g.pick(["978", "979"]) + g.dg(10), isbn.is_valid))),
    ("personal", "zip_plus4", 70, lambda g, i: f"{g.dg(5)}-{g.dg(4)}"),
    ("personal", "date", 70, lambda g, i: g.date().strftime(["%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y"][i % 3])),
    ("personal", "time_of_day", 70, lambda g, i: g.date().strftime("%H:%M:%S") + (f".{g.ri(0, 999):03d}" if i % 2 else "")),
    ("personal", "timestamp_rfc3339", 70, lambda g, i: g.date().strftime("%Y-%m-%dT%H:%M:%S") + ["", f".{g.ri(0, 999):03d}", f".{g.dg(9)}"][i % 3] + ["Z", "+02:00", "-05:00", "Z"][i % 4]),
    ("personal", "epoch_millis", 70, lambda g, i: str(g.ri(1_600_000_000_000, 1_800_000_000_000))),
    ("personal", "duration", 70, lambda g, i: [f"{g.ri(1, 9)}.{g.ri(1, 9)}s", f"{g.ri(1, 999)}ms", f"{g.ri(1, 59)}m{g.ri(1, 59)}s", f"{g.ri(1, 23)}h{g.ri(1, 59)}m", f"PT{g.ri(1, 59)}M", f"0.{g.ri(10, 99)}s"][i % 6]),
    # national_id: same shapes and formats as the secrets, rejected by stdnum (and by every other check)
    ("national_id", "ssn_invalid_area", 60, Gen.ssn_invalid_area),
    ("national_id", "uk_nino_invalid_prefix", 30, lambda g, i: g.nino(i, False)),
    *[("national_id", n + "_bad_checksum", 30, nat(n, False)) for n in NATIONAL[1:]],
    ("financial", "card_luhn_invalid", 120, lambda g, i: g.card(i, False)), ("financial", "iban_bad_checksum", 96, lambda g, i: g.iban(i, False)),
    ("crypto", "git_sha", 80, lambda g, i: g.hx(40)), ("crypto", "short_sha", 60, lambda g, i: g.hx(g.ri(7, 12))),
    ("crypto", "sha256_digest", 60, lambda g, i: g.hx(64)), ("crypto", "bitcoin_bad_checksum", 48, Gen.bitcoin_bad),
    ("crypto", "eth_tx_hash", 48, lambda g, i: "0x" + g.hx(64)),
    ("network", "version_ipv4_shaped", 150, Gen.version_ipv4_shaped),
    ("network", "semver", 72, lambda g, i: ("v" if i % 3 == 0 else "") + f"{g.ri(0, 30)}.{g.ri(0, 40)}.{g.ri(0, 99)}" + ["", f"-rc.{g.ri(1, 9)}", f"+build.{g.ri(1, 999)}", "-SNAPSHOT"][i % 4]),
    ("network", "oid", 48, lambda g, i: ["1.3.6.1.4.1.", "1.2.840.113549.1.1.", "2.5.4.", "1.3.6.1.2.1.2.2.1."][i % 4] + ".".join(str(g.ri(1, 400)) for _ in range(g.ri(1, 3)))),
    ("network", "port", 48, lambda g, i: (lambda p: [f"localhost:{p}", f"{g.word()}.svc.cluster.local:{p}", f"{g.word()}:{p}", f"listening on :{p}"][i % 4])(
        g.pick([80, 443, 3000, 4317, 4318, 5432, 6379, 8080, 9090]))),
    ("network", "cpp_symbol", 36, lambda g, i: f"{g.pick(['std', 'boost::asio', 'absl', 'crate', 'tokio::net'])}::{g.word()}::{g.pick(['push_back', 'new', 'load', 'flush'])}"),
    # private_key: public halves and certificates (public, must survive)
    ("private_key", "certificate_pem", 24, lambda g, i: pem("CERTIFICATE", bytes.fromhex("3082031f30820207a003020102021400") + g.rb(780))),
    ("private_key", "public_key_pem", 24, lambda g, i: pem("PUBLIC KEY", bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100") + g.rb(256) + bytes.fromhex("0203010001"))),
    ("private_key", "ssh_public_key", 40, Gen.ssh_public_key),
    ("private_key", "age_recipient", 40, lambda g, i: bech32("age", to5(g.rb(32)))),  # age public key "age1…"
    ("private_key", "pgp_public_key", 20, lambda g, i: pgp_armor("PUBLIC KEY", b"\x99\x01\x0d\x04" + g.rb(g.pick([260, 520])))),
    ("token", "uuid", 90, lambda g, i: g.uuid4().upper() if i % 4 == 3 else g.uuid4()),
    ("token", "trace_id", 90, lambda g, i: g.hx(32)), ("token", "span_id", 80, lambda g, i: g.hx(16)), ("token", "md5_digest", 70, lambda g, i: g.hx(32)),
    ("token", "k8s_pod_name", 72, lambda g, i: (lambda w: [f"{w}-{g.s(K8S, 10)}-{g.s(K8S, 5)}", f"{w}-{g.ri(0, 5)}", f"{w}-{g.s(K8S, 5)}"][i % 3])(f"{g.word()}-{g.pick(['api', 'worker', 'web'])}")),
    ("token", "image_digest", 60, lambda g, i: (lambda d: [d, f"ghcr.io/acme/{g.word()}@{d}", f"registry.example.com/{g.word()}:1.{g.ri(0, 40)}.0@{d}"][i % 3])("sha256:" + g.hx(64))),
    ("token", "sk_word", 60, lambda g, i: ["sk-SK", "locale=sk-SK", "Accept-Language: sk-SK,sk;q=0.9,en;q=0.8", f"lang sk-SK region {g.ri(1, 9)}",
        f"{g.pick(['task', 'disk', 'risk', 'desk', 'kiosk'])}-{g.word()}-{g.ri(1, 999)}"][i % 5]),
    ("token", "token_prefix_only", 60, lambda g, i: (lambda p: [p, p + g.s(LOWER, g.ri(3, 8)), f"tokens start with {p}"][i % 3])(
        g.pick(["ghp_", "gho_", "github_pat_", "xoxb-", "sk_live_", "glpat-", "npm_", "hf_", "dckr_pat_", "sk-ant-", "SG.", "AIza", "hvs.", "glsa_"]))),
    ("cloud", "akia_lowercase", 40, lambda g, i: "AKIA" + g.s(LOWER, 16)),
    ("cloud", "aws_arn", 45, lambda g, i: [f"arn:aws:iam::{g.dg(12)}:role/{g.word()}-deploy", f"arn:aws:s3:::{g.word()}-logs/{g.ri(2019, 2025)}/", f"arn:aws:lambda:eu-west-1:{g.dg(12)}:function:{g.word()}"][i % 3]),
    ("cloud", "s3_uri", 40, lambda g, i: f"s3://{g.slug()}-{g.word()}/{g.word()}/part-{g.ri(0, 999):05d}.parquet"),
    ("cloud", "azure_conn_no_key", 30, lambda g, i: (lambda a: [f"DefaultEndpointsProtocol=https;AccountName={a};EndpointSuffix=core.windows.net",
        f"BlobEndpoint=https://{a}.blob.core.windows.net/;QueueEndpoint=https://{a}.queue.core.windows.net/"][i % 2])(g.slug() + g.dg(2))),
    ("cloud", "sas_no_sig", 30, lambda g, i: f"sv=2022-11-02&ss=b&srt=sco&sp={g.pick(['r', 'rl', 'rwdl'])}&spr=https"),
    ("cloud", "k8s_resource_version", 45, lambda g, i: (lambda n: [f"resourceVersion: {n}", f'"resourceVersion":"{n}"', f"rv={n}"][i % 3])(g.ri(1_000_000, 999_999_999))),
    ("cloud", "gcp_resource_name", 40, lambda g, i: f"projects/{g.word()}-prod/locations/{g.pick(['us-central1', 'europe-west4'])}/clusters/{g.word()}-{g.ri(1, 9)}"),
    # credentials: secret words without a value, non-secret keys next to numbers, paths, credential-free URLs
    ("credentials", "prose_secret_words", 120, lambda g, i: [f"password reset email sent to the {g.word()} team", f"token bucket refilled ({g.ri(1, 500)} tokens)",
        f"session started for tenant {g.word()}", f"secret rotation scheduled in {g.ri(2, 90)} days", f"api key rotation completed for {g.word()}", "private key loaded from the keystore",
        f"credentials cache warmed in {g.ri(2, 900)}ms", "auth token expired, refreshing", f"cookie consent banner shown on {g.word()}", "bearer scheme negotiated"][i % 10]),
    ("credentials", "nonsecret_key_number", 120, lambda g, i: [f"max_tokens={g.pick([256, 512, 1024, 4096])}", f"token_count={g.ri(1, 9999)}", f"session_count={g.ri(0, 99)}",
        f"keyboard={g.pick(['us', 'de', 'fr'])}", f"tokens_per_second={g.ri(1, 99)}.{g.ri(0, 9)}", f"password_min_length={g.ri(8, 16)}", f"auth_retries={g.ri(1, 5)}", f"keyspace={g.word()}",
        f"token_ttl_seconds={g.pick([60, 300, 3600])}", f"session_timeout={g.ri(5, 60)}m"][i % 10]),
    ("credentials", "file_path", 72, lambda g, i: [f"/var/log/{g.word()}/service.log", "/etc/ssl/certs/ca-certificates.crt", f"/run/secrets/{g.word()}_password",
        f"C:\\Users\\{g.user()}\\AppData\\Local\\Temp\\{g.word()}.tmp", f"/home/{g.user()}/.ssh/known_hosts", f"/app/config/{g.word()}/tokens.yaml"][i % 6]),
    ("credentials", "url_no_credentials", 72, lambda g, i: (lambda w: [f"https://api.example.com/v1/{w}/health", f"postgres://db.internal:5432/{w}", f"redis://cache.internal:6379/{g.ri(0, 15)}",
        f"jdbc:postgresql://db:5432/{w}?sslmode=require", f"amqp://rabbitmq.internal:5672/{w}", f"mongodb+srv://cluster0.{g.s(LOWER, 5)}.mongodb.net/{w}?retryWrites=true"][i % 6])(g.word())),
    ("credentials", "benign_header", 60, lambda g, i: ["Accept: application/json", "Content-Type: application/json; charset=utf-8", f"Cookie: theme=dark; lang={g.pick(['en', 'de', 'fr'])}",
        "Cache-Control: no-cache", f"User-Agent: curl/8.{g.ri(0, 12)}.0", f"X-Request-Id: {g.uuid4()}"][i % 6]),
    ("credentials", "base64_text", 72, lambda g, i: b64(g.fakers[0].sentence(nb_words=g.ri(4, 12)).encode())),
]

def make_values(g):
    values = []
    for family, det, count, fn in SECRETS:
        for i in range(count):
            out = fn(g, i)
            value, needle, key = (out, out, None) if isinstance(out, str) else (out + (None,))[:3]
            values.append({"kind": "secret", "family": family, "detector": det, "value": value, "needle": needle} | ({"_key": key} if key else {}))
    index = NeedleIndex([v["needle"] for v in values])  # look-alikes are vetted against every secret needle
    for family, det, count, fn in LOOKALIKES:
        seen = set()
        for i in range(count):
            for attempt in range(2000):  # redraw until nothing we test would accept it (and, mostly, unseen)
                value, bare = (lambda o: (o, None) if isinstance(o, str) else o)(fn(g, i))
                if not (index.find(value) or accepted_anywhere(value) or (value in seen and attempt < 50)):
                    break
            else:
                raise RuntimeError(f"no acceptable {det} look-alike (last: {value!r})")
            seen.add(value)
            values.append({"kind": "lookalike", "family": family, "detector": det, "value": value, "needle": value} | ({"_bare": bare} if bare else {}))
    return values

# ---- placements --------------------------------------------------------------------------------

def allowed_shapes(v):
    # url: not for multi-line values; for secrets only when the needle survives percent-encoding
    # literally (a look-alike just has to arrive intact, encoded as it was planted).
    url_ok = "\n" not in v["value"] and (v["kind"] == "lookalike" or quote(v["needle"], safe="") == v["needle"])
    return [s for s in SHAPES if s != "url" or url_ok]

def shape_text(v, shape, n):
    """The value in one text shape; returns (text, needle as it appears in text)."""
    val, ndl, key = v["value"], v["needle"], v.get("_key")
    if shape == "bare":
        return val, ndl
    if shape == "sentence":
        return SENTENCES[n % len(SENTENCES)].replace("{v}", val), ndl
    if shape == "kv_list":
        if key:  # keyed secrets carry their own key
            return f"seq={n} {val} lang=en", ndl
        q = f'"{val}"' if any(c.isspace() for c in val) else val
        return f"seq={n} {KV_KEYS[n % len(KV_KEYS)]}={q} status=ok", ndl
    if shape == "json":
        obj = {"user": "bob", key: ndl} if key else {"user": "bob", KV_KEYS[n % len(KV_KEYS)]: val}
        return json.dumps(obj, ensure_ascii=False), jesc(ndl)
    if shape == "url":
        if key:
            return f"https://api.example.com/v1/items?page=2&{key}={quote(ndl, safe='')}", quote(ndl, safe="")
        return f"https://api.example.com/v1/items?ref={quote(val, safe='')}&page=2", quote(ndl, safe="")
    if shape == "header":
        if v["detector"] in HEADER_DETECTORS:
            return f"Host: api.example.com\nAccept: application/json\n{val}\nX-Request-Id: {n}", ndl
        return f"X-Request-Note: {val}", ndl
    return (JAVA_STACK if n % 2 else PY_STACK).replace("{v}", val), ndl  # stack

def make_placements(values):
    counts, placements, version_n = {}, [], 0
    for vi, v in enumerate(values):
        allowed = allowed_shapes(v)
        for li, loc in enumerate(LOCATIONS):
            pid = len(placements) + 1
            # Least-used shape for (kind, family, location), rotating ties: every combination occurs.
            c = counts.setdefault((v["kind"], v["family"], loc), Counter())
            shape = min(allowed, key=lambda s: (c[s], (SHAPES.index(s) - vi - li) % len(SHAPES)))
            key = NEUTRAL_KEYS[pid % len(NEUTRAL_KEYS)] if loc in KEYED_LOCS else None
            if v.get("_bare") and loc in KEYED_LOCS and (version_n := version_n + 1) % 10 == 0:
                # ~10 % of version look-alikes: the bare dotted number under a version key.
                shape, key, text, needle = "bare", ("service.version", "app.version")[pid % 2], v["_bare"], v["_bare"]
            else:
                text, needle = shape_text(v, shape, pid)
            c[shape] += 1
            if loc == "exception_stacktrace" and shape != "stack":
                text = (JAVA_STACK if pid % 2 else PY_STACK).replace("{v}", text)
            placements.append({"id": pid, "kind": v["kind"], "family": v["family"], "detector": v["detector"],
                               "location": loc, "shape": shape, "signal": SIGNAL[loc], "key": key,
                               "text": text, "needle": needle})
    return placements

# ---- OTLP --------------------------------------------------------------------------------------

def anyv(x):
    if isinstance(x, list):
        return AnyValue(array_value={"values": [anyv(y) for y in x]})
    if isinstance(x, dict):
        return AnyValue(kvlist_value={"values": [kv(k, y) for k, y in x.items()]})
    return AnyValue(**{{bool: "bool_value", int: "int_value", float: "double_value", str: "string_value"}[type(x)]: x})

def kv(k, x): return KeyValue(key=k, value=anyv(x))
def attrs(d): return [kv(k, x) for k, x in d.items()]

RESOURCE = {"service.name": "corpus-shop", "service.namespace": "redaction-corpus", "deployment.environment.name": "test",
            "telemetry.sdk.language": "python", "telemetry.sdk.name": "redaction_corpus"}
SCOPE = {"name": "ignis.redaction_corpus", "version": "1.0.0"}
REQ_TYPES = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest, "metrics": ExportMetricsServiceRequest}

class Otlp:
    def __init__(self, rng):
        self.r = rng

    def tid(self): return (self.r.getrandbits(128) or 1).to_bytes(16, "big")  # valid ids are nonzero
    def sid(self): return (self.r.getrandbits(64) or 1).to_bytes(8, "big")

    def span(self, p, carry_id=True):
        loc, text, key, t = p["location"], p["text"], p["key"], BASE_NS + p["id"] * 7_000_000
        s = Span(trace_id=self.tid(), span_id=self.sid(), kind=1 + p["id"] % 3, start_time_unix_nano=t,
                 end_time_unix_nano=t + self.r.randint(200_000, 90_000_000),
                 name=text if loc == "span_name" else self.r.choice(["POST /v1/orders", "GET /v1/items", "db.query", "process"]))
        a = ({"corpus.id": p["id"]} if carry_id else {}) | ({"http.request.method": "POST"} if p["id"] % 2 else {"code.function.name": "place"})
        a |= {"span_attr": {key: text}, "span_attr_array": {key: ["alpha", text, "omega"]},
              "span_attr_nested": {NEUTRAL_KEYS[0]: {"request": {"kind": "order", key: text}}}}.get(loc, {})
        s.attributes.extend(attrs(a))
        ev = {"event_name": (text, {}), "event_attr": ("note.added", {key: text}),  # exceptions per OTel semconv
              "exception_message": ("exception", {"exception.type": "java.lang.IllegalStateException", "exception.message": text}),
              "exception_stacktrace": ("exception", {"exception.type": "ValueError", "exception.message": "rejected input",
                                                     "exception.stacktrace": text})}.get(loc)
        if ev:
            s.events.add(time_unix_nano=t + 100_000, name=ev[0], attributes=attrs(ev[1]))
        if loc == "link_attr":
            s.links.add(trace_id=self.tid(), span_id=self.sid(), attributes=attrs({key: text}))
        if loc == "status_message":
            s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=text))
        elif loc.startswith("exception"):
            s.status.code = Status.STATUS_CODE_ERROR
        return s

    def log(self, p):
        loc, text, key, t = p["location"], p["text"], p["key"], BASE_NS + p["id"] * 7_000_000
        sev = [(9, "INFO"), (13, "WARN"), (17, "ERROR")][p["id"] % 3]
        body = text if loc == "log_body" else {"event": "order.processed", key: text} if loc == "log_body_map" else "order processed"
        a = {"corpus.id": p["id"], "code.function.name": "place"} | ({key: text} if loc == "log_attr" else {})
        rec = LogRecord(time_unix_nano=t, observed_time_unix_nano=t + 1_000_000, severity_number=sev[0],
                        severity_text=sev[1], body=anyv(body), attributes=attrs(a))
        if p["id"] % 2:
            rec.trace_id, rec.span_id = self.tid(), self.sid()
        return rec

    def point(self, p):
        t = BASE_NS + p["id"] * 7_000_000
        return NumberDataPoint(attributes=attrs({"corpus.id": p["id"], p["key"]: p["text"]}), time_unix_nano=t,
                               start_time_unix_nano=t - 60_000_000_000, as_double=round(self.r.uniform(0, 1000), 3))

    def requests(self, placements):
        """Yields (signal, request) with each request's encoding under PB_BUDGET."""
        for signal in ("traces", "logs", "metrics"):
            req, size, holder = None, 0, None
            for p in (q for q in placements if q["signal"] == signal):
                if signal == "traces" and p["location"] == "resource_attr":
                    # The value sits on the resource; the span beneath carries no corpus.id.
                    item = ResourceSpans(resource={"attributes": attrs(RESOURCE | {"corpus.id": p["id"], p["key"]: p["text"]})})
                    item.scope_spans.add(scope=SCOPE).spans.append(self.span(p, carry_id=False))
                else:
                    item = {"traces": self.span, "logs": self.log, "metrics": self.point}[signal](p)
                n = item.ByteSize() + 16
                if req is None or size + n > PB_BUDGET:
                    if req is not None:
                        yield signal, req
                    req, size, holder = REQ_TYPES[signal](), 512, None
                size += n
                if isinstance(item, ResourceSpans):
                    req.resource_spans.append(item)
                    continue
                if holder is None:  # one shared resource + scope per request for the other items
                    res = {"resource": {"attributes": attrs(RESOURCE)}}
                    holder = req.resource_spans.add(**res).scope_spans.add(scope=SCOPE).spans if signal == "traces" else \
                        req.resource_logs.add(**res).scope_logs.add(scope=SCOPE).log_records if signal == "logs" else \
                        req.resource_metrics.add(**res).scope_metrics.add(scope=SCOPE).metrics.add(
                            name="corpus.probe", unit="1", description="redaction corpus probe").gauge.data_points
                holder.append(item)
            if req is not None:
                yield signal, req

ID_FIELDS = ("traceId", "spanId", "parentSpanId")

def ids_to(obj, conv):
    """OTLP/JSON: trace/span ids are hex, not proto3-JSON base64. conv maps one id string."""
    if isinstance(obj, dict):
        for k, x in obj.items():
            obj[k] = conv(x) if k in ID_FIELDS and isinstance(x, str) else ids_to(x, conv)
    elif isinstance(obj, list):
        return [ids_to(x, conv) for x in obj]
    return obj

def to_otlp_json(req):
    d = json_format.MessageToDict(req, preserving_proto_field_name=False, use_integers_for_enums=True)
    return ids_to(d, lambda s: base64.b64decode(s).hex())

# ---- build, check, write -----------------------------------------------------------------------

def build(seed):
    g = Gen(seed)
    values = make_values(g)
    placements = make_placements(values)
    files = {"values.jsonl": "".join(json.dumps({k: v[k] for k in ("kind", "family", "detector", "value", "needle")},
                                                ensure_ascii=False) + "\n" for v in values).encode(),
             "placements.jsonl": "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in placements).encode()}
    n = Counter()
    for signal, req in Otlp(g.r).requests(placements):
        name = f"{signal}-{n[signal]:03d}"
        n[signal] += 1
        files[name + ".pb"] = req.SerializeToString(deterministic=True)
        files[name + ".json"] = json.dumps(to_otlp_json(req), ensure_ascii=False, separators=(",", ":")).encode()
    by = lambda *ks: dict(sorted(Counter("/".join(str(x[k]) for k in ks) for x in placements).items()))
    summary = {
        "seed": seed,
        "libraries": {"python-stdnum": __import__("stdnum").__version__, "phonenumbers": phonenumbers.__version__,
                      "Faker": __import__("faker").VERSION, "pycryptodome": __import__("Crypto").__version__,
                      "protobuf": __import__("google.protobuf").protobuf.__version__},
        "values": dict(Counter(v["kind"] for v in values)),
        "values_by_kind_family": dict(sorted(Counter(f"{v['kind']}/{v['family']}" for v in values).items())),
        "values_by_kind_detector": dict(sorted(Counter(f"{v['kind']}/{v['family']}/{v['detector']}" for v in values).items())),
        "placements": len(placements),
        "placements_by_kind": by("kind"), "placements_by_location": by("location"), "placements_by_shape": by("shape"),
        "placements_by_signal": by("signal"), "placements_by_kind_family_shape": by("kind", "family", "shape"),
        "kind_family_location_shape_combinations": len({(p["kind"], p["family"], p["location"], p["shape"]) for p in placements}),
        "files": {k: len(b) for k, b in sorted(files.items())},
    }
    files["summary.json"] = (json.dumps(summary, indent=2) + "\n").encode()
    return files, values, placements

VALIDATORS = {"us_ssn": ssn, "ca_sin": sin, "fr_nir": nir, "de_tax_id": idnr, "es_dni": dni, "es_nie": nie,
              "it_codice_fiscale": codicefiscale, "nl_bsn": bsn, "in_aadhaar": aadhaar, "br_cpf": cpf, "br_cnpj": cnpj,
              "au_tfn": tfn, "iban": iban, "bitcoin_address": bitcoin, "credit_card": luhn}

def self_check(files, values, placements):
    secrets = [v for v in values if v["kind"] == "secret"]
    looks = [v for v in values if v["kind"] == "lookalike"]
    assert len(secrets) >= 3000 and len(looks) >= 3000, (len(secrets), len(looks))
    assert not [d for d, n in Counter(v["detector"] for v in secrets).items() if n < 20]
    for v in secrets:
        assert v["needle"] and v["needle"] in v["value"], v
        mod = VALIDATORS.get(v["detector"])
        # stdnum judges the number; some display variants use separators its compact() keeps
        assert mod is None or mod.is_valid(v["value"]) or mod.is_valid(re.sub(r"^(SSN|SIN|TFN) |[\s.\-/]", "", v["value"])), v
    assert all(v["needle"] == v["value"] for v in looks)
    assert eip55("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 vector
    assert {p["location"] for p in placements} == set(LOCATIONS)
    assert {p["shape"] for p in placements} == set(SHAPES)
    combos = {(p["kind"], p["family"], p["location"], p["shape"]) for p in placements}
    for kind in ("secret", "lookalike"):
        for fam in sorted({v["family"] for v in values if v["kind"] == kind}):
            missing = [(l, s) for l in LOCATIONS for s in SHAPES if (kind, fam, l, s) not in combos]
            assert not missing, (kind, fam, missing[:5])
    index = NeedleIndex([v["needle"] for v in secrets])
    for p in placements:
        assert p["needle"] in p["text"], p
        assert p["kind"] == "secret" or index.find(p["text"]) is None, (p["id"], index.find(p["text"]))
    seen_ids = Counter()
    for name, blob in files.items():
        if name.endswith(".pb"):
            assert len(blob) <= MAX_REQUEST, (name, len(blob))
            req = REQ_TYPES[name.split("-")[0]].FromString(blob)
            assert req.SerializeToString(deterministic=True) == blob, name
            js = files[name[:-3] + ".json"]
            assert len(js) <= MAX_REQUEST, (name, len(js))
            back = json_format.ParseDict(ids_to(json.loads(js), lambda s: b64(bytes.fromhex(s))), REQ_TYPES[name.split("-")[0]]())
            assert back == req, name + ": OTLP/JSON does not round-trip"
            seen_ids.update(int(i) for i in re.findall(rb'"corpus\.id","value":\{"intValue":"(\d+)"', js))
    assert sorted(seen_ids) == [p["id"] for p in placements] and max(seen_ids.values()) == 1, "each placement once"

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--no-check", action="store_true", help="skip the self-check (used by its own second run)")
    args = ap.parse_args()
    t0 = time.monotonic()
    files, values, placements = build(args.seed)
    t_build = time.monotonic() - t0
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*-[0-9][0-9][0-9].*"):  # stale chunks from an earlier, larger run
        old.unlink()
    for name, blob in files.items():
        (out / name).write_bytes(blob)
    if args.no_check:
        return
    self_check(files, values, placements)
    t_check = time.monotonic() - t0 - t_build
    # Determinism: a second run in a fresh interpreter with another hash seed must write the same bytes.
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, tmp, "--seed", str(args.seed), "--no-check"], check=True,
                       env=os.environ | {"PYTHONHASHSEED": str(args.seed % 4294967295 + 1)})
        again = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    digest = lambda fs: {n: hashlib.sha256(b).hexdigest() for n, b in fs.items()}
    assert digest(again) == digest(files), [n for n in files if digest(files)[n] != digest(again).get(n)]
    s = json.loads(files["summary.json"])
    print(f"values {s['values']}  placements {s['placements']}  files {len(files)} "
          f"({sum(map(len, files.values())) / 2 ** 20:.1f} MiB)  build {t_build:.1f}s  check {t_check:.1f}s  "
          f"total {time.monotonic() - t0:.1f}s  self-check OK, deterministic")

if __name__ == "__main__":
    main()
