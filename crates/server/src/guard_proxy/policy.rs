//! What the proxy does about each kind of finding, per direction.

use palisade_guard::dlp::{Category, Finding};
use serde::{Deserialize, Serialize};

/// What to do about a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse: the request never reaches the upstream (an OpenAI-style 400), or the answer is
    /// withheld (non-streamed: a 400 instead; streamed: the stream ends with a
    /// `finish_reason: content_filter` chunk and `data: [DONE]`).
    Block,
    /// Replace the finding with `[REDACTED:<kind>]` and forward the rest.
    Redact,
    /// Forward unchanged; record the finding (an event for the pipeline).
    Flag,
    /// Forward unchanged and record nothing.
    Allow,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Redact => "redact",
            Action::Flag => "flag",
            Action::Allow => "allow",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        match s {
            "block" => Ok(Action::Block),
            "redact" => Ok(Action::Redact),
            "flag" => Ok(Action::Flag),
            "allow" => Ok(Action::Allow),
            _ => Err(format!(
                "{s:?} is not an action (block, redact, flag, allow)"
            )),
        }
    }
}

/// Which way the text was going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

/// The proxy's policy: one action per kind of finding and direction. The defaults follow what
/// LLM gateways converged on: injections are refused before they cost a model call, secrets in
/// prompts are redacted (the user still gets an answer; the provider never sees the key),
/// personal data is recorded, and a canary in an answer means the system prompt is leaking, so
/// the answer is cut.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Prompt injection or jailbreak in user and tool messages (`block`, `flag` or `allow`).
    pub injection: Action,
    /// Secrets (cloud keys, tokens, private keys, passwords) in a request.
    pub request_secret: Action,
    /// Personal data (e-mail, phone, cards, IBAN, national ids) in a request.
    pub request_pii: Action,
    /// Secrets in an answer.
    pub response_secret: Action,
    /// Personal data in an answer.
    pub response_pii: Action,
    /// A canary token (see `--canary`) in an answer: the system prompt leaked.
    pub canary: Action,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            injection: Action::Block,
            request_secret: Action::Redact,
            request_pii: Action::Flag,
            response_secret: Action::Redact,
            response_pii: Action::Flag,
            canary: Action::Block,
        }
    }
}

/// The policy keys, for `--policy KEY=ACTION` and error messages.
pub const KEYS: [&str; 6] = [
    "injection",
    "request_secret",
    "request_pii",
    "response_secret",
    "response_pii",
    "canary",
];

impl Policy {
    /// The action for a DLP finding going `dir`. A canary in a request is only recorded: the
    /// application puts it in its own system prompt, and one pasted by a user is worth an
    /// event, not a refusal.
    pub fn for_finding(&self, dir: Direction, f: &Finding) -> Action {
        match (dir, f.category) {
            (Direction::Request, Category::Secret) => self.request_secret,
            (Direction::Request, Category::Pii) => self.request_pii,
            (Direction::Request, Category::Canary) => Action::Flag,
            (Direction::Response, Category::Secret) => self.response_secret,
            (Direction::Response, Category::Pii) => self.response_pii,
            (Direction::Response, Category::Canary) => self.canary,
        }
    }

    /// Sets one key (`--policy KEY=ACTION`).
    pub fn set(&mut self, key: &str, action: Action) -> Result<(), String> {
        let slot = match key {
            "injection" => &mut self.injection,
            "request_secret" => &mut self.request_secret,
            "request_pii" => &mut self.request_pii,
            "response_secret" => &mut self.response_secret,
            "response_pii" => &mut self.response_pii,
            "canary" => &mut self.canary,
            _ => {
                return Err(format!(
                    "unknown policy key {key:?} (known: {})",
                    KEYS.join(", ")
                ));
            }
        };
        *slot = action;
        self.validate()
    }

    /// An injection cannot be redacted (there is no span to cut out of a prompt).
    pub fn validate(&self) -> Result<(), String> {
        if self.injection == Action::Redact {
            return Err(
                "policy.injection: an injection cannot be redacted; use block, flag or allow"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Parses `KEY=ACTION`.
pub fn parse_setting(s: &str) -> Result<(String, Action), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected KEY=ACTION, e.g. request_pii=redact"))?;
    let k = k.trim();
    if !KEYS.contains(&k) {
        return Err(format!(
            "unknown policy key {k:?} (known: {})",
            KEYS.join(", ")
        ));
    }
    Ok((k.to_string(), v.trim().parse()?))
}
