//! Phishing detection for e-mail (RFC 5322 / MIME, parsed by `mail-parser`).
//!
//! Named features — each one a [`Signal`] when it fires — from:
//! - authentication results the receiving MTA recorded (SPF, DKIM, DMARC failures in
//!   `Authentication-Results` and `Received-SPF`; only failures count, because a missing
//!   header says more about the age of a corpus than about the sender);
//! - header inconsistencies (From vs Reply-To vs Return-Path domains, a display name that
//!   names a protected brand or carries another address);
//! - URLs (look-alike and homoglyph domains of the protected brands by Unicode confusable
//!   folding and edit distance, punycode, IP literals, shorteners, `user@host` tricks, link
//!   text that shows one domain and points at another);
//! - attachments (executable and script types, macro-enabled Office files, HTML attachments
//!   and HTML smuggling, password-protected archives);
//! - language (urgency, credential and payment requests, generic impersonal greetings);
//! - evidence of a legitimate sender: DMARC or a From-aligned DKIM pass in the topmost
//!   `Authentication-Results` (the receiving MTA's), links on that authenticated domain, a
//!   `List-Unsubscribe` header;
//!
//! plus hashed n-grams of the subject and body (links, addresses and digits replaced by
//! placeholders, so the model reads wording, not a corpus's era), in one logistic-regression
//! model trained by `palisade train phishing`. The named features' weights are sign-constrained
//! ([`SIGNS`]): attack evidence can only raise the score, legitimacy only lower it.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use mail_parser::{MessageParser, MimeHeaders};
use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::features::{NgramConfig, Sparse};
use crate::linear::{Example, LinearModel, SplitMix, TrainConfig, sigmoid};
use crate::normalise::excerpt;
use crate::seen::SeenDomains;
use crate::{GuardError, Signal};

static EMBEDDED_MODEL: &[u8] = include_bytes!("../models/phishing.pglm");

/// Messages larger than this are judged on their first bytes only.
pub const MAX_MESSAGE_BYTES: usize = 10 << 20;

/// The n-gram settings of the phishing model's text part.
pub const NGRAMS: NgramConfig = NgramConfig {
    bits: 17,
    char_range: (3, 5),
    word_range: (1, 2),
    max_chars: 3000,
};

/// The named features, in model order.
pub const FEATURES: &[&str] = &[
    "spf_fail",
    "dkim_fail",
    "dmarc_fail",
    "reply_to_differs",
    "return_path_differs",
    "display_name_brand_spoof",
    "display_name_has_other_address",
    "no_message_id",
    "url_count",
    "url_ip_literal",
    "url_shortener",
    "url_lookalike_domain",
    "url_punycode",
    "url_userinfo",
    "link_text_domain_mismatch",
    "url_brand_in_subdomain",
    "dangerous_attachment",
    "macro_attachment",
    "html_attachment",
    "html_smuggling",
    "encrypted_archive",
    "urgency_language",
    "credential_request",
    "payment_request",
    "impersonal_greeting",
    "form_in_html",
    "sender_authenticated",
    "links_on_sender_domain",
    "list_unsubscribe",
];

/// Signals of impersonation or a technical attack; language cues (urgency, requests for a
/// login or payment) are not among them, legitimate notices use those words too.
pub const ATTACK_SIGNALS: &[&str] = &[
    "spf_fail",
    "dkim_fail",
    "dmarc_fail",
    "display_name_brand_spoof",
    "display_name_has_other_address",
    "url_ip_literal",
    "url_shortener",
    "url_lookalike_domain",
    "url_punycode",
    "url_userinfo",
    "link_text_domain_mismatch",
    "url_brand_in_subdomain",
    "dangerous_attachment",
    "macro_attachment",
    "html_attachment",
    "html_smuggling",
    "encrypted_archive",
    "form_in_html",
];

/// The sign each named feature's weight may take (see `TrainConfig::signs`): attack evidence
/// may only raise the score, evidence of a legitimate sender only lower it; `0` = learned
/// freely (features whose meaning differs between corpora of different ages, such as a
/// Return-Path that differs because a mailing list or an e-mail service sent the message).
pub const SIGNS: &[i8] = &[
    1,  // spf_fail
    1,  // dkim_fail
    1,  // dmarc_fail
    0,  // reply_to_differs
    0,  // return_path_differs
    1,  // display_name_brand_spoof
    1,  // display_name_has_other_address
    0,  // no_message_id
    0,  // url_count
    1,  // url_ip_literal
    1,  // url_shortener
    1,  // url_lookalike_domain
    1,  // url_punycode
    1,  // url_userinfo
    1,  // link_text_domain_mismatch
    1,  // url_brand_in_subdomain
    1,  // dangerous_attachment
    1,  // macro_attachment
    1,  // html_attachment
    1,  // html_smuggling
    1,  // encrypted_archive
    1,  // urgency_language
    1,  // credential_request
    1,  // payment_request
    1,  // impersonal_greeting
    1,  // form_in_html
    -1, // sender_authenticated
    -1, // links_on_sender_domain
    -1, // list_unsubscribe
];

/// A brand to protect: its name as it appears in display names and domain labels, and the
/// registrable domains it really sends from and links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brand {
    pub name: String,
    pub domains: Vec<String>,
}

impl Brand {
    pub fn new(name: &str, domains: &[&str]) -> Brand {
        Brand {
            name: name.to_lowercase(),
            domains: domains.iter().map(|d| d.to_lowercase()).collect(),
        }
    }
}

