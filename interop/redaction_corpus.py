#!/usr/bin/env python3
"""Deterministic redaction test corpus for ignis-agent.

    target/interop-venv/bin/python interop/redaction_corpus.py OUT_DIR [--seed N]

Writes into OUT_DIR:
  values.jsonl       secrets and look-alikes: {kind, family, detector, value, needle}
  placements.jsonl   every value planted in every location, each in one text shape:
                     {id, kind, family, detector, location, shape, signal, key, text, needle}
                     (`needle` there is the value's needle as it appears in `text`: JSON-escaped
                     in the json shape, percent-encoded in the url shape; `key` is the attribute
                     key holding `text`, null where the location has none)
  {traces,logs,metrics}-NNN.pb    OTLP Export*ServiceRequest (official opentelemetry-proto
                     classes), each <= 2 MiB; the item carrying a placement has int `corpus.id`
  {traces,logs,metrics}-NNN.json  the same requests as OTLP/JSON (lowerCamelCase, hex ids,
                     integer enums), also each <= 2 MiB
  summary.json       counts per kind / family / detector / location / shape / signal

Validity comes from libraries we did not write, not from us: python-stdnum judges national
ids, IBANs, cards, bitcoin addresses and MACs (random candidates are kept only when stdnum
accepts them; the look-alikes only when it rejects them, and only when no other stdnum
validator nor libphonenumber's PhoneNumberMatcher accepts them either); `phonenumbers`
(libphonenumber) judges every phone. Token formats follow the vendors' published formats
(source next to each generator). Every random part comes from random.Random(seed) (Faker is
seeded from the same seed): nothing here is a real credential.

The run ends with a self-check (asserts), including a second run in a child process with a
different PYTHONHASHSEED whose files must be byte-identical.
"""

import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import re
import string
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
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
from phonenumbers import PhoneNumberFormat as PNF, PhoneNumberMatcher, PhoneNumberType
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

SENTENCES = ["The import job stopped at {v} and will retry.",
             "Customer support noted {v} in the ticket",
             "upstream returned {v}, continuing with the next batch",
             "Reference: {v}.",
             "Please double-check ({v}) before the next release",
             "while reconciling we saw {v} twice"]
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


def base62_crc32(body):
    # GitHub token checksum: CRC32 of the 30-char random part, base62 (0-9A-Za-z), left-padded
    # with "0" to 6 chars. https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
    # (the blog names CRC32 + base62; alphabet and padding as in the open validators that cite it).
    n, out = zlib.crc32(body.encode()) & 0xFFFFFFFF, ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(6, "0")


def b58check(payload):
    # Bitcoin base58check: payload + first 4 bytes of sha256(sha256(payload)).
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n, out = int.from_bytes(data, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def to5(data):
    # BIP-173 convertbits(8 -> 5) with padding.
    acc = bits = 0
    out = []
    for byte in data:
        acc, bits = (acc << 8) | byte, bits + 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


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


NUMERIC_VALIDATORS = [ssn, sin, bsn, tfn, aadhaar, cpf, idnr, cnpj, nir]


def accepted_anywhere(text):
    """True when any digit run in text passes a stdnum validator or libphonenumber finds a valid
    phone in it: a look-alike must be rejected by every detector we test, not only its own."""
    for m in re.finditer(r"\d[\d .\-/]*\d", text):
        d = re.sub(r"\D", "", m.group())
        if len(d) < 8:
            continue
        if 12 <= len(d) <= 19 and luhn.is_valid(d):
            return True
        if any(v.is_valid(d) for v in NUMERIC_VALIDATORS):
            return True
    if sum(c.isdigit() for c in text) >= 7:
        return any(True for r in REGIONS for _ in PhoneNumberMatcher(text, r))
    return False


class NeedleIndex:
    """Finds any secret needle inside a string (prefix-bucketed, fast enough for 100k texts)."""

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


# ---- value generators ------------------------------------------------------------------------

CARDS = [  # (brand, prefixes, length, grouping) — ISO/IEC 7812 IIN ranges as published by brands
    ("visa", ["4"], 16, (4, 4, 4, 4)), ("mastercard", ["51", "53", "55", "2221", "2720", "23"], 16, (4, 4, 4, 4)),
    ("amex", ["34", "37"], 15, (4, 6, 5)), ("discover", ["6011", "644", "65"], 16, (4, 4, 4, 4)),
    ("jcb", ["3528", "3566", "3589"], 16, (4, 4, 4, 4)), ("diners", ["36", "38"], 14, (4, 6, 4)),
    ("unionpay", ["62"], 19, (4, 4, 4, 4, 3)), ("maestro", ["6759", "5018"], 16, (4, 4, 4, 4))]
# SWIFT IBAN registry BBAN structures (stdnum checks them, and the national check digits too).
IBAN_BBAN = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c",
             "NL": "4a10n", "BE": "12n", "CH": "5n12c", "AT": "16n", "PL": "24n", "SE": "20n",
             "IE": "4a14n", "PT": "21n", "NO": "11n", "DK": "14n", "FI": "14n"}
DEPTS = ["%02d" % d for d in range(1, 96) if d != 20] + ["2A", "2B"]
PEM_TYPES = [  # (label, DER prefix so the base64 starts like the real thing, random tail length)
    ("RSA PRIVATE KEY", "308204a40201000282010100", 1180),                              # RFC 8017 A.1.2
    ("EC PRIVATE KEY", None, 0),                                                        # RFC 5915
    ("PRIVATE KEY", "308204bd020100300d06092a864886f70d0101010500048204a7", 1191),      # RFC 5958
    ("ENCRYPTED PRIVATE KEY", "3082052d305706092a864886f70d01050d304a", 1290),          # RFC 5958 §3
    ("DSA PRIVATE KEY", "308201bb02010002818100", 435)]                                 # OpenSSL DSA


