//! Secrets with a published shape: private keys, JWTs, cloud keys and the
//! tokens of source forges, CI, chat and SaaS vendors. Each is anchored on
//! its prefix, so a string without one runs none of these patterns.
//! Formats are the vendors' own documentation, cross-read with the rules
//! of gitleaks, Kingfisher and Nosey Parker (REDACTION.md).

use super::{Builtin, Gate, RULE};
use crate::processors::redaction::checks;

pub const CLOUD: &[Builtin] = &[
    Builtin {
        name: "aws_access_key",
        anchors: &["AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA"],
        pattern: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}(?-u:\b)",
        about: "AWS access key ids: a unique-id prefix (AKIA long-term, ASIA temporary, ...) and 16 upper-case base32 characters (AWS IAM identifiers)",
        example: "key AKIAIOSFODNN7EXAMPLE",
        not: "key AKIAiosfodnn7example",
        ..RULE
    },
    Builtin {
        name: "aws_secret_key",
        anchors: &["secret_access", "secretaccess", "secret-access", "aws_secret", "awssecret"],
        pattern: r#"(?i)(?-u:\b)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key|secret-access-key)(?-u:\b)["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9/+]{40})(?-u:\b)"#,
        about: "AWS secret access keys (40 base64 characters) after their key name",
        example: "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        not: "aws_secret_access_key is unset",
        ..RULE
    },
    Builtin {
        name: "google_api_key",
        anchors: &["AIza"],
        // The key may end in `-`, after which no word boundary follows.
        pattern: r"(?-u:\b)AIza[0-9A-Za-z_-]{35}",
        about: "Google API keys: AIza and 35 URL-safe characters (Google Cloud API keys)",
        example: "key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
        not: "AIzaSy short",
        ..RULE
    },
    Builtin {
        name: "google_oauth_token",
        anchors: &["ya29."],
        pattern: r"(?-u:\b)ya29\.[0-9A-Za-z_-]{20,}",
        about: "Google OAuth 2.0 access tokens (ya29.)",
        example: "token ya29.a0AfH6SMBx3kq9Zr-example_ACCESS_token",
        not: "ya29.short",
        ..RULE
    },
    Builtin {
        name: "gcp_service_account",
        anchors: &["private_key_id"],
        pattern: r#"private_key_id\\?"\s*:\s*\\?"(?P<secret>[0-9a-f]{40})"#,
        about: "Google service-account key files: the `private_key_id` (the `private_key` is found by `private_key` and the blocked-key list)",
        example: r#"{"type": "service_account", "private_key_id": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}"#,
        not: r#"{"private_key_id": "none"}"#,
        ..RULE
    },
    Builtin {
        name: "azure_storage_key",
        anchors: &["accountkey", "sharedaccesskey"],
        pattern: r"(?i)(?:AccountKey|SharedAccessKey)\s*=\s*(?P<secret>[A-Za-z0-9+/]{40,86}={0,2})",
        about: "Azure storage account keys (88 base64 characters) and Service Bus / Event Hubs shared access keys in connection strings",
        example: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net",
        not: "AccountKey=<from-vault>",
        ..RULE
    },
    Builtin {
        name: "azure_sas_token",
        anchors: &["sig="],
        pattern: r"(?i)(?:^|[?&;\s])sig=(?P<secret>[A-Za-z0-9%+/=]{30,})",
        about: "Azure shared access signatures: the `sig` parameter of a SAS URL or token",
        example: "https://acct.blob.core.windows.net/c?sv=2022-11-02&se=2026-01-01&sp=r&sig=JmZ2ZLCTzU8VXp%2BCkLwQzTx7cIVkD%2FUZmaaKBp%2FzMXA%3D",
        not: "config sig=short",
        ..RULE
    },
    Builtin {
        name: "alibaba_access_key",
        anchors: &["LTAI"],
        pattern: r"(?-u:\b)LTAI[A-Za-z0-9]{12,20}(?-u:\b)",
        about: "Alibaba Cloud AccessKey ids (LTAI)",
        example: "id LTAI5tQzK9xMvN2pR8sW4yBd",
        not: "LTAI",
        ..RULE
    },
    Builtin {
        name: "digitalocean_token",
        anchors: &["dop_v1_", "doo_v1_", "dor_v1_"],
        pattern: r"(?-u:\b)do[opr]_v1_[a-f0-9]{64}(?-u:\b)",
        about: "DigitalOcean personal, OAuth and refresh tokens (do?_v1_ and 64 hex)",
        example: "dop_v1_3b8f2c9a1d4e6f7a3b8f2c9a1d4e6f7a3b8f2c9a1d4e6f7a3b8f2c9a1d4e6f7a",
        not: "dop_v1_short",
        ..RULE
    },
    Builtin {
        name: "databricks_token",
        anchors: &["dapi"],
        gate: Gate::word(36),
        pattern: r"(?-u:\b)dapi[a-f0-9]{32}(?:-[0-9])?(?-u:\b)",
        about: "Databricks personal access tokens (dapi and 32 hex)",
        example: "dapi1234567890abcdef1234567890abcdef",
        not: "dapi_version_1234567890abcdef1234567890",
        ..RULE
    },
    Builtin {
        name: "heroku_api_key",
        anchors: &["HRKU-"],
        pattern: r"HRKU-[A-Za-z0-9_-]{58,64}",
        about: "Heroku platform API keys (HRKU-)",
        example: "HRKU-AAb3f9c2d1e0a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1",
        not: "HRKU-short",
        ..RULE
    },
];