/// Brands phishing most often imitates (used when no list is configured), each with the
/// registrable domains it really sends from and serves content from (image CDNs included:
/// their names contain the brand, so without them a brand's own mail looks like a look-alike).
pub fn default_brands() -> Vec<Brand> {
    [
        (
            "paypal",
            &[
                "paypal.com",
                "paypal.me",
                "paypalobjects.com",
                "paypal-communication.com",
            ][..],
        ),
        (
            "apple",
            &["apple.com", "icloud.com", "mzstatic.com", "apple.news"],
        ),
        (
            "microsoft",
            &[
                "microsoft.com",
                "office.com",
                "live.com",
                "outlook.com",
                "microsoftonline.com",
                "office365.com",
            ],
        ),
        (
            "office365",
            &["office.com", "office365.com", "microsoft.com"],
        ),
        ("outlook", &["outlook.com", "live.com", "microsoft.com"]),
        (
            "google",
            &[
                "google.com",
                "gmail.com",
                "youtube.com",
                "gstatic.com",
                "googleusercontent.com",
                "googleapis.com",
                "withgoogle.com",
            ],
        ),
        (
            "amazon",
            &[
                "amazon.com",
                "amazon.co.uk",
                "amazon.de",
                "amazon.fr",
                "amazon.es",
                "amazon.it",
                "amazon.ca",
                "amazon.co.jp",
                "amazonaws.com",
                "amazonses.com",
                "media-amazon.com",
                "ssl-images-amazon.com",
            ],
        ),
        ("netflix", &["netflix.com", "nflxext.com", "nflximg.net"]),
        ("facebook", &["facebook.com", "facebookmail.com", "fb.com"]),
        ("instagram", &["instagram.com"]),
        ("linkedin", &["linkedin.com", "licdn.com"]),
        ("dhl", &["dhl.com", "dhl.de"]),
        ("fedex", &["fedex.com"]),
        ("usps", &["usps.com"]),
        ("wellsfargo", &["wellsfargo.com"]),
        ("chase", &["chase.com", "jpmorgan.com"]),
        ("bankofamerica", &["bankofamerica.com"]),
        ("docusign", &["docusign.com", "docusign.net"]),
        (
            "dropbox",
            &["dropbox.com", "dropboxmail.com", "dropboxstatic.com"],
        ),
        ("adobe", &["adobe.com"]),
        ("coinbase", &["coinbase.com"]),
        ("binance", &["binance.com"]),
        ("metamask", &["metamask.io"]),
        ("wetransfer", &["wetransfer.com"]),
        (
            "ebay",
            &[
                "ebay.com",
                "ebay.co.uk",
                "ebay.de",
                "ebaystatic.com",
                "ebayimg.com",
            ],
        ),
    ]
    .iter()
    .map(|(n, d)| Brand::new(n, d))
    .collect()
}

const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "tiny.cc",
    "s.id",
    "bl.ink",
    "lnkd.in",
];

const DANGEROUS_EXT: &[&str] = &[
    "exe", "scr", "com", "pif", "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "hta", "lnk",
    "iso", "img", "vhd", "msi", "jar", "ps1", "cpl", "reg", "dll", "appx", "one",
];
const MACRO_EXT: &[&str] = &["docm", "xlsm", "pptm", "dotm", "xlsb", "xlam", "doc", "xls"];

fn re(p: &str) -> Regex {
    Regex::new(p).expect("built-in mail pattern compiles")
}

static URL: LazyLock<Regex> = LazyLock::new(|| re(r#"(?i)\bhttps?://[^\s<>"'()\[\]{}]+"#));
static ANCHOR: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?is)<a\s[^>]*?href\s*=\s*["']?([^"'\s>]+)["']?[^>]*>(.*?)</a\s*>"#));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"));
static TAG: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)<[^<>]*>"));
static STYLE_SCRIPT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?is)<(?:style|script|head)\b.*?</(?:style|script|head)\s*>"));
static DOMAIN_IN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:https?://)?((?:[a-z0-9-]{1,63}\.)+[a-z]{2,24})\b"));
static URGENCY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:urgent(?:ly)?|immediately|within\s+(?:24|48|72)\s+hours|account\s+(?:will\s+be\s+)?(?:suspended|locked|closed|disabled|terminated|restricted)|final\s+(?:notice|warning|reminder)|act\s+now|expires?\s+(?:today|soon)|unusual\s+(?:sign-?in|activity)|suspicious\s+activity|verify\s+(?:now|immediately)|last\s+warning|will\s+be\s+(?:deleted|deactivated))\b",
    )
});
static CREDENTIALS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:verify|confirm|validate|update|re-?activate|unlock|restore)\s+(?:your\s+)?(?:account|identity|password|login|credentials|mailbox|e-?mail|billing|payment\s+(?:details|information|method))|(?:log|sign)\s*-?in\s+(?:to|here|below|now)|enter\s+your\s+(?:password|credentials|pin)|password\s+(?:expires?|expired|reset)|mailbox\s+(?:is\s+)?(?:full|quota)|storage\s+(?:is\s+)?full",
    )
});
static PAYMENT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:wire\s+transfer|bank\s+transfer|gift\s+cards?|bitcoin|btc\s+wallet|crypto\s*currency|outstanding\s+(?:invoice|payment|balance)|payment\s+(?:overdue|failed|declined)|unpaid\s+invoice|refund\s+(?:of|is\s+pending)|tax\s+refund|overdue)\b",
    )
});
static GREETING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bdear\s+(?:customer|user|client|member|valued\s+customer|account\s+holder|beneficiary|sir(?:/|\s+or\s+)madam|friend)\b",
    )
});
static SMUGGLING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?is)(?:atob\s*\(.*?(?:new\s+Blob|createObjectURL|msSaveOrOpenBlob)|(?:new\s+Blob|createObjectURL).*?atob\s*\(|<a[^>]*\bdownload\b[^>]*href\s*=\s*["']data:)"#,
    )
});
static FORM: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?is)<form\b.*?<input[^>]*type\s*=\s*["']?password"#));

/// Everything the model and the explanation need from one message.
#[derive(Clone, Debug)]
pub struct MailFeatures {
    pub hashed: Sparse,
    pub dense: Vec<f32>,
    pub signals: Vec<Signal>,
    pub subject: String,
    pub from: String,
    /// The sender is authenticated and at least half of the link hosts are on domains the
    /// receiving server authenticated: whatever else it is, it is not impersonating anyone
    /// unless an attack signal says so (see [`MailGuard::judge`]).
    pub consistent_sender: bool,
    /// Registrable domains of the sender (From) and of the links, sorted, at most
    /// [`MAX_DOMAINS`]: what the seen-domain memory ([`crate::seen`]) judges.
    pub domains: Vec<String>,
}

/// Domains per message handed to the seen-domain memory.
pub const MAX_DOMAINS: usize = 50;

/// The verdict on one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailVerdictKind {
    Malicious,
    Suspicious,
    Clean,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct MailVerdict {
    /// 0–1, higher = worse.
    pub score: f32,
    pub verdict: MailVerdictKind,
    pub subject: String,
    pub from: String,
    /// The reasons, strongest first (each with its contribution to the log-odds).
    pub reasons: Vec<Signal>,
}

/// The phishing detector: a model plus the protected brands.
#[derive(Clone, Debug)]
pub struct MailGuard {
    model: LinearModel,
    brands: Vec<Brand>,
}

/// The registrable domain, approximately: the last two labels, or three under a known
/// two-level public suffix (`co.uk`, `com.au`, …). Good enough to compare senders and links.
pub fn registrable_domain(host: &str) -> String {
    let host = host.trim_end_matches('.').to_lowercase();
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    if labels.len() <= 2 {
        return labels.join(".");
    }
    let n = labels.len();
    let two = format!("{}.{}", labels[n - 2], labels[n - 1]);
    const SECOND_LEVEL: &[&str] = &[
        "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.jp", "co.nz",
        "com.br", "com.cn", "co.in", "co.za", "com.mx", "com.tr", "co.kr", "com.sg", "com.ar",
    ];
    if SECOND_LEVEL.contains(&two.as_str()) {
        format!("{}.{}", labels[n - 3], two)
    } else {
        two
    }
}

fn domain_of_address(addr: &str) -> Option<String> {
    addr.rsplit_once('@')
        .map(|(_, d)| registrable_domain(d.trim_end_matches('>')))
}

/// Levenshtein distance, bounded inputs (domain labels).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Folds a domain label to what it looks like: NFKC, Cyrillic/Greek look-alikes and digit
/// substitutions to Latin letters, `rn` to `m`, `vv` to `w`.
pub fn skeleton(label: &str) -> String {
    let s: String = label
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'а' | 'α' => 'a',
            'е' | 'ε' => 'e',
            'о' | 'ο' | '0' => 'o',
            'р' | 'ρ' => 'p',
            'с' => 'c',
            'х' | 'χ' => 'x',
            'у' => 'y',
            'і' | 'ı' | '1' | 'l' | '|' => 'l',
            'ѕ' | '5' => 's',
            'ј' => 'j',
            'ԁ' => 'd',
            'ɡ' => 'g',
            'ν' => 'v',
            '3' => 'e',
            '4' => 'a',
            c => c,
        })
        .collect();
    s.replace("rn", "m").replace("vv", "w").replace('i', "l")
}