class Gen:
    def __init__(self, seed):
        self.r = Random(seed)
        self.fakers = []
        for i, loc in enumerate(LOCALES):
            f = Faker(loc)
            f.seed_instance(seed * 31 + i)
            self.fakers.append(f)

    # small random helpers, all from self.r
    def s(self, alphabet, n): return "".join(self.r.choices(alphabet, k=n))
    def hx(self, n): return self.s(HEX, n)
    def dg(self, n): return self.s(DIGITS, n)
    def rb(self, n): return self.r.randbytes(n)
    def fk(self): return self.r.choice(self.fakers)
    def word(self): return self.r.choice(WORDS)
    def uuid4(self): return str(uuid.UUID(int=self.r.getrandbits(128), version=4))
    def slug(self): return re.sub(r"[^a-z0-9]", "", self.fk().domain_word().lower())[:12] or self.word()

    def until(self, make, ok, tries=500000):
        for _ in range(tries):
            c = make()
            if ok(c):
                return c
        raise RuntimeError("rejection sampling did not converge")

    def password(self, lo=10, hi=28):
        # Keyed/URL secrets: >= 8 random chars; some with symbols that survive URLs and JSON.
        alpha = B62 + "!$*@^~.-_" if self.r.random() < 0.3 else B62
        return self.s(B62, 1) + self.s(alpha, self.r.randint(lo, hi) - 1)

    # -- personal
    def s_email(self, i):
        f, st = self.fk(), i % 6
        u = re.sub(r"[^a-z0-9._]", "", f.user_name().lower()) or "user"
        e = [f.ascii_free_email, f.ascii_company_email,
             lambda: f"{u}+{self.r.choice(['billing', 'ops', 'news', 'alerts'])}@{f.free_email_domain()}",
             lambda: f"{u}{self.r.randint(1, 999)}@mail.{f.domain_name()}",
             lambda: f"{u.capitalize()}.{self.slug().capitalize()}@{self.slug().capitalize()}.com",
             lambda: f"{u}@{self.r.choice(['eu', 'us', 'corp'])}.{self.slug()}.co.uk"][st]()
        return e if EMAIL_RE.fullmatch(e) else f.ascii_free_email()

    def valid_phone(self, region):
        # Random national numbers shaped like libphonenumber's example, kept only if it says valid.
        ex = phonenumbers.example_number_for_type(
            region, self.r.choice([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]))
        nsn = str(ex.national_number)
        return self.until(lambda: phonenumbers.PhoneNumber(
            country_code=ex.country_code, national_number=int(nsn[:2] + self.dg(len(nsn) - 2)),
            italian_leading_zero=ex.italian_leading_zero), phonenumbers.is_valid_number)

    def s_phone(self, i):
        region = REGIONS[i % len(REGIONS)]
        num = self.valid_phone(region)
        intl = phonenumbers.format_number(num, PNF.INTERNATIONAL)
        p = re.split(r"[\s-]+", intl)
        styles = [phonenumbers.format_number(num, PNF.E164), intl, phonenumbers.format_number(num, PNF.NATIONAL),
                  ".".join(p), "-".join(p), " ".join(p), f"{p[0]} ({p[1]}) " + " ".join(p[2:]) if len(p) > 2 else intl]
        text = styles[(i // len(REGIONS)) % len(styles)]
        try:  # every written variant must still parse back, valid, to the same number
            back = phonenumbers.parse(text, region)
            ok = phonenumbers.is_valid_number(back) and back.national_number == num.national_number
        except phonenumbers.NumberParseException:
            ok = False
        return text if ok else styles[0]

    # -- national ids: (make candidate, stdnum module, display formats); secrets keep what the
    #    module accepts, look-alikes (same make, same formats) keep what it rejects.
    def national(self, name):
        r = self.r
        return {
            "us_ssn": (lambda: f"{r.randint(1, 899):03d}{r.randint(1, 99):02d}{r.randint(1, 9999):04d}",
                       ssn, [ssn.format, lambda c: f"{c[:3]} {c[3:5]} {c[5:]}", str]),
            "ca_sin": (lambda: r.choice("1234679") + self.dg(8), sin,
                       [sin.format, lambda c: f"{c[:3]} {c[3:6]} {c[6:]}", str]),
            "fr_nir": (lambda: r.choice("12") + self.dg(2) + "%02d" % r.randint(1, 12) + r.choice(DEPTS) +
                       "%03d%03d%02d" % (r.randint(1, 999), r.randint(1, 999), r.randint(1, 97)),
                       nir, [nir.format, str]),
            "de_tax_id": (self.idnr_candidate, idnr, [idnr.format, str]),
            "es_dni": (lambda: self.dg(8) + r.choice(DNI_LETTERS), dni, [str, lambda c: c[:8] + "-" + c[8]]),
            "es_nie": (lambda: r.choice("XYZ") + self.dg(7) + r.choice(DNI_LETTERS), nie,
                       [str, lambda c: f"{c[0]}-{c[1:8]}-{c[8]}"]),
            "it_codice_fiscale": (lambda: self.s(UPPER, 6) + self.dg(2) + r.choice("ABCDEHLMPRST") +
                                  "%02d" % r.choice([r.randint(1, 28), r.randint(41, 68)]) +
                                  r.choice("ABCDEFGHILM") + self.dg(3) + r.choice(UPPER), codicefiscale, [str]),
            "nl_bsn": (lambda: r.choice("123456789") + self.dg(8), bsn, [str, bsn.format]),
            "in_aadhaar": (lambda: r.choice("23456789") + self.dg(11), aadhaar, [aadhaar.format, str]),
            "br_cpf": (lambda: self.dg(11), cpf, [cpf.format, str]),
            "br_cnpj": (lambda: self.dg(8) + r.choice(["0001", "0001", "0002"]) + self.dg(2), cnpj,
                        [cnpj.format, str]),
            "au_tfn": (lambda: r.choice("123456789") + self.dg(8), tfn, [tfn.format, str]),
        }[name]

    def idnr_candidate(self):
        # Steuer-IdNr structure: 10 digits, exactly one repeated (twice), then a check digit.
        rep = self.r.choice(DIGITS)
        seq = self.r.sample([d for d in DIGITS if d != rep], 8) + [rep, rep]
        self.r.shuffle(seq)
        return "".join(seq) + self.r.choice(DIGITS) if seq[0] != "0" else self.idnr_candidate()

    def national_value(self, name, i, valid):
        make, mod, fmts = self.national(name)
        c = self.until(make, (lambda x: mod.is_valid(x)) if valid else (lambda x: not mod.is_valid(x)))
        return fmts[i % len(fmts)](c)

    def nino(self, i, valid):
        p = self.until(lambda: self.s(UPPER, 2), lambda x: nino_ok(x) == valid)
        d, sfx = self.dg(6), self.r.choice("ABCD")
        return [f"{p} {d[:2]} {d[2:4]} {d[4:]} {sfx}", f"{p}{d}{sfx}"][i % 2]

    # -- financial
    def card(self, i, valid):
        _, prefixes, length, groups = CARDS[i % len(CARDS)]

        def make():
            p = self.r.choice(prefixes)
            return p + self.dg(length - len(p))
        c = self.until(make, lambda x: luhn.is_valid(x) == valid)
        g, k = [], 0
        for n in groups:
            g.append(c[k:k + n])
            k += n
        return [c, " ".join(g), "-".join(g)][(i // len(CARDS)) % 3]

    def iban_compact(self, cc):
        def make():
            bban = "".join(self.s({"n": DIGITS, "a": UPPER, "c": UD}[t], int(n))
                           for n, t in re.findall(r"(\d+)([nac])", IBAN_BBAN[cc]))
            return cc + iban.calc_check_digits(cc + "00" + bban) + bban
        return self.until(make, iban.is_valid)  # national check digits: rejection

    def iban_value(self, i, valid):
        cc = list(IBAN_BBAN)[i % len(IBAN_BBAN)]
        c = self.iban_compact(cc)
        if not valid:
            c = self.until(lambda: c[:2] + "%02d" % self.r.randint(2, 98) + c[4:], lambda x: not iban.is_valid(x))
        return [iban.format(c), c][(i // len(IBAN_BBAN)) % 2]

    # -- crypto
    def s_bitcoin_address(self, i):
        # P2PKH "1…", P2SH "3…" (base58check), P2WPKH/P2WSH "bc1q…" (BIP-173); stdnum must accept.
        make = [lambda: b58check(b"\x00" + self.rb(20)), lambda: b58check(b"\x05" + self.rb(20)),
                lambda: bech32("bc", [0] + to5(self.rb(20))), lambda: bech32("bc", [0] + to5(self.rb(32)))][i % 4]
        return self.until(make, bitcoin.is_valid)

    def s_ethereum_address(self, i):
        a = self.hx(40)  # 20 random bytes; half EIP-55 checksummed, half lowercase
        return "0x" + (eip55(a) if i % 2 else a)

    # -- network
    def s_ipv4(self, i):
        if i % 2 == 0:  # RFC 1918 private
            net = ipaddress.ip_network(self.r.choice(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]))
            return str(net[self.r.randrange(1, net.num_addresses - 1)])
        return str(self.until(lambda: ipaddress.IPv4Address(self.r.getrandbits(32)),
                              lambda a: a.is_global and not a.is_multicast))

    def s_ipv6(self, i):
        g = [self.r.getrandbits(16) for _ in range(8)]
        st = i % 4
        if st < 2:
            g[0] = 0x2000 | (g[0] & 0x1FFF)  # global unicast 2000::/3
        elif st == 2:
            g[0] = 0xFD00 | (g[0] & 0xFF)    # unique local fd00::/8
        else:
            g[:4] = [0xFE80, 0, 0, 0]         # link-local
        if st in (1, 2):
            g[3:5] = [0, 0]
        a = ipaddress.IPv6Address(int("".join("%04x" % x for x in g), 16))
        return a.exploded if st == 0 else a.compressed

    def s_mac_address(self, i):
        local = i % 2

        def make():
            b = bytearray(self.rb(6))
            b[0] = (b[0] & 0xFC) | (0x02 if local else 0)  # unicast; universal ones need a known OUI
            return ":".join("%02x" % x for x in b)
        c = self.until(make, mac.is_valid)
        return [c, c.upper(), c.upper().replace(":", "-"), ".".join(chunks(c.replace(":", ""), 4))][(i // 2) % 4]

    # -- private keys
    def s_pem_private_key(self, i):
        label, prefix, n = PEM_TYPES[i % len(PEM_TYPES)]
        if prefix is None:  # EC P-256: version, 32-byte key, OID prime256v1, public point
            der = (bytes.fromhex("30770201010420") + self.rb(32) +
                   bytes.fromhex("a00a06082a8648ce3d030107a14403420004") + self.rb(64))
        else:
            der = bytes.fromhex(prefix) + self.rb(n)
        headers = ""
        if label == "RSA PRIVATE KEY" and (i // 5) % 3 == 1:  # legacy OpenSSL encrypted PEM (RFC 1421)
            headers = f"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{self.hx(32).upper()}\n\n"
        v = pem(label, der, headers=headers)
        return v.replace("\n", "\\n") if (i // 5) % 4 == 3 else v  # env-file style, escaped newlines

    def s_openssh_private_key(self, i):
        # https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.key ("openssh-key-v1\0")
        return pem("OPENSSH PRIVATE KEY", b"openssh-key-v1\x00" + self.rb(self.r.choice([380, 1000, 1800])), 70)

    def s_pgp_private_key(self, i):
        # RFC 4880 §5.5.1.3 old-format Secret-Key packet (tag 5) in ASCII armor.
        return pgp_armor("PRIVATE KEY", b"\x95\x03\xc6\x04" + self.rb(self.r.choice([600, 920])))

    def s_age_secret_key(self, i):
        # age v1 (https://age-encryption.org/v1, C2SP age.md): Bech32, HRP "age-secret-key-", upper case.
        return bech32("age-secret-key-", to5(self.rb(32))).upper()

    # -- tokens
    def s_jwt(self, i):
        # RFC 7519 / RFC 7515 compact serialization: b64url(header).b64url(payload).b64url(signature).
        alg, siglen = [("HS256", 32), ("RS256", 256), ("ES256", 64), ("PS256", 256), ("HS512", 64), ("EdDSA", 64)][i % 6]
        hdr = {"alg": alg, "typ": "JWT"} | ({"kid": self.hx(16)} if i % 3 else {})
        iat = 1_748_000_000 + self.r.randint(0, 5_000_000)
        pay = {"sub": self.uuid4() if i % 2 else str(self.r.randint(10000, 9999999)),
               "iss": self.r.choice(["https://auth.example.com/", "https://login.acme.test", "urn:acme:idp"]),
               "aud": self.r.choice(["orders-api", "billing", "https://api.example.com"]),
               "iat": iat, "exp": iat + self.r.choice([300, 3600, 86400]), "jti": self.hx(16)}
        if i % 4 == 0:
            pay["scope"] = self.r.choice(["read:orders write:orders", "openid profile", "admin"])
        enc = lambda o: b64u(json.dumps(o, separators=(",", ":")).encode())
        return f"{enc(hdr)}.{enc(pay)}.{b64u(self.rb(siglen))}"

    def s_github_token(self, i):
        # ghp_/gho_/ghu_/ghs_/ghr_ + 30 base62 + 6-char base62 CRC32 (GitHub blog, 2021-04-05).
        body = self.s(B62, 30)
        return ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"][i % 5] + body + base62_crc32(body)

    def s_github_fine_grained_pat(self, i):
        # github_pat_ + 22 + "_" + 59 (GitHub secret-scanning patterns; gitleaks github_pat_\w{82}).
        return "github_pat_11" + self.s(UD, 20) + "_" + self.s(B62, 59)

    def s_gitlab_token(self, i):
        # glpat-/gldt-/glrt- + 20 [0-9a-zA-Z_-] (GitLab token prefixes doc; gitleaks gitlab-*).
        return ["glpat-", "gldt-", "glrt-"][i % 3] + self.s(B64URL, 20)

    def s_npm_token(self, i):
        # npm_ + 36: 30 random + base62 CRC32 like GitHub's
        # (https://github.blog/2021-09-23-announcing-npms-new-access-token-format/).
        body = self.s(B62, 30)
        return "npm_" + body + base62_crc32(body)

    def s_pypi_token(self, i):
        # PyPI API token: "pypi-" + base64url macaroon, which starts "AgEIcHlwaS5vcmc" (gitleaks).
        return "pypi-AgEIcHlwaS5vcmc" + b64u(self.rb(self.r.randint(50, 140)))

    def s_dockerhub_token(self, i):
        return "dckr_pat_" + self.s(B64URL, 27)  # Docker Hub PAT (GitHub secret-scanning partner list)

    def s_slack_token(self, i):
        # Slack token types doc (api.slack.com/authentication/token-types); gitleaks slack-*-token.
        n = lambda: str(self.r.randint(10 ** 9, 10 ** 13 - 1))
        return [f"xoxb-{n()}-{n()}-{self.s(B62, 24)}", f"xoxp-{n()}-{n()}-{n()}-{self.hx(32)}",
                f"xapp-1-A{self.s(UD, 10)}-{self.dg(13)}-{self.hx(64)}"][i % 3]

    def s_slack_webhook(self, i):
        # api.slack.com/messaging/webhooks: https://hooks.slack.com/services/T…/B…/<24>
        return (f"https://hooks.slack.com/services/T{self.s(UD, self.r.randint(8, 10))}/"
                f"B{self.s(UD, self.r.randint(8, 10))}/{self.s(B62, 24)}")

    def s_stripe_key(self, i):
        # Stripe API keys doc: sk_live_/rk_live_/sk_test_ + 24..99 alphanumerics.
        return ["sk_live_", "rk_live_", "sk_test_", "rk_test_"][i % 4] + self.s(B62, self.r.choice([24, 34, 58, 99]))

    def s_twilio_api_key(self, i): return "SK" + self.hx(32)   # Twilio API key SID: SK + 32 hex
    def s_mailgun_api_key(self, i): return "key-" + self.hx(32)  # Mailgun private key (legacy)

    def s_sendgrid_api_key(self, i):
        return f"SG.{self.s(B64URL, 22)}.{self.s(B64URL, 43)}"  # SendGrid: SG.<22>.<43>

    def s_shopify_token(self, i):
        # Shopify access tokens / shared secret: shpat_/shpca_/shppa_/shpss_ + 32 hex.
        return ["shpat_", "shpca_", "shppa_", "shpss_"][i % 4] + self.hx(32)

    def s_openai_api_key(self, i):
        # Legacy sk-<20>T3BlbkFJ<20>; project/service/admin keys (gitleaks openai-api-key).
        if i % 4 == 0:
            return "sk-" + self.s(B62, 20) + "T3BlbkFJ" + self.s(B62, 20)
        n = 74 if i % 2 else 58
        return ["sk-proj-", "sk-svcacct-", "sk-admin-"][i % 3] + self.s(B64URL, n) + "T3BlbkFJ" + self.s(B64URL, n)

    def s_anthropic_api_key(self, i):
        return ["sk-ant-api03-", "sk-ant-admin01-"][i % 2] + self.s(B64URL, 93) + "AA"  # gitleaks anthropic-*

    def s_huggingface_token(self, i): return "hf_" + self.s(string.ascii_letters, 34)  # HF user access token
    def s_new_relic_key(self, i): return "NRAK-" + self.s(UD, 27)  # New Relic user API key

    def s_datadog_api_key(self, i):
        # Datadog API key (32 hex) / app key (40 hex): only recognisable in context.
        k = self.hx(40 if i % 4 == 3 else 32)
        form, key = [("DD_API_KEY={k}", "DD_API_KEY"), ("dd-api-key: {k}", "dd-api-key"),
                     ('datadog_api_key: "{k}"', "datadog_api_key"), ("DD_APP_KEY={k}", "DD_APP_KEY")][i % 4]
        return form.replace("{k}", k), k, key

    def s_sentry_dsn(self, i):
        # docs.sentry.io "DSN explainer": https://<public key 32 hex>@o<org>.ingest[.region].sentry.io/<project>
        return (f"https://{self.hx(32)}@o{self.r.randint(100000, 4999999)}.ingest."
                f"{['', 'us.', 'de.'][i % 3]}sentry.io/{self.r.randint(1000000, 9999999)}")

    def s_discord_bot_token(self, i):
        # base64(user snowflake id) . 6 (timestamp) . 27+ (HMAC) — discord.com/developers docs.
        uid = str(self.r.randint(10 ** 17, 13 * 10 ** 17))
        return b64(uid.encode()).rstrip("=") + "." + self.s(B64URL, 6) + "." + self.s(B64URL, self.r.choice([27, 38]))

    def s_discord_webhook(self, i):
        host = ["discord.com", "discordapp.com", "canary.discord.com"][i % 3]
        return f"https://{host}/api/webhooks/{self.r.randint(10 ** 17, 10 ** 19 - 1)}/{self.s(B64URL, 68)}"

    def s_telegram_bot_token(self, i):
        # core.telegram.org/bots/api: <bot id>:<35>, the secret part starting "AA" in practice.
        return f"{self.r.randint(10 ** 7, 10 ** 10 - 1)}:AA{self.s(B64URL, 33)}"

    def s_vault_token(self, i):
        # HashiCorp Vault 1.10+ token prefixes: hvs. (service), hvb. (batch) (gitleaks vault-*).
        return "hvs." + self.s(B64URL, self.r.randint(90, 110)) if i % 3 else "hvb." + self.s(B64URL, self.r.randint(138, 160))

    def s_grafana_token(self, i):
        # Grafana Cloud glc_<base64 JSON>, service account glsa_<32>_<8 hex> (gitleaks grafana-*).
        if i % 2:
            return "glsa_" + self.s(B62, 32) + "_" + self.hx(8)
        o = {"o": str(self.r.randint(100000, 999999)), "n": f"stack-{self.r.randint(100000, 999999)}-{self.word()}",
             "k": self.s(B62, 24), "m": {"r": self.r.choice(["us", "eu", "prod-us-east-0"])}}
        return "glc_" + b64(json.dumps(o, separators=(",", ":")).encode())

    def s_teams_webhook(self, i):
        # Microsoft Teams incoming webhook URL (gitleaks microsoft-teams-webhook).
        return (f"https://{self.slug()}.webhook.office.com/webhookb2/{self.uuid4()}@{self.uuid4()}"
                f"/IncomingWebhook/{self.hx(32)}/{self.uuid4()}")

    # -- cloud
    def s_aws_access_key(self, i):
        return ["AKIA", "ASIA"][i % 2] + self.s(B32AWS, 16)  # AWS IAM "Unique identifiers" doc

    def s_aws_secret_key(self, i):
        k = self.s(B62 + "/+", 40)  # 40 chars base64 alphabet, only recognisable in context
        form, key = [("aws_secret_access_key = {k}", "aws_secret_access_key"),
                     ("AWS_SECRET_ACCESS_KEY={k}", "AWS_SECRET_ACCESS_KEY"),
                     ('"SecretAccessKey": "{k}"', "SecretAccessKey"),
                     ("aws_secret_access_key: {k}", "aws_secret_access_key")][i % 4]
        return form.replace("{k}", k), k, key

    def s_google_api_key(self, i): return "AIza" + self.s(B64URL, 35)  # Google API key (gitleaks gcp-api-key)

    def s_gcp_service_account(self, i):
        # Google Cloud service-account key file (cloud.google.com/iam/docs/keys-create-delete).
        proj, sa = f"{self.word()}-{self.slug()}-{self.r.randint(100, 999)}", f"{self.word()}-sa"
        pk = pem("PRIVATE KEY", bytes.fromhex(PEM_TYPES[2][1]) + self.rb(1191)) + "\n"
        obj = {"type": "service_account", "project_id": proj, "private_key_id": self.hx(40), "private_key": pk,
               "client_email": f"{sa}@{proj}.iam.gserviceaccount.com",
               "client_id": str(self.r.randint(10 ** 20, 10 ** 21 - 1)),
               "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": "https://oauth2.googleapis.com/token",
               "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
               "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{sa}%40{proj}.iam.gserviceaccount.com",
               "universe_domain": "googleapis.com"}
        return json.dumps(obj, indent=2 if i % 2 else None), jesc(pk)

    def s_azure_storage_key(self, i):
        # Azure Storage connection string (learn.microsoft.com "Configure Azure Storage connection
        # strings"): AccountKey is 64 bytes base64 = 88 chars ending "==".
        key = b64(self.rb(64))
        return (f"DefaultEndpointsProtocol=https;AccountName={self.slug()}{self.dg(3)};AccountKey={key};"
                f"EndpointSuffix=core.windows.net", key)

    def s_azure_sas_token(self, i):
        # Azure service SAS (learn.microsoft.com "Create a service SAS"): sig = url-encoded base64
        # HMAC-SHA256 (44 chars before encoding).
        sig = quote(b64(self.rb(32)), safe="")
        d = datetime.date(2025, 1, 1) + datetime.timedelta(days=self.r.randint(0, 400))
        q = f"sv=2022-11-02&ss=b&srt=sco&sp=rl&se={d}T00:00:00Z&st=2025-01-01T00:00:00Z&spr=https&sig={sig}"
        return (f"https://{self.slug()}{self.dg(2)}.blob.core.windows.net/{self.word()}/{self.word()}.csv?{q}"
                if i % 2 else q), sig

    # -- credentials
    def s_url_credentials(self, i):
        # RFC 3986 userinfo (user:password@host) in the URL schemes services publish.
        u = re.sub(r"[^a-z0-9_]", "", self.fk().user_name().lower()) or "svc"
        pw, dom = self.s(B62, 1) + self.s(B62 + "-_.~", self.r.randint(11, 27)), self.fk().domain_name()
        return [f"https://{u}:{pw}@{dom}/api/v1/export", f"postgres://{u}:{pw}@db.internal:5432/{self.word()}",
                f"postgresql://{u}:{pw}@pg.{dom}:5432/app?sslmode=require", f"mysql://{u}:{pw}@mysql.{dom}:3306/shop",
                f"mongodb+srv://{u}:{pw}@cluster0.{self.s(LOWER + DIGITS, 5)}.mongodb.net/app?retryWrites=true&w=majority",
                f"redis://:{pw}@cache.internal:6379/0", f"amqp://{u}:{pw}@rabbitmq.internal:5672/%2F",
                f"ftp://{u}:{pw}@files.{dom}/incoming/"][i % 8], pw

    def s_jdbc(self, i):
        # JDBC URLs as documented by the PostgreSQL, SQL Server, MySQL and Oracle drivers.
        u, pw, h, db = self.word() + "_app", self.s(B62, self.r.randint(10, 24)), f"db{self.r.randint(1, 9)}.internal", self.word()
        return [f"jdbc:postgresql://{h}:5432/{db}?user={u}&password={pw}",
                f"jdbc:sqlserver://{h}:1433;databaseName={db};user={u};password={pw};encrypt=true",
                f"jdbc:mysql://{h}:3306/{db}?user={u}&password={pw}&useSSL=true",
                f"jdbc:oracle:thin:{u}/{pw}@//{h}:1521/ORCLPDB1"][i % 4], pw

    def s_http_authorization(self, i):
        # RFC 6750 Bearer, RFC 7617 Basic (base64 of user:password).
        st = i % 4
        if st < 2:
            tok = self.s(B64URL, self.r.randint(32, 64)) if st == 0 else self.s_jwt(i)
            return (f"Authorization: Bearer {tok}" if i % 8 < 4 else f"authorization: bearer {tok}"), tok
        cred = b64(f"{self.word()}-{self.r.randint(1, 99)}:{self.s(B62, self.r.randint(10, 20))}".encode())
        return (f"Authorization: Basic {cred}" if st == 2 else f"Proxy-Authorization: Basic {cred}"), cred

    def s_http_cookie(self, i):
        # RFC 6265 Cookie / Set-Cookie.
        sid = self.s(B64URL, self.r.randint(24, 48))
        if i % 4 == 3:
            sid = self.hx(32).upper()
        return [f"Cookie: SID={sid}; theme=dark", f"Set-Cookie: session={sid}; Path=/; HttpOnly; Secure; SameSite=Lax",
                f"Cookie: lang=en; sessionid={sid}; theme=dark", f"Set-Cookie: JSESSIONID={sid}; Path=/; HttpOnly"][i % 4], sid

    def s_api_key_header(self, i):
        k = self.s(B62, self.r.randint(24, 48))
        return [f"X-Api-Key: {k}", f"x-api-key: {k}", f"Api-Key: {k}", f"X-Auth-Token: {k}"][i % 4], k

    KEYED = [("passwd={s}", "passwd"), ("password: {s}", "password"), ("client_secret={s}", "client_secret"),
             ("session_id={s}", "session_id"), ("apiKey={s}", "apiKey"), ("access_token={s}", "access_token"),
             ('"secret": "{s}"', "secret"), ("private_key='{s}'", "private_key"), ("?token={s}&page=2", "token"),
             ("username=bob&password={s}", "password"), ("refresh_token={s}", "refresh_token"),
             ("api_key: {s}", "api_key"), ("DB_PASSWORD={s}", "DB_PASSWORD"), ('db_password = "{s}"', "db_password"),
             ("secret_key: {s}", "secret_key"), ("auth_token={s}", "auth_token"), ("pwd={s}", "pwd"),
             ("client_secret: '{s}'", "client_secret")]

    def s_keyed_secret(self, i):
        sec = self.password()
        form, key = self.KEYED[i % len(self.KEYED)]
        return form.replace("{s}", sec), sec, key

    def s_generic_secret(self, i):
        # High-entropy value whose only tell is the key next to it.
        v = [lambda: self.s(B62, 40), lambda: self.hx(64), lambda: b64(self.rb(32)),
             lambda: "whsec_" + b64(self.rb(24))][i % 4]()
        key = ["signing_key", "hmac_secret", "encryption_key", "webhook_secret", "jwt_secret", "master_key",
               "app_secret_key"][i % 7]
        return (f"{key}={v}" if i % 2 else f'{key}: "{v}"'), v, key

    # ---- look-alikes (benign; must arrive intact) -----------------------------------------------
    def l_order_id(self, i):
        y = self.r.randint(2019, 2025)
        return [f"ORD-{y}-{self.dg(6)}", f"ORD-{y}{self.r.randint(1, 12):02d}-{self.dg(5)}-{self.r.choice(UPPER)}",
                f"PO-{self.dg(4)}-{self.s(UPPER, 3)}"][i % 3]

    def l_invoice_number(self, i):
        y = self.r.randint(2019, 2025)
        return [f"INV-{y}-{self.r.randint(1, 12):02d}-{self.dg(5)}", f"INV/{y}/{self.dg(6)}"][i % 2]

    def l_isbn13(self, i):
        return isbn.format(self.until(lambda: self.r.choice(["978", "979"]) + self.dg(10), isbn.is_valid))

    def l_zip_plus4(self, i): return f"{self.dg(5)}-{self.dg(4)}"

    def rand_dt(self):
        return datetime.datetime.fromtimestamp(self.r.randint(1_500_000_000, 1_800_000_000), datetime.timezone.utc)

    def l_date(self, i):
        d = self.rand_dt()
        return [d.strftime("%Y-%m-%d"), d.strftime("%Y/%m/%d"), d.strftime("%d.%m.%Y")][i % 3]

    def l_time_of_day(self, i):
        d = self.rand_dt()
        return d.strftime("%H:%M:%S") + (f".{self.r.randint(0, 999):03d}" if i % 2 else "")

    def l_timestamp_rfc3339(self, i):
        d = self.rand_dt()
        frac = ["", f".{self.r.randint(0, 999):03d}", f".{self.dg(9)}"][i % 3]
        return d.strftime("%Y-%m-%dT%H:%M:%S") + frac + ["Z", "+02:00", "-05:00", "Z"][i % 4]

    def l_epoch_millis(self, i): return str(self.r.randint(1_600_000_000_000, 1_800_000_000_000))

    def l_duration(self, i):
        r = self.r
        return [f"{r.randint(1, 9)}.{r.randint(1, 9)}s", f"{r.randint(1, 999)}ms", f"{r.randint(1, 59)}m{r.randint(1, 59)}s",
                f"{r.randint(1, 23)}h{r.randint(1, 59)}m", f"PT{r.randint(1, 59)}M", f"0.{r.randint(10, 99)}s"][i % 6]

    def l_ssn_invalid_area(self, i):
        area = ["000", "666", "9" + self.dg(2)][i % 3]
        c = f"{area}{self.r.randint(1, 99):02d}{self.r.randint(1, 9999):04d}"
        assert not ssn.is_valid(c)
        return [ssn.format(c), c][i % 2]

    def l_card_luhn_invalid(self, i): return self.card(i, valid=False)
    def l_iban_bad_checksum(self, i): return self.iban_value(i, valid=False)
    def l_uk_nino_invalid_prefix(self, i): return self.nino(i, valid=False)
    def l_git_sha(self, i): return self.hx(40)
    def l_short_sha(self, i): return self.hx(self.r.randint(7, 12))
    def l_sha256_digest(self, i): return self.hx(64)
    def l_eth_tx_hash(self, i): return "0x" + self.hx(64)

    def l_bitcoin_bad_checksum(self, i):
        a = self.s_bitcoin_address(i)
        alpha = BECH32 if a.startswith("bc1") else B58

        def make():
            k = self.r.randrange(len(a) - 6, len(a))
            return a[:k] + self.r.choice(alpha.replace(a[k], "")) + a[k + 1:]
        return self.until(make, lambda x: not bitcoin.is_valid(x))

    def l_version_ipv4_shaped(self, i):
        q = ".".join(str(x) for x in [self.r.randint(1, 255)] + [self.r.randint(0, 255) for _ in range(3)])
        if i % 6 == 5:
            q = f"{self.r.randint(6, 10)}.0.{self.dg(5)}.{self.dg(4)}"
            return f"build {q}", q
        return [f"version {q}", f"service.version={q}", f"app.version: {q}", f"v{q}", f"release {q} deployed"][i % 6], q

    def l_semver(self, i):
        r = self.r
        v = f"{r.randint(0, 30)}.{r.randint(0, 40)}.{r.randint(0, 99)}"
        return ("v" if i % 3 == 0 else "") + v + ["", f"-rc.{r.randint(1, 9)}", f"+build.{r.randint(1, 999)}", "-SNAPSHOT"][i % 4]

    def l_oid(self, i):
        base = ["1.3.6.1.4.1.", "1.2.840.113549.1.1.", "2.5.4.", "1.3.6.1.2.1.2.2.1."][i % 4]
        return base + ".".join(str(self.r.randint(1, 400)) for _ in range(self.r.randint(1, 3)))

    def l_port(self, i):
        p = self.r.choice([80, 443, 3000, 4317, 4318, 5432, 6379, 8080, 8443, 9090, 9200, 13133])
        return [f"localhost:{p}", f"{self.word()}.svc.cluster.local:{p}", f"{self.word()}:{p}", f"listening on :{p}"][i % 4]

    def l_cpp_symbol(self, i):
        ns = ["std", "boost::asio", "absl", "folly", "crate", "tokio::net"]
        return f"{self.r.choice(ns)}::{self.word()}::{self.r.choice(['push_back', 'new', 'load', 'flush', 'poll'])}"

    def l_certificate_pem(self, i):  # X.509 certificates are public: must survive
        return pem("CERTIFICATE", bytes.fromhex("3082031f30820207a003020102021400") + self.rb(780))

    def l_public_key_pem(self, i):  # RSA SubjectPublicKeyInfo (RFC 5280)
        return pem("PUBLIC KEY", bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100")
                   + self.rb(256) + bytes.fromhex("0203010001"))

    def l_ssh_public_key(self, i):  # RFC 4253 §6.6 / RFC 8709 public key lines
        if i % 2:
            blob = b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + self.rb(32)
            return f"ssh-ed25519 {b64(blob)} {self.word()}-deploy-{self.r.randint(1, 99)}"
        blob = b"\0\0\0\x07ssh-rsa\0\0\0\x03\x01\x00\x01\0\0\x01\x01\x00" + self.rb(256)
        return f"ssh-rsa {b64(blob)} ci-runner-{self.r.randint(1, 99)}"

    def l_age_recipient(self, i): return bech32("age", to5(self.rb(32)))  # age public key "age1…"
    def l_pgp_public_key(self, i): return pgp_armor("PUBLIC KEY", b"\x99\x01\x0d\x04" + self.rb(self.r.choice([260, 520])))

    def l_uuid(self, i): u = self.uuid4(); return u.upper() if i % 4 == 3 else u
    def l_trace_id(self, i): return self.hx(32)
    def l_span_id(self, i): return self.hx(16)
    def l_md5_digest(self, i): return self.hx(32)

    def l_k8s_pod_name(self, i):
        w = f"{self.word()}-{self.r.choice(['api', 'worker', 'web', 'consumer'])}"
        return [f"{w}-{self.s(K8S, 10)}-{self.s(K8S, 5)}", f"{w}-{self.r.randint(0, 5)}", f"{w}-{self.s(K8S, 5)}"][i % 3]

    def l_image_digest(self, i):
        d = "sha256:" + self.hx(64)
        return [d, f"ghcr.io/acme/{self.word()}@{d}", f"registry.example.com/{self.word()}:1.{self.r.randint(0, 40)}.0@{d}"][i % 3]

    def l_sk_word(self, i):
        r = self.r
        return ["sk-SK", f"locale=sk-SK", "Accept-Language: sk-SK,sk;q=0.9,en;q=0.8", f"lang sk-SK region {r.randint(1, 9)}",
                f"{r.choice(['task', 'disk', 'risk', 'desk', 'kiosk'])}-{self.word()}-{r.randint(1, 999)}"][i % 5]

    def l_token_prefix_only(self, i):
        p = self.r.choice(["ghp_", "gho_", "github_pat_", "xoxb-", "sk_live_", "glpat-", "npm_", "hf_", "dckr_pat_",
                           "sk-ant-", "SG.", "AIza", "hvs.", "glsa_"])
        return [p, f"{p}{self.s(LOWER, self.r.randint(3, 8))}", f"tokens start with {p}"][i % 3]

    def l_akia_lowercase(self, i): return "AKIA" + self.s(LOWER, 16)

    def l_aws_arn(self, i):
        a = self.dg(12)
        return [f"arn:aws:iam::{a}:role/{self.word()}-deploy", f"arn:aws:s3:::{self.word()}-logs/{self.r.randint(2019, 2025)}/",
                f"arn:aws:lambda:eu-west-1:{a}:function:{self.word()}-handler"][i % 3]

    def l_s3_uri(self, i): return f"s3://{self.slug()}-{self.word()}/{self.word()}/part-{self.r.randint(0, 999):05d}.parquet"

    def l_azure_conn_no_key(self, i):
        a = self.slug() + self.dg(2)
        return [f"DefaultEndpointsProtocol=https;AccountName={a};EndpointSuffix=core.windows.net",
                f"BlobEndpoint=https://{a}.blob.core.windows.net/;QueueEndpoint=https://{a}.queue.core.windows.net/"][i % 2]

    def l_sas_no_sig(self, i): return f"sv=2022-11-02&ss=b&srt=sco&sp={self.r.choice(['r', 'rl', 'rwdl'])}&spr=https"

    def l_k8s_resource_version(self, i):
        n = self.r.randint(1_000_000, 999_999_999)
        return [f"resourceVersion: {n}", f'"resourceVersion":"{n}"', f"rv={n}"][i % 3]

    def l_gcp_resource_name(self, i):
        return f"projects/{self.word()}-prod/locations/{self.r.choice(['us-central1', 'europe-west4'])}/clusters/{self.word()}-{self.r.randint(1, 9)}"

    def l_prose_secret_words(self, i):
        r, w = self.r, self.word()
        return [f"password reset email sent to the {w} team", f"token bucket refilled ({r.randint(1, 500)} tokens)",
                f"session started for tenant {w}", f"secret rotation scheduled in {r.randint(2, 90)} days",
                f"api key rotation completed for {w}", "private key loaded from the keystore",
                f"credentials cache warmed in {r.randint(2, 900)}ms", "auth token expired, refreshing",
                f"cookie consent banner shown on {w}", "bearer scheme negotiated"][i % 10]

    def l_nonsecret_key_number(self, i):
        r = self.r
        return [f"max_tokens={r.choice([256, 512, 1024, 4096])}", f"token_count={r.randint(1, 9999)}",
                f"session_count={r.randint(0, 99)}", f"keyboard={r.choice(['us', 'de', 'fr', 'uk'])}",
                f"tokens_per_second={r.randint(1, 99)}.{r.randint(0, 9)}", f"password_min_length={r.randint(8, 16)}",
                f"auth_retries={r.randint(1, 5)}", f"keyspace={self.word()}", f"token_ttl_seconds={r.choice([60, 300, 3600])}",
                f"session_timeout={r.randint(5, 60)}m"][i % 10]

    def l_file_path(self, i):
        u = re.sub(r"[^a-z]", "", self.fk().user_name().lower()) or "dev"
        return [f"/var/log/{self.word()}/service.log", "/etc/ssl/certs/ca-certificates.crt", f"/run/secrets/{self.word()}_password",
                f"C:\\Users\\{u}\\AppData\\Local\\Temp\\{self.word()}.tmp", f"/home/{u}/.ssh/known_hosts",
                f"/app/config/{self.word()}/tokens.yaml"][i % 6]

    def l_url_no_credentials(self, i):
        w = self.word()
        return [f"https://api.example.com/v1/{w}/health", f"postgres://db.internal:5432/{w}", f"redis://cache.internal:6379/{self.r.randint(0, 15)}",
                f"jdbc:postgresql://db:5432/{w}?sslmode=require", f"amqp://rabbitmq.internal:5672/{w}",
                f"mongodb+srv://cluster0.{self.s(LOWER, 5)}.mongodb.net/{w}?retryWrites=true"][i % 6]

    def l_benign_header(self, i):
        return ["Accept: application/json", "Content-Type: application/json; charset=utf-8", f"Cookie: theme=dark; lang={self.r.choice(['en', 'de', 'fr'])}",
                "Cache-Control: no-cache", f"User-Agent: curl/8.{self.r.randint(0, 12)}.0", f"X-Request-Id: {self.uuid4()}"][i % 6]

    def l_base64_text(self, i): return b64(self.fakers[0].sentence(nb_words=self.r.randint(4, 12)).encode())


def national_secret(name):
    return lambda g, i: g.national_value(name, i, True)


def national_lookalike(name):
    return lambda g, i: g.national_value(name, i, False)


NATIONAL = ["us_ssn", "ca_sin", "fr_nir", "de_tax_id", "es_dni", "es_nie", "it_codice_fiscale", "nl_bsn",
            "in_aadhaar", "br_cpf", "br_cnpj", "au_tfn"]
# (family, detector, count); the generator is Gen.s_<detector> unless given.
SECRETS = ([("personal", "email", 130), ("personal", "phone", 182)] +
           [("national_id", n, 40, national_secret(n)) for n in NATIONAL] +
           [("national_id", "uk_nino", 40, lambda g, i: g.nino(i, True)),
            ("financial", "credit_card", 160, lambda g, i: g.card(i, True)),
            ("financial", "iban", 128, lambda g, i: g.iban_value(i, True)),
            ("crypto", "bitcoin_address", 60), ("crypto", "ethereum_address", 60),
            ("network", "ipv4", 80), ("network", "ipv6", 60), ("network", "mac_address", 60),
            ("private_key", "pem_private_key", 50), ("private_key", "openssh_private_key", 20),
            ("private_key", "pgp_private_key", 20), ("private_key", "age_secret_key", 20),
            ("token", "jwt", 80), ("token", "github_token", 100), ("token", "github_fine_grained_pat", 30),
            ("token", "gitlab_token", 45), ("token", "npm_token", 30), ("token", "pypi_token", 25),
            ("token", "dockerhub_token", 25), ("token", "slack_token", 60), ("token", "slack_webhook", 30),
            ("token", "stripe_key", 44), ("token", "twilio_api_key", 25), ("token", "sendgrid_api_key", 25),
            ("token", "mailgun_api_key", 25), ("token", "shopify_token", 40), ("token", "openai_api_key", 40),
            ("token", "anthropic_api_key", 24), ("token", "huggingface_token", 25), ("token", "datadog_api_key", 32),
            ("token", "new_relic_key", 25), ("token", "sentry_dsn", 24), ("token", "discord_bot_token", 25),
            ("token", "discord_webhook", 24), ("token", "telegram_bot_token", 25), ("token", "vault_token", 30),
            ("token", "grafana_token", 30), ("token", "teams_webhook", 24),
            ("cloud", "aws_access_key", 50), ("cloud", "aws_secret_key", 40), ("cloud", "google_api_key", 40),
            ("cloud", "gcp_service_account", 20), ("cloud", "azure_storage_key", 30), ("cloud", "azure_sas_token", 30),
            ("credentials", "url_credentials", 120), ("credentials", "jdbc", 40), ("credentials", "http_authorization", 72),
            ("credentials", "http_cookie", 40), ("credentials", "api_key_header", 24), ("credentials", "keyed_secret", 306),
            ("credentials", "generic_secret", 56)])
LOOKALIKES = ([("personal", d, 70) for d in ["order_id", "invoice_number", "isbn13", "zip_plus4", "date",
                                            "time_of_day", "timestamp_rfc3339", "epoch_millis", "duration"]] +
              [("national_id", "ssn_invalid_area", 60), ("national_id", "uk_nino_invalid_prefix", 30)] +
              [("national_id", n + "_bad_checksum", 30, national_lookalike(n)) for n in NATIONAL[1:]] +
              [("financial", "card_luhn_invalid", 120), ("financial", "iban_bad_checksum", 96),
               ("crypto", "git_sha", 80), ("crypto", "short_sha", 60), ("crypto", "sha256_digest", 60),
               ("crypto", "bitcoin_bad_checksum", 48), ("crypto", "eth_tx_hash", 48),
               ("network", "version_ipv4_shaped", 150), ("network", "semver", 72), ("network", "oid", 48),
               ("network", "port", 48), ("network", "cpp_symbol", 36),
               ("private_key", "certificate_pem", 24), ("private_key", "public_key_pem", 24),
               ("private_key", "ssh_public_key", 40), ("private_key", "age_recipient", 40), ("private_key", "pgp_public_key", 20),
               ("token", "uuid", 90), ("token", "trace_id", 90), ("token", "span_id", 80), ("token", "md5_digest", 70),
               ("token", "k8s_pod_name", 72), ("token", "image_digest", 60), ("token", "sk_word", 60),
               ("token", "token_prefix_only", 60),
               ("cloud", "akia_lowercase", 40), ("cloud", "aws_arn", 45), ("cloud", "s3_uri", 40),
               ("cloud", "azure_conn_no_key", 30), ("cloud", "sas_no_sig", 30), ("cloud", "k8s_resource_version", 45),
               ("cloud", "gcp_resource_name", 40),
               ("credentials", "prose_secret_words", 120), ("credentials", "nonsecret_key_number", 120),
               ("credentials", "file_path", 72), ("credentials", "url_no_credentials", 72),
               ("credentials", "benign_header", 60), ("credentials", "base64_text", 72)])


def make_values(g):
    values = []
    for kind, table, pre in (("secret", SECRETS, "s_"), ("lookalike", LOOKALIKES, "l_")):
        if kind == "lookalike":  # look-alikes are vetted against every secret needle
            index = NeedleIndex([v["needle"] for v in values])
        for row in table:
            family, det, count = row[:3]
            fn = row[3] if len(row) > 3 else getattr(Gen, pre + det)
            seen = set()
            for i in range(count):
                for attempt in range(2000):
                    out = fn(g, i)
                    if kind == "secret":
                        value, needle, key = (out, out, None) if isinstance(out, str) else (out + (None,))[:3]
                        break
                    value, bare = (out, None) if isinstance(out, str) else out
                    needle, key = value, None
                    if index.find(value) or accepted_anywhere(value) or (value in seen and attempt < 50):
                        continue
                    break
                else:
                    raise RuntimeError(f"no acceptable {det} look-alike")
                seen.add(value)
                v = {"kind": kind, "family": family, "detector": det, "value": value, "needle": needle}
                if key:
                    v["_key"] = key
                if kind == "lookalike" and bare:
                    v["_bare"] = bare
                values.append(v)
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
    a = AnyValue()
    if isinstance(x, bool):
        a.bool_value = x
    elif isinstance(x, int):
        a.int_value = x
    elif isinstance(x, float):
        a.double_value = x
    elif isinstance(x, str):
        a.string_value = x
    elif isinstance(x, list):
        a.array_value.values.extend(anyv(y) for y in x)
    else:
        a.kvlist_value.values.extend(kv(k, y) for k, y in x.items())
    return a


def kv(k, x): return KeyValue(key=k, value=anyv(x))
def attrs(d): return [kv(k, x) for k, x in d.items()]


RESOURCE = {"service.name": "corpus-shop", "service.namespace": "redaction-corpus", "deployment.environment.name": "test",
            "telemetry.sdk.language": "python", "telemetry.sdk.name": "redaction_corpus"}
SCOPE = {"name": "ignis.redaction_corpus", "version": "1.0.0"}


class Otlp:
    def __init__(self, rng):
        self.r = rng

    def tid(self): return self.r.getrandbits(128).to_bytes(16, "big") or b"\x01" * 16
    def sid(self): return self.r.getrandbits(64).to_bytes(8, "big") or b"\x01" * 8

    def span(self, p, carry_id=True):
        loc, text, key, t = p["location"], p["text"], p["key"], BASE_NS + p["id"] * 7_000_000
        s = Span(trace_id=self.tid(), span_id=self.sid(), kind=1 + p["id"] % 3, start_time_unix_nano=t,
                 end_time_unix_nano=t + self.r.randint(200_000, 90_000_000),
                 name=text if loc == "span_name" else self.r.choice(["POST /v1/orders", "GET /v1/items", "db.query", "process"]))
        a = {"corpus.id": p["id"]} if carry_id else {}
        a |= {"http.request.method": "POST"} if p["id"] % 2 else {"code.function.name": "place"}
        if loc == "span_attr":
            a[key] = text
        elif loc == "span_attr_array":
            a[key] = ["alpha", text, "omega"]
        elif loc == "span_attr_nested":
            a[NEUTRAL_KEYS[0]] = {"request": {"kind": "order", key: text}}
        s.attributes.extend(attrs(a))
        ev = lambda name, d: s.events.add(time_unix_nano=t + 100_000, name=name, attributes=attrs(d))
        if loc == "event_name":
            ev(text, {})
        elif loc == "event_attr":
            ev("note.added", {key: text})
        elif loc == "exception_message":
            ev("exception", {"exception.type": "java.lang.IllegalStateException", "exception.message": text})
        elif loc == "exception_stacktrace":
            ev("exception", {"exception.type": "ValueError", "exception.message": "rejected input",
                             "exception.stacktrace": text})
        elif loc == "link_attr":
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
                    req, size, holder = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest,
                                         "metrics": ExportMetricsServiceRequest}[signal](), 512, None
                size += n
                if isinstance(item, ResourceSpans):
                    req.resource_spans.append(item)
                    continue
                if holder is None:  # one shared resource + scope per request for the other items
                    if signal == "traces":
                        holder = req.resource_spans.add(resource={"attributes": attrs(RESOURCE)}).scope_spans.add(scope=SCOPE).spans
                    elif signal == "logs":
                        holder = req.resource_logs.add(resource={"attributes": attrs(RESOURCE)}).scope_logs.add(scope=SCOPE).log_records
                    else:
                        m = req.resource_metrics.add(resource={"attributes": attrs(RESOURCE)}).scope_metrics.add(scope=SCOPE).metrics.add(
                            name="corpus.probe", unit="1", description="redaction corpus probe")
                        holder = m.gauge.data_points
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


REQ_TYPES = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest, "metrics": ExportMetricsServiceRequest}
VALIDATORS = {"us_ssn": ssn, "ca_sin": sin, "fr_nir": nir, "de_tax_id": idnr, "es_dni": dni, "es_nie": nie,
              "it_codice_fiscale": codicefiscale, "nl_bsn": bsn, "in_aadhaar": aadhaar, "br_cpf": cpf, "br_cnpj": cnpj,
              "au_tfn": tfn, "iban": iban, "bitcoin_address": bitcoin}


def self_check(files, values, placements):
    secrets = [v for v in values if v["kind"] == "secret"]
    looks = [v for v in values if v["kind"] == "lookalike"]
    assert len(secrets) >= 3000 and len(looks) >= 3000, (len(secrets), len(looks))
    for det, n in Counter(v["detector"] for v in secrets).items():
        assert n >= 20, (det, n)
    for v in secrets:
        assert v["needle"] and v["needle"] in v["value"], v
        mod = VALIDATORS.get(v["detector"])
        # stdnum judges the number; some display variants use separators its compact() keeps
        assert mod is None or mod.is_valid(v["value"]) or mod.is_valid(re.sub(r"[\s.\-/]", "", v["value"])), v
        if v["detector"] == "credit_card":
            assert luhn.is_valid(re.sub(r"\D", "", v["value"])), v
    for v in looks:
        assert v["needle"] == v["value"], v
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
        if p["kind"] == "lookalike":
            hit = index.find(p["text"])
            assert hit is None, (p["id"], hit)
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
    assert again.keys() == files.keys(), "second run wrote other files"
    for name, blob in files.items():
        assert hashlib.sha256(again[name]).digest() == hashlib.sha256(blob).digest(), f"{name} is not deterministic"
    s = json.loads(files["summary.json"])
    print(f"values {s['values']}  placements {s['placements']}  files {len(files)} "
          f"({sum(map(len, files.values())) / 2 ** 20:.1f} MiB)  build {t_build:.1f}s  check {t_check:.1f}s  "
          f"total {time.monotonic() - t0:.1f}s  self-check OK, deterministic")


if __name__ == "__main__":
    main()