pub const DETECTORS: &[Builtin] = &[
    Builtin {
        name: "private_key",
        anchors: &["-----BEGIN"],
        // To the END line, or to the end of the string when it was cut.
        pattern: r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|$)",
        about: "PEM (RFC 7468: RSA, EC, DSA, PKCS#8, ENCRYPTED), OpenSSH and PGP private key blocks, to their END line or the end of the text",
        example: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        not: "-----BEGIN PUBLIC KEY-----",
        ..RULE
    },
    Builtin {
        name: "jwt",
        anchors: &["eyJ"],
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*",
        check: Some(checks::jwt),
        about: "JSON Web Tokens (RFC 7519) in compact form, signed or not: the header must decode to JSON naming `alg`",
        example: "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl",
        not: "eyJmb28iOiJiYXIifQ.eyJ4Ijox.abc",
        ..RULE
    },
    Builtin {
        name: "github_token",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36,255}(?-u:\b)",
        check: Some(checks::github),
        about: "GitHub classic tokens (ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_ server-to-server, ghr_ refresh): 30 base62 characters and their CRC32 in 6 base62 digits (GitHub's 2021 token format)",
        example: "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",
        not: "ghp_8aspm4G7VmSUfOoD6V1vrORcmn0iSH2JWh3e",
        ..RULE
    },
    Builtin {
        name: "github_fine_grained_token",
        anchors: &["github_pat_"],
        pattern: r"(?-u:\b)github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?-u:\b)",
        about: "GitHub fine-grained personal access tokens (github_pat_, 22 + 59 base62)",
        example: "github_pat_11ABCDEFG0123456789abc_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijABCDEFGHI",
        not: "github_pat_placeholder",
        ..RULE
    },
    Builtin {
        name: "gitlab_token",
        anchors: &["glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "glcbt-", "glimt-", "glagent-", "gloas-", "glffct-", "glft-", "GR1348941"],
        pattern: r"(?-u:\b)(?:gl(?:pat|dt|rt|ptt|soat|cbt|imt|agent|oas|ffct|ft)-[A-Za-z0-9_.-]{20,}|GR1348941[A-Za-z0-9_-]{20,})",
        about: "GitLab tokens by their prefixes: personal (glpat-), deploy (gldt-), runner (glrt-, GR1348941), pipeline trigger (glptt-), and the others GitLab documents",
        example: "glpat-xK9mQ2vR7nT4wL8pZ3yB",
        not: "glpat-short",
        ..RULE
    },
    Builtin {
        name: "npm_token",
        anchors: &["npm_"],
        pattern: r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)",
        check: Some(checks::github),
        about: "npm access tokens: npm_, 30 base62 characters and their CRC32 in 6 base62 digits (GitHub's scheme)",
        example: "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",
        not: "npm_config_registry",
        ..RULE
    },
    Builtin {
        name: "pypi_token",
        anchors: &["pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"],
        pattern: r"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}",
        about: "PyPI and TestPyPI API tokens (macaroons whose location decodes to pypi.org)",
        example: "pypi-AgEIcHlwaS5vcmcCJDk2YjM5ZGE3LWQ0ZjAtNDhhMi1hYjBmLTU0ODMyMDBhMzQ4NQACKlsz",
        not: "pypi-AgEIcHlwaS5vcmc",
        ..RULE
    },
    Builtin {
        name: "dockerhub_token",
        anchors: &["dckr_pat_", "dckr_oat_"],
        pattern: r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,}",
        about: "Docker Hub personal and organization access tokens",
        example: "dckr_pat_2bF9xK1mQ8vR3nT7wL5pZ0yBcDe",
        not: "dckr_pat_",
        ..RULE
    },
    Builtin {
        name: "slack_token",
        anchors: &["xox"],
        pattern: r"(?-u:\b)xox[abeoprs]-[A-Za-z0-9-]{10,}",
        about: "Slack bot (xoxb-), user (xoxp-), app-config (xoxe-), legacy and refresh tokens",
        example: "xoxb-2400000000-2400000000000-AbCdEfGhIjKlMnOpQrStUvWx",
        not: "xoxo hugs",
        ..RULE
    },
    Builtin {
        name: "slack_app_token",
        anchors: &["xapp-"],
        pattern: r"(?-u:\b)xapp-[0-9]-[A-Za-z0-9-]{10,}",
        about: "Slack app-level tokens (xapp-)",
        example: "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef",
        not: "xapp-config",
        ..RULE
    },
    Builtin {
        name: "slack_webhook",
        anchors: &["hooks.slack.com"],
        pattern: r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}",
        about: "Slack incoming webhook, workflow and trigger URLs: the URL is the credential",
        example: "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        not: "https://hooks.slack.com/",
        ..RULE
    },
    Builtin {
        name: "chat_webhook",
        anchors: &["discord.com/api/webhooks", "discordapp.com/api/webhooks", "webhook.office.com"],
        pattern: r"https?://(?:(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{5,}/[A-Za-z0-9_-]{20,}|[a-z0-9-]+\.webhook\.office\.com/[A-Za-z0-9/@_-]{20,})",
        about: "Discord and Microsoft Teams incoming webhook URLs",
        example: "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        not: "https://discord.com/api/webhooks/",
        ..RULE
    },
    Builtin {
        name: "stripe_key",
        anchors: &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"],
        pattern: r"(?-u:\b)(?:[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{24,})",
        about: "Stripe secret and restricted API keys (sk_/rk_ live and test) and webhook signing secrets (whsec_); publishable pk_ keys are public by design",
        example: "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        not: "pk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ..RULE
    },
    Builtin {
        name: "twilio_api_key",
        anchors: &["SK"],
        gate: Gate::word(34),
        pattern: r"(?-u:\b)SK[0-9a-fA-F]{32}(?-u:\b)",
        about: "Twilio API key SIDs (SK and 32 hex), which come with their secret",
        example: "SK0123456789abcdef0123456789abcdef",
        not: "SKU0123456789abcdef0123456789abcdef",
        ..RULE
    },
    Builtin {
        name: "sendgrid_key",
        anchors: &["SG."],
        pattern: r"(?-u:\b)SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?-u:\b)",
        about: "SendGrid API keys (SG., 22 and 43 base64url characters)",
        example: "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",
        not: "SG.short.key",
        ..RULE
    },
    Builtin {
        name: "mailgun_key",
        anchors: &["key-"],
        gate: Gate::word(36),
        pattern: r"(?-u:\b)key-[0-9a-z]{32}(?-u:\b)",
        about: "Mailgun private API keys (key- and 32 lower-case letters and digits)",
        example: "key-3ax6xnjp29jd6fds4gc373sgvjxteol0",
        not: "primary-key-value",
        ..RULE
    },
    Builtin {
        name: "mailchimp_key",
        anchors: &["-us"],
        gate: Gate::word(36),
        pattern: r"(?-u:\b)[0-9a-f]{32}-us[0-9]{1,2}(?-u:\b)",
        about: "Mailchimp API keys (32 hex, a dash and the data center)",
        example: "0123456789abcdef0123456789abcdef-us21",
        not: "en-us",
        ..RULE
    },
    Builtin {
        name: "shopify_token",
        anchors: &["shpat_", "shpca_", "shppa_", "shpss_"],
        pattern: r"(?-u:\b)shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?-u:\b)",
        about: "Shopify admin, custom-app, private-app tokens and shared secrets",
        example: "shpat_0123456789abcdef0123456789abcdef",
        not: "shpat_",
        ..RULE
    },
    Builtin {
        name: "openai_key",
        anchors: &["sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ"],
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,})",
        about: "OpenAI API keys: project, service-account and admin keys, and legacy keys with the T3BlbkFJ marker",
        example: "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        not: "sk-SK locale",
        ..RULE
    },
    Builtin {
        name: "anthropic_key",
        anchors: &["sk-ant-"],
        pattern: r"(?-u:\b)sk-ant-(?:api|admin|oat|sid)[0-9]{2}-[A-Za-z0-9_-]{32,}",
        about: "Anthropic API and admin keys (sk-ant-api03-, sk-ant-admin01-)",
        example: "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-abcdefghAA",
        not: "sk-ant-",
        ..RULE
    },
    Builtin {
        name: "huggingface_token",
        anchors: &["hf_", "api_org_"],
        gate: Gate::word(37),
        pattern: r"(?-u:\b)(?:hf|api_org)_[A-Za-z0-9]{34}(?-u:\b)",
        about: "Hugging Face user access tokens (hf_) and organization tokens (api_org_): 34 letters",
        example: "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
        not: "shelf_life_in_days_for_product_catalog",
        ..RULE
    },
    Builtin {
        name: "datadog_key",
        anchors: &["datadog", "dd_api", "dd-api", "dd_app", "dd-app", "ddapi", "ddapp"],
        pattern: r#"(?i)(?:datadog|dd)[_-]?(?:api|app(?:lication)?)[_-]?key["']?\s*[:=]\s*["']?(?P<secret>[a-f0-9]{32}(?:[a-f0-9]{8})?)(?-u:\b)"#,
        about: "Datadog API keys (32 hex) and application keys (40 hex), which have no prefix: only after their key name",
        example: "DD_API_KEY=0123456789abcdef0123456789abcdef",
        not: "DD_API_KEY is required",
        ..RULE
    },
    Builtin {
        name: "newrelic_key",
        anchors: &["NRAK-", "NRII-", "NRJS-", "NRAA-", "NRIQ-", "NRAZ-"],
        pattern: r"(?-u:\b)NR(?:AK|AA|II|IQ|JS|AZ)-[A-Za-z0-9]{19,42}(?-u:\b)",
        about: "New Relic user (NRAK-), insert (NRII-), browser (NRJS-) and other keys",
        example: "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZA",
        not: "NRAK-",
        ..RULE
    },
    Builtin {
        name: "sentry_dsn",
        anchors: &["sentry", "sntrys_"],
        pattern: r"(?:https?://[0-9a-f]{32}(?::[0-9a-f]{32})?@[A-Za-z0-9.-]*sentry[A-Za-z0-9.-]*(?::[0-9]+)?/[0-9]+|sntry[su]_[A-Za-z0-9+/=_-]{40,})",
        about: "Sentry DSNs (the public key before @ authorizes sending) and Sentry auth tokens (sntrys_, sntryu_)",
        example: "https://0123456789abcdef0123456789abcdef@o123456.ingest.sentry.io/4504",
        not: "https://sentry.io/organizations/acme/",
        ..RULE
    },
    Builtin {
        name: "discord_bot_token",
        gate: Gate::word(23),
        pattern: r"(?-u:\b)[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}(?-u:\b)",
        about: "Discord bot tokens: the base64 of the bot's id, a timestamp and an HMAC",
        example: "MTA0NTY3ODkwMTIzNDU2Nzg5MA.GaBcDe.AbCdEfGhIjKlMnOpQrStUvWxYz0123456",
        not: "MTA0NTY3.GaBcDe.short",
        ..RULE
    },
    Builtin {
        name: "telegram_bot_token",
        anchors: &[":AA"],
        pattern: r"(?-u:\b)[0-9]{8,10}:AA[A-Za-z0-9_-]{33}(?-u:\b)",
        about: "Telegram Bot API tokens: the bot's id, a colon and 35 characters (starting AA)",
        example: "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_",
        not: "at 123456789:AA",
        ..RULE
    },
    Builtin {
        name: "vault_token",
        anchors: &["hvs.", "hvb.", "hvr."],
        pattern: r"(?-u:\b)hv[sbr]\.[A-Za-z0-9_-]{24,}",
        about: "HashiCorp Vault service (hvs.), batch (hvb.) and recovery (hvr.) tokens",
        example: "hvs.CAESIJlWTHkwMnpEb2hLcWFvVGh0SVhwYUJUYw",
        not: "hvs.short",
        ..RULE
    },
    Builtin {
        name: "grafana_token",
        anchors: &["glc_", "glsa_", "eyJrIjoi"],
        pattern: r"(?:(?-u:\b)glc_[A-Za-z0-9+/]{32,}={0,2}|(?-u:\b)glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|eyJrIjoi[A-Za-z0-9]{40,400}={0,2})",
        about: "Grafana Cloud tokens (glc_), service-account tokens (glsa_) and legacy API keys (eyJrIjoi…)",
        example: "glsa_AbCdEfGhIjKlMnOpQrStUvWxYz012345_0a1b2c3d",
        not: "glsa_",
        ..RULE
    },
    Builtin {
        name: "age_secret_key",
        anchors: &["AGE-SECRET-KEY-1"],
        pattern: r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        about: "age encryption secret keys (bech32, AGE-SECRET-KEY-1)",
        example: "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
        not: "AGE-SECRET-KEY-1",
        ..RULE
    },
    Builtin {
        name: "postman_key",
        anchors: &["PMAK-"],
        pattern: r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
        about: "Postman API keys",
        example: "PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01",
        not: "PMAK-",
        ..RULE
    },
    Builtin {
        name: "pulumi_token",
        anchors: &["pul-"],
        pattern: r"(?-u:\b)pul-[a-f0-9]{40}(?-u:\b)",
        about: "Pulumi access tokens",
        example: "pul-0123456789abcdef0123456789abcdef01234567",
        not: "pul-request",
        ..RULE
    },
    Builtin {
        name: "terraform_token",
        anchors: &[".atlasv1."],
        pattern: r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}",
        about: "Terraform Cloud / Enterprise API tokens (.atlasv1.)",
        example: "AbCdEfGhIjKlMn.atlasv1.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01",
        not: "x.atlasv1.y",
        ..RULE
    },
    Builtin {
        name: "linear_key",
        anchors: &["lin_api_"],
        pattern: r"lin_api_[A-Za-z0-9]{40}",
        about: "Linear API keys",
        example: "lin_api_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd",
        not: "lin_api_",
        ..RULE
    },
    Builtin {
        name: "doppler_token",
        anchors: &["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."],
        pattern: r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}",
        about: "Doppler personal, service, service-account, CLI, SCIM and audit tokens",
        example: "dp.pt.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGh",
        not: "dp.pt.",
        ..RULE
    },
    Builtin {
        name: "atlassian_token",
        anchors: &["ATATT3", "ATCTT3"],
        pattern: r"AT[AC]TT3[A-Za-z0-9_=-]{100,}",
        about: "Atlassian API tokens (ATATT3) and Confluence/Jira tokens (ATCTT3)",
        example: "ATATT3xFfGF0AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz=0A1B2C3D",
        not: "ATATT3",
        ..RULE
    },
    Builtin {
        name: "square_token",
        anchors: &["sq0atp-", "sq0csp-", "EAAA"],
        pattern: r"(?-u:\b)(?:sq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}|EAAA[A-Za-z0-9_-]{60})(?-u:\b)",
        about: "Square access tokens and OAuth secrets",
        example: "sq0atp-AbCdEfGhIjKlMnOpQrStUv",
        not: "sq0atp-",
        ..RULE
    },
];