/// Decodes a punycode label (`xn--…`) per RFC 3492; `None` when invalid.
fn punycode_decode(label: &str) -> Option<String> {
    let input = label.strip_prefix("xn--")?;
    let (basic, rest) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    let mut out: Vec<char> = basic.chars().collect();
    let (base, tmin, tmax, skew, damp) = (36u32, 1u32, 26u32, 38u32, 700u32);
    let (mut n, mut i, mut bias) = (128u32, 0u32, 72u32);
    let digits: Vec<u32> = rest
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' => Some((b - b'a') as u32),
            b'A'..=b'Z' => Some((b - b'A') as u32),
            b'0'..=b'9' => Some((b - b'0') as u32 + 26),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let mut pos = 0;
    while pos < digits.len() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = base;
        loop {
            let d = *digits.get(pos)?;
            pos += 1;
            i = i.checked_add(d.checked_mul(w)?)?;
            let t = if k <= bias {
                tmin
            } else if k >= bias + tmax {
                tmax
            } else {
                k - bias
            };
            if d < t {
                break;
            }
            w = w.checked_mul(base - t)?;
            k += base;
        }
        let len = out.len() as u32 + 1;
        let mut delta = if old_i == 0 {
            (i - old_i) / damp
        } else {
            (i - old_i) / 2
        };
        delta += delta / len;
        let mut k = 0;
        while delta > ((base - tmin) * tmax) / 2 {
            delta /= base - tmin;
            k += base;
        }
        bias = k + (((base - tmin + 1) * delta) / (delta + skew));
        n = n.checked_add(i / len)?;
        i %= len;
        out.insert(i as usize, char::from_u32(n)?);
        i += 1;
    }
    Some(out.into_iter().collect())
}

/// The host of a URL, lower-cased, without port or user info; `user_info` tells whether an
/// `@` preceded the host.
fn url_host(url: &str) -> Option<(String, bool)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let (user_info, hostport) = match authority.rsplit_once('@') {
        Some((_, h)) => (true, h),
        None => (false, authority),
    };
    let host = if hostport.starts_with('[') {
        hostport.split(']').next()?.trim_start_matches('[')
    } else {
        hostport.split(':').next()?
    };
    (!host.is_empty()).then(|| (host.to_lowercase(), user_info))
}

fn html_to_text(html: &str) -> String {
    let no_blocks = STYLE_SCRIPT.replace_all(html, " ");
    let t = TAG.replace_all(&no_blocks, " ");
    t.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

impl MailGuard {
    /// The detector with the embedded model and the default brand list.
    pub fn embedded() -> Result<MailGuard, GuardError> {
        if EMBEDDED_MODEL.is_empty() {
            return Err(GuardError::Model(
                "no phishing model was embedded in this build (run `palisade train phishing`)"
                    .into(),
            ));
        }
        MailGuard::from_model(LinearModel::from_bytes(EMBEDDED_MODEL)?)
    }

    pub fn from_model(model: LinearModel) -> Result<MailGuard, GuardError> {
        if model.ngrams != NGRAMS || model.dense_names != FEATURES {
            return Err(GuardError::Model(
                "this model was not trained on the current phishing features".into(),
            ));
        }
        Ok(MailGuard {
            model,
            brands: default_brands(),
        })
    }

    /// Replaces the protected brands.
    pub fn with_brands(mut self, brands: Vec<Brand>) -> MailGuard {
        self.brands = brands;
        self
    }

    pub fn model(&self) -> &LinearModel {
        &self.model
    }

    /// Judges one raw message.
    pub fn check(&self, raw: &[u8]) -> Result<MailVerdict, GuardError> {
        let f = extract(raw, &self.brands)?;
        Ok(self.judge(f))
    }

    /// Judges one raw message and consults the seen-domain memory: newly seen and newly
    /// registered sender or link domains add their fixed weights (see [`crate::seen`]), then
    /// the memory learns the message's domains. `now` is Unix seconds.
    pub fn check_seen(
        &self,
        raw: &[u8],
        seen: &mut SeenDomains,
        now: u64,
    ) -> Result<MailVerdict, GuardError> {
        let f = self.features(raw)?;
        let extra = seen.check_and_learn(&f.domains, now);
        Ok(self.judge_with(f, extra))
    }

    /// The features of one raw message under this guard's brands.
    pub fn features(&self, raw: &[u8]) -> Result<MailFeatures, GuardError> {
        extract(raw, &self.brands)
    }

    /// Judges extracted features.
    ///
    /// One rule sits above the model: a consistent, authenticated sender (see
    /// [`MailFeatures::consistent_sender`]) with no attack signal — nothing spoofed, no
    /// look-alike or disguised link, no dangerous attachment — is at most `suspicious`. Such
    /// mail may be unwanted (the text model cannot tell marketing from spam) but it is not
    /// phishing, and blocking it is what users of mail filters complain about most. The score
    /// is left as the model computed it, so rankings and ROC-AUC are the model's.
    pub fn judge(&self, f: MailFeatures) -> MailVerdict {
        self.judge_with(f, Vec::new())
    }

    /// Judges extracted features plus rule-based signals from outside the model (each adds
    /// its own weight to the log-odds; the model is unchanged).
    pub fn judge_with(&self, f: MailFeatures, extra: Vec<Signal>) -> MailVerdict {
        let z = self.model.logit(&f.hashed, &f.dense) + extra.iter().map(|s| s.weight).sum::<f32>();
        let score = sigmoid(z);
        // A domain registered days ago that authenticates its own mail is the phisher's
        // own domain: that breaks the consistent-sender cap too.
        let attack = f.signals.iter().any(|s| ATTACK_SIGNALS.contains(&s.name))
            || extra.iter().any(|s| s.name == "newly_registered_domain");
        let capped = f.consistent_sender && !attack;
        let mut reasons: Vec<Signal> = f
            .signals
            .into_iter()
            .map(|s| {
                let k = FEATURES.iter().position(|n| *n == s.name);
                let w = k.map_or(0.0, |k| self.model.dense[k] * f.dense[k]);
                s.weighted(w)
            })
            .collect();
        let text = self.model.text_contribution(&f.hashed);
        reasons.push(
            Signal::new(
                "text_model",
                "words and character n-grams of subject and body",
            )
            .weighted(text),
        );
        reasons.extend(extra);
        reasons.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        reasons.truncate(8);
        if capped && score >= self.model.threshold {
            reasons.push(Signal::new(
                "consistent_sender",
                "authenticated sender linking to its own domains, nothing spoofed: at most suspicious",
            ));
        }
        let verdict = if score >= self.model.threshold && !capped {
            MailVerdictKind::Malicious
        } else if score >= self.model.second_threshold {
            MailVerdictKind::Suspicious
        } else {
            MailVerdictKind::Clean
        };
        MailVerdict {
            score,
            verdict,
            subject: f.subject,
            from: f.from,
            reasons,
        }
    }
}

/// Parses `raw` and computes its features. Errors only when nothing of a message can be
/// found (no headers at all); broken MIME parts are judged on what could be read.
pub fn extract(raw: &[u8], brands: &[Brand]) -> Result<MailFeatures, GuardError> {
    let raw = &raw[..raw.len().min(MAX_MESSAGE_BYTES)];
    let msg = MessageParser::default()
        .parse(raw)
        .filter(|m| {
            // A lenient parser reads "Anything: …" as a header; a message has at least one
            // of the headers every mail carries.
            m.headers_raw().any(|(name, _)| {
                [
                    "from",
                    "to",
                    "subject",
                    "date",
                    "received",
                    "message-id",
                    "return-path",
                ]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
            })
        })
        .ok_or_else(|| {
            GuardError::Input(
                "not an e-mail message (no From, To, Subject, Date or Received header)".into(),
            )
        })?;
    let mut dense = vec![0.0f32; FEATURES.len()];
    let mut signals = Vec::new();
    let mut set = |name: &'static str, value: f32, evidence: String| {
        if let Some(k) = FEATURES.iter().position(|n| *n == name) {
            if value > dense[k] {
                dense[k] = value;
            }
            if value > 0.0 && !signals.iter().any(|s: &Signal| s.name == name) {
                signals.push(Signal::new(name, evidence));
            }
        }
    };

    // Authentication results. Failures count wherever they were recorded; a pass only in the
    // topmost Authentication-Results (the receiving MTA's own; lower ones could have been
    // written by the sender).
    let mut top_results: Option<String> = None;
    let mut list_unsubscribe = false;
    for (name, value) in msg.headers_raw() {
        let lname = name.to_ascii_lowercase();
        let v = value.to_ascii_lowercase();
        if lname == "list-unsubscribe" {
            list_unsubscribe = true;
        }
        if lname == "authentication-results" && top_results.is_none() {
            top_results = Some(v.clone());
        }
        if lname == "authentication-results" || lname == "arc-authentication-results" {
            for (mech, feat) in [
                ("spf", "spf_fail"),
                ("dkim", "dkim_fail"),
                ("dmarc", "dmarc_fail"),
            ] {
                for res in ["fail", "softfail", "permerror"] {
                    if v.contains(&format!("{mech}={res}")) {
                        set(feat, 1.0, format!("{name}: {mech}={res}"));
                    }
                }
            }
        } else if lname == "received-spf" {
            let first = v.split_whitespace().next().unwrap_or("");
            if first == "fail" || first == "softfail" {
                set("spf_fail", 1.0, format!("Received-SPF: {first}"));
            }
        }
    }

    // Headers.
    let from_addr = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_lowercase();
    let from_name = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name())
        .unwrap_or("")
        .to_string();
    let from_domain = domain_of_address(&from_addr);
    if let (Some(fd), Some(rt)) = (
        &from_domain,
        msg.reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
    ) && let Some(rd) = domain_of_address(&rt.to_lowercase())
        && &rd != fd
    {
        set("reply_to_differs", 1.0, format!("From {fd}, Reply-To {rd}"));
    }
    if let (Some(fd), Some(rp)) = (&from_domain, msg.return_address())
        && let Some(rd) = domain_of_address(&rp.to_lowercase())
        && &rd != fd
    {
        set(
            "return_path_differs",
            1.0,
            format!("From {fd}, Return-Path {rd}"),
        );
    }
    let name_l = from_name.to_lowercase();
    let name_compact: String = name_l.chars().filter(|c| c.is_alphanumeric()).collect();
    for b in brands {
        if name_compact.contains(&b.name)
            && !from_domain.as_ref().is_some_and(|d| b.domains.contains(d))
        {
            set(
                "display_name_brand_spoof",
                1.0,
                format!(
                    "display name \"{}\" names {} but the sender is {}",
                    excerpt(&from_name),
                    b.name,
                    from_addr
                ),
            );
        }
    }
    if let Some(other) = DOMAIN_IN_TEXT.captures(&name_l).map(|c| c[1].to_string())
        && name_l.contains('@')
        && from_domain
            .as_ref()
            .is_some_and(|d| registrable_domain(&other) != *d)
    {
        set(
            "display_name_has_other_address",
            1.0,
            format!("display name shows {other}, sender is {from_addr}"),
        );
    }
    if msg.message_id().is_none() {
        set("no_message_id", 1.0, "no Message-ID header".into());
    }
    if list_unsubscribe {
        set(
            "list_unsubscribe",
            1.0,
            "List-Unsubscribe header (bulk mail that can be left)".into(),
        );
    }
    // The domains that vouch for the message: the From domain when DMARC passed, or a DKIM
    // signature that passed for the From domain; then also the other domains the receiving
    // server authenticated (DKIM signatures that passed, the SPF-checked envelope sender: an
    // e-mail service's own domains, which its click tracking uses).
    let mut vouched: Vec<String> = Vec::new();
    if let (Some(fd), Some(ar)) = (&from_domain, &top_results) {
        let dkim_for_from = ar.split(';').any(|m| {
            let m = m.trim();
            m.starts_with("dkim=pass")
                && m.split_whitespace()
                    .filter_map(|kv| {
                        kv.strip_prefix("header.d=")
                            .or(kv.strip_prefix("header.i="))
                    })
                    .any(|d| {
                        registrable_domain(d.trim_start_matches('@').trim_end_matches(['"', ')']))
                            == *fd
                    })
        });
        let dmarc = ar.split(';').any(|m| m.trim().starts_with("dmarc=pass"));
        if dmarc || dkim_for_from {
            vouched.push(fd.clone());
            for m in ar.split(';').map(str::trim) {
                let key = if m.starts_with("dkim=pass") {
                    ["header.d=", "header.i="]
                } else if m.starts_with("spf=pass") {
                    ["smtp.mailfrom=", "smtp.helo="]
                } else {
                    continue;
                };
                for kv in m.split_whitespace() {
                    if let Some(d) = kv.strip_prefix(key[0]).or(kv.strip_prefix(key[1])) {
                        let d = d.rsplit('@').next().unwrap_or(d);
                        let d = registrable_domain(d.trim_end_matches(['"', ')']));
                        if d.contains('.') && !vouched.contains(&d) {
                            vouched.push(d);
                        }
                    }
                }
            }
            set(
                "sender_authenticated",
                1.0,
                format!(
                    "{} passed for {fd} at the receiving server",
                    if dmarc { "DMARC" } else { "DKIM" }
                ),
            );
        }
    }

    // Bodies.
    let mut text = String::new();
    let mut html_all = String::new();
    for part in msg.text_bodies().take(4) {
        if let Some(t) = part.text_contents() {
            text.push_str(&t[..t.len().min(200_000)]);
            text.push('\n');
        }
    }
    for part in msg.html_bodies().take(4) {
        if let Some(h) = part.text_contents() {
            html_all.push_str(&h[..floor_boundary(h, 500_000)]);
        }
    }
    if text.trim().is_empty() && !html_all.is_empty() {
        text = html_to_text(&html_all);
    }
    if text.len() > 200_000 {
        text.truncate(floor_boundary(&text, 200_000));
    }

    // URLs.
    let mut hosts: BTreeSet<String> = BTreeSet::new();
    let mut url_count = 0usize;
    for m in URL
        .find_iter(&text)
        .chain(URL.find_iter(&html_all))
        .take(500)
    {
        url_count += 1;
        if let Some((host, userinfo)) = url_host(m.as_str()) {
            if userinfo {
                set(
                    "url_userinfo",
                    1.0,
                    format!("user info before the host: {}", excerpt(m.as_str())),
                );
            }
            hosts.insert(host);
        }
    }
    set(
        "url_count",
        ((url_count as f32) + 1.0).ln() / 4.0,
        format!("{url_count} links"),
    );
    for host in &hosts {
        check_host(host, brands, &mut set);
    }
    let mut consistent_sender = false;
    if !vouched.is_empty() && !hosts.is_empty() {
        let own = hosts
            .iter()
            .filter(|h| vouched.contains(&registrable_domain(h)))
            .count();
        consistent_sender = 2 * own >= hosts.len();
        if own > 0 {
            set(
                "links_on_sender_domain",
                own as f32 / hosts.len() as f32,
                format!(
                    "{own} of {} link hosts on domains the receiving server authenticated ({})",
                    hosts.len(),
                    vouched.join(", ")
                ),
            );
        }
    }
    for cap in ANCHOR.captures_iter(&html_all).take(300) {
        let Some((href_host, _)) = url_host(&cap[1]) else {
            continue;
        };
        let shown = html_to_text(&cap[2]);
        if let Some(c) = DOMAIN_IN_TEXT.captures(shown.trim()) {
            let shown_dom = registrable_domain(&c[1]);
            let real = registrable_domain(&href_host);
            if shown_dom.contains('.') && shown_dom != real && !shown.contains('@') {
                set(
                    "link_text_domain_mismatch",
                    1.0,
                    format!("link shows {shown_dom} but goes to {real}"),
                );
            }
        }
    }
    if FORM.is_match(&html_all) {
        set(
            "form_in_html",
            1.0,
            "an HTML form asks for a password".into(),
        );
    }
    if SMUGGLING.is_match(&html_all) {
        set(
            "html_smuggling",
            1.0,
            "script assembles a file from base64 (HTML smuggling)".into(),
        );
    }

    // Attachments.
    for part in msg.attachments().take(50) {
        let name = part.attachment_name().unwrap_or("").to_lowercase();
        let ext = name.rsplit_once('.').map(|(_, e)| e.trim()).unwrap_or("");
        let data = part.contents();
        if DANGEROUS_EXT.contains(&ext) {
            set("dangerous_attachment", 1.0, format!("attachment {name}"));
        }
        let is_ooxml_macro = data.starts_with(b"PK") && memfind(data, b"vbaProject.bin");
        let is_ole = data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]);
        if MACRO_EXT.contains(&ext) && (is_ooxml_macro || is_ole || ext.ends_with('m'))
            || is_ooxml_macro
        {
            set(
                "macro_attachment",
                1.0,
                format!("macro-capable Office attachment {name}"),
            );
        }
        if ext == "htm" || ext == "html" || ext == "shtml" || ext == "svg" {
            set("html_attachment", 1.0, format!("HTML attachment {name}"));
            let body = String::from_utf8_lossy(&data[..data.len().min(2_000_000)]);
            if SMUGGLING.is_match(&body) {
                set(
                    "html_smuggling",
                    1.0,
                    format!("{name} assembles a file from base64"),
                );
            }
            if FORM.is_match(&body) {
                set("form_in_html", 1.0, format!("{name} holds a password form"));
            }
        }
        if data.starts_with(b"PK\x03\x04") && data.len() > 8 && data[6] & 1 == 1 {
            set(
                "encrypted_archive",
                1.0,
                format!("password-protected ZIP {name}"),
            );
        }
        // RAR and 7z encrypt headers differently per version; a password given in the
        // message is the tell-tale of the "open with password 1234" lure.
        let other_archive = data.starts_with(b"Rar!") || data.starts_with(b"7z\xBC\xAF\x27\x1C");
        if other_archive && (name.contains("password") || text.to_lowercase().contains("password"))
        {
            set(
                "encrypted_archive",
                1.0,
                format!("archive {name} with a password in the message"),
            );
        }
    }

    // Language.
    let subject = msg.subject().unwrap_or("").to_string();
    let lang_text = format!("{subject}\n{text}");
    for (re, name) in [
        (&*URGENCY, "urgency_language"),
        (&*CREDENTIALS, "credential_request"),
        (&*PAYMENT, "payment_request"),
        (&*GREETING, "impersonal_greeting"),
    ] {
        let hits: Vec<&str> = re
            .find_iter(&lang_text)
            .take(5)
            .map(|m| m.as_str())
            .collect();
        if !hits.is_empty() {
            set(
                name,
                (hits.len() as f32).min(3.0) / 3.0 + 0.5,
                format!("\"{}\"", hits.join("\", \"")),
            );
        }
    }

    let hashed = NGRAMS.vectorise(&model_text(&lang_text));
    let mut domains: BTreeSet<String> = hosts
        .iter()
        .filter(|h| h.parse::<std::net::IpAddr>().is_err() && h.contains('.'))
        .map(|h| registrable_domain(h))
        .filter(|d| d.contains('.') && !d.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .take(MAX_DOMAINS - 1)
        .collect();
    domains.extend(from_domain.filter(|d| d.contains('.')));
    Ok(MailFeatures {
        hashed,
        dense,
        signals,
        subject,
        from: from_addr,
        consistent_sender,
        domains: domains.into_iter().collect(),
    })
}

/// The text the n-gram model reads: links and addresses become placeholders and digits one
/// digit, so the model learns wording rather than the URLs, dates and numbers of the year its
/// training corpus was written in.
fn model_text(text: &str) -> String {
    let t = URL.replace_all(text, " weblink ");
    let t = EMAIL.replace_all(&t, " mailaddress ");
    t.chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn check_host(host: &str, brands: &[Brand], set: &mut impl FnMut(&'static str, f32, String)) {
    if host.parse::<std::net::IpAddr>().is_ok()
        || host.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        set("url_ip_literal", 1.0, format!("link to an address: {host}"));
        return;
    }
    let reg = registrable_domain(host);
    if SHORTENERS.contains(&reg.as_str()) || SHORTENERS.contains(&host) {
        set(
            "url_shortener",
            1.0,
            format!("link through shortener {host}"),
        );
    }
    let labels: Vec<String> = host
        .split('.')
        .map(|l| {
            if l.starts_with("xn--") {
                punycode_decode(l).unwrap_or_else(|| l.to_string())
            } else {
                l.to_string()
            }
        })
        .collect();
    if host.split('.').any(|l| l.starts_with("xn--")) {
        set(
            "url_punycode",
            1.0,
            format!("internationalised domain {host} ({})", labels.join(".")),
        );
    }
    for b in brands {
        if b.domains
            .iter()
            .any(|d| reg == *d || host.ends_with(&format!(".{d}")))
        {
            continue;
        }
        let reg_label = reg.split('.').next().unwrap_or("");
        let reg_label_decoded = labels
            .get(labels.len().saturating_sub(2))
            .map_or(reg_label, |s| s.as_str());
        let sk = skeleton(reg_label_decoded);
        let brand_sk = skeleton(&b.name);
        let d = edit_distance(&sk, &brand_sk);
        let max_d = if b.name.len() >= 8 { 2 } else { 1 };
        let tokens: Vec<&str> = sk.split('-').collect();
        if sk == brand_sk
            || (b.name.len() >= 5 && d <= max_d)
            || (b.name.len() >= 4 && tokens.len() > 1 && tokens.contains(&brand_sk.as_str()))
        {
            set(
                "url_lookalike_domain",
                1.0,
                format!("{host} looks like {}", b.name),
            );
        } else if b.name.len() >= 4
            && labels[..labels.len().saturating_sub(2)]
                .iter()
                .any(|l| skeleton(l).contains(&brand_sk))
        {
            set(
                "url_brand_in_subdomain",
                1.0,
                format!("{host} puts {} in a subdomain of {reg}", b.name),
            );
        }
    }
}

/// Trains the phishing model on extracted features (`true` = phishing or spam). The
/// "malicious" threshold is the out-of-fold score that 1 % of the training ham exceeds and the
/// "suspicious" one the score 5 % exceeds (5-fold cross-validation on the training data only).
pub fn train(examples: &[(MailFeatures, bool)], seed: u64) -> Result<LinearModel, GuardError> {
    let pos = examples.iter().filter(|e| e.1).count();
    if pos == 0 || pos == examples.len() {
        return Err(GuardError::Training(
            "need both ham and phishing/spam".into(),
        ));
    }
    let ex: Vec<Example> = examples
        .iter()
        .map(|(f, l)| Example {
            hashed: f.hashed.clone(),
            dense: f.dense.clone(),
            label: *l,
        })
        .collect();
    let names: Vec<String> = FEATURES.iter().map(|s| s.to_string()).collect();
    let cfg = TrainConfig {
        seed,
        signs: SIGNS,
        ..TrainConfig::default()
    };
    let folds = 5;
    let mut fold_of: Vec<usize> = (0..ex.len()).map(|i| i % folds).collect();
    SplitMix(seed ^ 0x6d61_696c).shuffle(&mut fold_of);
    let mut ham_scores = Vec::new();
    for f in 0..folds {
        let part: Vec<Example> = ex
            .iter()
            .zip(&fold_of)
            .filter(|(_, k)| **k != f)
            .map(|(e, _)| e.clone())
            .collect();
        let m = LinearModel::train(NGRAMS, names.clone(), &part, cfg);
        for (e, k) in ex.iter().zip(&fold_of) {
            if *k == f && !e.label {
                ham_scores.push(m.score(&e.hashed, &e.dense));
            }
        }
    }
    ham_scores.sort_by(f32::total_cmp);
    let quantile = |q: f64| {
        let i = ((ham_scores.len() as f64) * (1.0 - q)).floor() as usize;
        let i = i.min(ham_scores.len() - 1);
        // Just above the ham score at that rank, so at most `q` of the training ham passes.
        ham_scores[i].next_up()
    };
    let mut model = LinearModel::train(NGRAMS, names, &ex, cfg);
    model.threshold = quantile(0.01).max(0.5);
    model.second_threshold = quantile(0.05).min(model.threshold);
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable_domain("mail.paypal.com"), "paypal.com");
        assert_eq!(registrable_domain("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(registrable_domain("localhost"), "localhost");
    }

    #[test]
    fn skeletons_fold_homoglyphs() {
        assert_eq!(skeleton("pаypal"), skeleton("paypal")); // Cyrillic а
        assert_eq!(skeleton("paypa1"), skeleton("paypal"));
        assert_eq!(skeleton("rnicrosoft"), skeleton("microsoft"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn punycode_decodes() {
        assert_eq!(punycode_decode("xn--pypal-4ve").as_deref(), Some("pаypal"));
        assert_eq!(
            punycode_decode("xn--mnchen-3ya").as_deref(),
            Some("münchen")
        );
        assert_eq!(punycode_decode("xn--!!"), None);
    }

    fn names(raw: &str) -> Vec<&'static str> {
        let f = extract(raw.as_bytes(), &default_brands()).unwrap();
        f.signals.iter().map(|s| s.name).collect()
    }

    #[test]
    fn phishing_fixture_fires_the_expected_signals() {
        let raw = "Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=secure-paypa1.com; dkim=none; dmarc=fail\r\n\
From: \"PayPal Security\" <service@secure-paypa1.com>\r\n\
Reply-To: help@gmail.com\r\n\
Subject: Urgent: your account will be suspended\r\n\
Content-Type: text/html\r\n\r\n\
<p>Dear customer,</p><p>We noticed unusual activity. Verify your account within 24 hours \
or your account will be suspended.</p><a href=\"http://xn--pypal-4ve.com.login.example/\">https://www.paypal.com/signin</a> \
<a href=\"http://192.0.2.7/x\">here</a>";
        let n = names(raw);
        for want in [
            "spf_fail",
            "dmarc_fail",
            "reply_to_differs",
            "display_name_brand_spoof",
            "url_ip_literal",
            "url_punycode",
            "link_text_domain_mismatch",
            "urgency_language",
            "credential_request",
            "impersonal_greeting",
            "no_message_id",
        ] {
            assert!(n.contains(&want), "{want} missing from {n:?}");
        }
    }

    #[test]
    fn newsletter_fixture_fires_no_phishing_signals() {
        let raw = "Authentication-Results: mx.example.org; spf=pass; dkim=pass; dmarc=pass\r\n\
From: \"Example Shop\" <news@shop.example.com>\r\n\
Message-ID: <1@shop.example.com>\r\n\
Subject: Our spring collection is here\r\n\
Content-Type: text/html\r\n\r\n\
<p>Hello Anna,</p><p>New arrivals this week.</p><a href=\"https://shop.example.com/spring\">Shop now</a> \
<a href=\"https://shop.example.com/unsubscribe\">Unsubscribe</a>";
        let n = names(raw);
        assert_eq!(
            n,
            [
                "sender_authenticated",
                "url_count",
                "links_on_sender_domain"
            ],
            "{n:?}"
        );
    }

    #[test]
    fn only_the_receiving_servers_pass_vouches_for_the_sender() {
        // A pass the sender wrote lower in the headers, or a DKIM pass for another domain,
        // is no evidence for the From domain.
        let forged = "Authentication-Results: mx.example.org; spf=none; dkim=none\r\n\
Authentication-Results: mx.paypal.com; dmarc=pass; dkim=pass header.d=paypal.com\r\n\
From: <service@paypal.com>\r\nSubject: hi\r\n\r\nhttps://paypal.com/x";
        assert!(!names(forged).contains(&"sender_authenticated"));
        let other = "Authentication-Results: mx.example.org; dkim=pass header.d=mailer.example.net\r\n\
From: <service@paypal.com>\r\nSubject: hi\r\n\r\nhttps://paypal.com/x";
        assert!(!names(other).contains(&"sender_authenticated"));
        let own = "Authentication-Results: mx.example.org; dkim=pass header.d=news.paypal.com\r\n\
From: <service@paypal.com>\r\nSubject: hi\r\n\r\nhttps://paypal.com/x";
        assert!(names(own).contains(&"sender_authenticated"));
    }

    #[test]
    fn a_consistent_sender_without_attack_signals_is_at_most_suspicious() {
        let g = MailGuard::embedded().unwrap();
        let mut dense = vec![0.0; FEATURES.len()];
        for (k, sign) in SIGNS.iter().enumerate() {
            if *sign == 1 {
                dense[k] = 1.0;
            }
        }
        let features = |consistent: bool, signals: Vec<Signal>| MailFeatures {
            hashed: Vec::new(),
            dense: dense.clone(),
            signals,
            subject: String::new(),
            from: String::new(),
            consistent_sender: consistent,
            domains: Vec::new(),
        };
        let v = g.judge(features(false, Vec::new()));
        assert_eq!(v.verdict, MailVerdictKind::Malicious, "{v:?}");
        let v = g.judge(features(true, Vec::new()));
        assert_eq!(v.verdict, MailVerdictKind::Suspicious, "{v:?}");
        assert!(v.reasons.iter().any(|r| r.name == "consistent_sender"));
        let lookalike = Signal::new("url_lookalike_domain", "paypa1.com looks like paypal");
        let v = g.judge(features(true, vec![lookalike]));
        assert_eq!(v.verdict, MailVerdictKind::Malicious, "{v:?}");
    }

    #[test]
    fn legitimacy_features_can_only_lower_the_score() {
        let m = MailGuard::embedded().unwrap();
        for (k, sign) in SIGNS.iter().enumerate() {
            let w = m.model().dense[k];
            match sign {
                1 => assert!(w >= 0.0, "{} = {w}", FEATURES[k]),
                -1 => assert!(w <= 0.0, "{} = {w}", FEATURES[k]),
                _ => {}
            }
        }
        assert_eq!(SIGNS.len(), FEATURES.len());
    }

    #[test]
    fn sender_and_link_domains_are_collected() {
        let raw = "From: Anna <anna@mail.example.org>\r\nSubject: hi\r\n\r\n\
see https://www.examp1e-login.com/a and http://192.0.2.1/x and https://docs.example.org/b";
        let f = extract(raw.as_bytes(), &default_brands()).unwrap();
        assert_eq!(f.domains, ["examp1e-login.com", "example.org"]);
    }

    #[test]
    fn newly_seen_domains_add_their_fixed_weight_and_the_model_is_unchanged() {
        use crate::seen::{NEWLY_SEEN_WEIGHT, SeenConfig};
        let g = MailGuard::embedded().unwrap();
        let raw = b"From: Anna <anna@example.org>\r\nTo: bob@example.net\r\n\
Message-ID: <1@example.org>\r\nSubject: minutes of the meeting\r\n\r\n\
Hi Bob, the minutes are at https://wiki.example.org/minutes. Anna";
        let mut seen = SeenDomains::new(SeenConfig {
            warmup: 0,
            ..SeenConfig::default()
        });
        let plain = g.check(raw).unwrap();
        let first = g.check_seen(raw, &mut seen, 1_700_000_000).unwrap();
        let fired = first
            .reasons
            .iter()
            .find(|s| s.name == "newly_seen_domain")
            .expect("fires on a never-seen sender");
        assert!(fired.evidence.contains("example.org"), "{}", fired.evidence);
        let logit = |p: f32| (p / (1.0 - p)).ln();
        assert!((logit(first.score) - logit(plain.score) - NEWLY_SEEN_WEIGHT).abs() < 1e-3);
        // Known after this message (new_days = 0 means: only never-seen domains).
        let mut seen0 = SeenDomains::from_json(
            &seen.to_json(),
            SeenConfig {
                warmup: 0,
                new_days: 0,
                ..SeenConfig::default()
            },
        )
        .unwrap();
        let again = g.check_seen(raw, &mut seen0, 1_700_000_100).unwrap();
        assert!((again.score - plain.score).abs() < 1e-6);
        assert!(!again.reasons.iter().any(|s| s.name == "newly_seen_domain"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(extract(b"", &default_brands()).is_err());
        let _ = extract(b"\xff\xfe\x00garbage\r\n\r\n", &default_brands());
    }

    proptest::proptest! {
        #[test]
        fn extraction_never_panics(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let _ = extract(&raw, &default_brands());
        }

        #[test]
        fn mime_like_input_never_panics(s in "(From|To|Subject|Content-Type|Reply-To|Authentication-Results): [ -~]{0,60}\r\n(\r\n[ -~<>\"=/]{0,400})?") {
            let _ = extract(s.as_bytes(), &default_brands());
        }
    }
}
