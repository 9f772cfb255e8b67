//! Streamed answers: text scanned as it arrives, in whatever pieces the model sends.
//!
//! [`StreamRedactor`] holds back the last `hold` bytes of a choice's text (anything there could
//! be the start of a secret or canary that the next piece completes) and releases what lies
//! before, scanned and redacted. A finding that reaches into the held-back part keeps all of
//! itself held; an opened `-----BEGIN … PRIVATE KEY` block is held until its end marker (up to
//! `max_hold` bytes). Each scan also sees up to [`LEFT_CONTEXT`] bytes of already released
//! text, so a pattern that needs what came before (a word boundary, `password =`) still
//! matches. For secrets no longer than `hold`, the result is what scanning the whole answer at
//! once gives, however it was cut into pieces (property-tested below).
//!
//! [`SseGuard`] applies that to an OpenAI-style event stream: per choice, `delta.content`
//! (chat) or `text` (completions) is replaced by the released text; every other event and
//! field passes through untouched (its raw bytes when nothing in it changed). At `[DONE]`, a
//! `finish_reason`, or the end of the stream, held text is released. A block ends the stream
//! with one chunk whose `finish_reason` is `content_filter` (and a `palisade_guard` object
//! saying why), then `data: [DONE]`; nothing the upstream sends afterwards is forwarded.

use std::collections::BTreeMap;
use std::sync::Arc;

use palisade_guard::dlp::{Finding, Scanner, redact_with};
use serde_json::Value;

use super::policy::{Action, Direction, Policy};
use super::sse::{SseEvent, SseParser, TooLong};

/// Bytes of released text each scan sees before the held-back part.
pub const LEFT_CONTEXT: usize = 256;

/// What one step released.
#[derive(Debug, Default)]
pub struct Released {
    /// The text to forward (redacted as the policy says).
    pub text: String,
    /// Findings in the released text, with what the policy said about each.
    pub findings: Vec<(Finding, Action)>,
    /// The finding that blocks the stream; `text` is then empty.
    pub blocked: Option<Finding>,
}

/// The hold-back buffer of one stream of text.
#[derive(Debug)]
pub struct StreamRedactor {
    scanner: Arc<Scanner>,
    hold: usize,
    max_hold: usize,
    /// The last released bytes (as they were before redaction).
    context: String,
    pending: String,
}

impl StreamRedactor {
    pub fn new(scanner: Arc<Scanner>, hold: usize, max_hold: usize) -> StreamRedactor {
        StreamRedactor {
            scanner,
            hold,
            max_hold: max_hold.max(hold),
            context: String::new(),
            pending: String::new(),
        }
    }

    /// Takes the next piece; releases what can no longer be part of a finding that later text
    /// completes.
    pub fn push(&mut self, piece: &str, decide: &dyn Fn(&Finding) -> Action) -> Released {
        self.pending.push_str(piece);
        self.release(false, decide)
    }

    /// The text ended: releases everything held.
    pub fn finish(&mut self, decide: &dyn Fn(&Finding) -> Action) -> Released {
        self.release(true, decide)
    }

    /// Bytes held back now.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    fn release(&mut self, all: bool, decide: &dyn Fn(&Finding) -> Action) -> Released {
        if self.pending.is_empty() {
            return Released::default();
        }
        let ctx = self.context.len();
        let mut text = std::mem::take(&mut self.context);
        text.push_str(&self.pending);
        let findings: Vec<Finding> = self
            .scanner
            .scan(&text)
            .into_iter()
            .filter(|f| f.start >= ctx)
            .collect();
        let len = text.len();
        let mut cut = len;
        if !all && len - ctx <= self.max_hold {
            cut = floor_boundary(&text, len.saturating_sub(self.hold).max(ctx));
            if let Some(b) = open_private_key(&text[ctx..]) {
                cut = cut.min(ctx + b);
            }
            for f in &findings {
                if f.start < cut && f.end > cut {
                    cut = f.start;
                    break;
                }
            }
        } else if !all {
            // Held too long (a finding that never ends): release up to the hold.
            cut = floor_boundary(&text, len - self.hold);
        }
        if cut <= ctx {
            self.context = text[..ctx].to_string();
            return Released::default();
        }
        let mut out = Released::default();
        let mut redact = Vec::new();
        for f in findings.into_iter().filter(|f| f.end <= cut) {
            let action = decide(&f);
            match action {
                Action::Block if out.blocked.is_none() => out.blocked = Some(f.clone()),
                Action::Redact => {
                    let mut g = f.clone();
                    g.start -= ctx;
                    g.end -= ctx;
                    redact.push(g);
                }
                _ => {}
            }
            out.findings.push((f, action));
        }
        if out.blocked.is_none() {
            out.text = redact_with(&text[ctx..cut], &redact);
        }
        self.pending = text[cut..].to_string();
        let keep_from = floor_boundary(&text, cut.saturating_sub(LEFT_CONTEXT));
        text.truncate(cut);
        self.context = text.split_off(keep_from);
        out
    }
}

/// The largest char boundary at or before `i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Where a private-key block opens without its end marker yet.
fn open_private_key(s: &str) -> Option<usize> {
    let begin = s.rfind("-----BEGIN ")?;
    let after = &s[begin..];
    let head_end = after.len().min(64);
    let head = &after[..floor_boundary(after, head_end)];
    // Only key blocks (or a marker still too short to tell) are worth holding.
    let could_be_key = head.contains("PRIVATE") || !head[11..].contains("-----");
    // Closed once an end marker is complete (`-----END … PRIVATE KEY-----`).
    let closed = after
        .find("-----END ")
        .is_some_and(|e| after[e + 9..].contains("-----"));
    (could_be_key && !closed).then_some(begin)
}

/// Which field carries the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextField {
    /// `choices[].delta.content` (`/v1/chat/completions`).
    ChatDelta,
    /// `choices[].text` (`/v1/completions`).
    CompletionText,
}

/// Most choices tracked per stream (`n` of a request); an event naming one more cuts the stream
/// (a hostile upstream cannot grow memory).
pub const MAX_CHOICES: usize = 128;

/// The guard over one event stream.
pub struct SseGuard {
    parser: SseParser,
    field: TextField,
    scanner: Arc<Scanner>,
    policy: Policy,
    hold: usize,
    max_hold: usize,
    choices: BTreeMap<u64, StreamRedactor>,
    /// `id`, `object`, `created`, `model`, … of the last chunk, for the chunks the guard writes.
    template: serde_json::Map<String, Value>,
    /// After a block nothing more is forwarded.
    ended: bool,
    /// Findings not yet taken by [`SseGuard::take_findings`].
    findings: Vec<(Finding, Action)>,
}

/// Why a stream was cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub code: &'static str,
    pub message: String,
}

impl SseGuard {
    pub fn new(
        field: TextField,
        scanner: Arc<Scanner>,
        policy: Policy,
        hold: usize,
        max_hold: usize,
        max_event: usize,
    ) -> SseGuard {
        SseGuard {
            parser: SseParser::new(max_event),
            field,
            scanner,
            policy,
            hold,
            max_hold,
            choices: BTreeMap::new(),
            template: serde_json::Map::new(),
            ended: false,
            findings: Vec::new(),
        }
    }

    /// True once the guard cut the stream (the upstream need not be read further).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Findings since the last call.
    pub fn take_findings(&mut self) -> Vec<(Finding, Action)> {
        std::mem::take(&mut self.findings)
    }

    /// The bytes to forward for the next piece of the upstream's stream.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        let mut events = Vec::new();
        let r = self.parser.push(piece, &mut events);
        for ev in events {
            self.on_event(ev, &mut out);
            if self.ended {
                return out;
            }
        }
        if let Err(TooLong(n)) = r {
            self.cut(
                Cut {
                    code: "stream_event_too_large",
                    message: format!("an event of the upstream stream is longer than {n} bytes"),
                },
                0,
                &mut out,
            );
        }
        out
    }

    /// The upstream's stream ended: held text and any unfinished event.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        let rest = self.parser.finish();
        self.flush(&mut out);
        if !self.ended {
            out.extend_from_slice(&rest);
        }
        out
    }

    fn decide(&self) -> impl Fn(&Finding) -> Action + use<> {
        let policy = self.policy;
        move |f| policy.for_finding(Direction::Response, f)
    }

    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<u8>) {
        let Some(data) = ev.data.as_deref() else {
            out.extend_from_slice(&ev.raw);
            return;
        };
        if data.trim() == "[DONE]" {
            self.flush(out);
            if !self.ended {
                out.extend_from_slice(&ev.raw);
            }
            return;
        }
        let Ok(Value::Object(mut doc)) = serde_json::from_str::<Value>(data) else {
            out.extend_from_slice(&ev.raw);
            return;
        };
        let Some(Value::Array(choices)) = doc.get_mut("choices") else {
            out.extend_from_slice(&ev.raw);
            return;
        };
        let decide = self.decide();
        let mut changed = false;
        let mut blocked: Option<(Finding, u64)> = None;
        for (pos, c) in choices.iter_mut().enumerate() {
            let Value::Object(c) = c else { continue };
            let idx = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
            if !self.choices.contains_key(&idx) && self.choices.len() >= MAX_CHOICES {
                self.cut(
                    Cut {
                        code: "too_many_choices",
                        message: format!("the upstream streamed more than {MAX_CHOICES} choices"),
                    },
                    idx,
                    out,
                );
                return;
            }
            let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
            let slot = text_slot(c, self.field);
            let piece = match slot.as_ref() {
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            let had_text = matches!(slot, Some(Value::String(_)));
            if !had_text && !finished {
                continue;
            }
            let (hold, max_hold) = (self.hold, self.max_hold);
            let scanner = Arc::clone(&self.scanner);
            let r = self
                .choices
                .entry(idx)
                .or_insert_with(|| StreamRedactor::new(scanner, hold, max_hold));
            let mut rel = r.push(&piece, &decide);
            if finished && rel.blocked.is_none() {
                let more = r.finish(&decide);
                rel.text.push_str(&more.text);
                rel.findings.extend(more.findings);
                rel.blocked = more.blocked;
            }
            self.findings.extend(rel.findings);
            if let Some(f) = rel.blocked {
                blocked = Some((f, idx));
                break;
            }
            if had_text {
                if piece != rel.text {
                    set_text(c, self.field, rel.text);
                    // The tokens of the original text would undo the hold and the redaction.
                    if c.get("logprobs").is_some_and(|l| !l.is_null()) {
                        c.insert("logprobs".into(), Value::Null);
                    }
                    changed = true;
                }
            } else if !rel.text.is_empty() {
                set_text(c, self.field, rel.text);
                changed = true;
            }
        }
        remember(&mut self.template, &doc);
        if let Some((f, idx)) = blocked {
            self.cut(block_reason(&f), idx, out);
            return;
        }
        if changed {
            rewrite_event(&ev.raw, &Value::Object(doc), out);
        } else {
            out.extend_from_slice(&ev.raw);
        }
    }

    /// Releases every choice's held text (one chunk the guard writes), or cuts.
    fn flush(&mut self, out: &mut Vec<u8>) {
        let decide = self.decide();
        let mut choices = Vec::new();
        let mut blocked = None;
        for (&idx, r) in self.choices.iter_mut() {
            if r.held() == 0 {
                continue;
            }
            let rel = r.finish(&decide);
            self.findings.extend(rel.findings);
            if let Some(f) = rel.blocked {
                blocked = Some((f, idx));
                break;
            }
            if !rel.text.is_empty() {
                let mut c = serde_json::Map::new();
                c.insert("index".into(), idx.into());
                set_text(&mut c, self.field, rel.text);
                c.insert("finish_reason".into(), Value::Null);
                choices.push(Value::Object(c));
            }
        }
        if let Some((f, idx)) = blocked {
            self.cut(block_reason(&f), idx, out);
            return;
        }
        if !choices.is_empty() {
            let mut doc = self.template.clone();
            doc.insert("choices".into(), Value::Array(choices));
            write_event(&Value::Object(doc), out);
        }
    }

    /// Ends the stream: a `content_filter` chunk saying why, then `[DONE]`.
    fn cut(&mut self, why: Cut, idx: u64, out: &mut Vec<u8>) {
        let mut c = serde_json::Map::new();
        c.insert("index".into(), idx.into());
        set_text(&mut c, self.field, String::new());
        c.insert("finish_reason".into(), "content_filter".into());
        let mut doc = self.template.clone();
        doc.insert("choices".into(), Value::Array(vec![Value::Object(c)]));
        doc.insert(
            "palisade_guard".into(),
            serde_json::json!({"action": "block", "code": why.code, "message": why.message}),
        );
        write_event(&Value::Object(doc), out);
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.ended = true;
    }
}

/// The code and message of a block for a finding in an answer.
pub fn block_reason(f: &Finding) -> Cut {
    use palisade_guard::dlp::Category;
    let (code, what) = match f.category {
        Category::Canary => (
            "canary_in_response",
            "the answer contains a canary token: the system prompt is leaking",
        ),
        Category::Secret => ("secret_in_response", "the answer contains a secret"),
        Category::Pii => ("pii_in_response", "the answer contains personal data"),
    };
    Cut {
        code,
        message: format!("blocked by Palisade guard: {what} ({})", f.kind),
    }
}

/// The text field of a choice, if present.
fn text_slot(c: &mut serde_json::Map<String, Value>, field: TextField) -> Option<&mut Value> {
    match field {
        TextField::ChatDelta => c.get_mut("delta")?.get_mut("content"),
        TextField::CompletionText => c.get_mut("text"),
    }
}

fn set_text(c: &mut serde_json::Map<String, Value>, field: TextField, text: String) {
    match field {
        TextField::ChatDelta => {
            let delta = c
                .entry("delta")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Value::Object(d) = delta {
                d.insert("content".into(), Value::String(text));
            }
        }
        TextField::CompletionText => {
            c.insert("text".into(), Value::String(text));
        }
    }
}

/// Keeps the chunk's identifying fields for chunks the guard writes itself.
fn remember(template: &mut serde_json::Map<String, Value>, doc: &serde_json::Map<String, Value>) {
    for key in ["id", "object", "created", "model", "system_fingerprint"] {
        if let Some(v) = doc.get(key) {
            template.insert(key.into(), v.clone());
        }
    }
}

fn write_event(doc: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(doc.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// The event with its `data` lines replaced by one line of `doc`; its other lines (`event:`,
/// `id:`, comments) kept in place.
fn rewrite_event(raw: &[u8], doc: &Value, out: &mut Vec<u8>) {
    let mut wrote = false;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let is_data = line == b"data" || line.starts_with(b"data:");
        if is_data {
            if !wrote {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(doc.to_string().as_bytes());
                out.push(b'\n');
                wrote = true;
            }
        } else {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
    const CANARY: &str = "pal-canary-0123456789abcdef";

    fn scanner() -> Arc<Scanner> {
        Arc::new(Scanner::new().with_canaries([CANARY.to_string()]))
    }

    fn redact_all(_: &Finding) -> Action {
        Action::Redact
    }

    fn stream_text(pieces: &[&str], hold: usize) -> String {
        let mut r = StreamRedactor::new(scanner(), hold, 16 << 10);
        let mut out = String::new();
        for p in pieces {
            out.push_str(&r.push(p, &redact_all).text);
        }
        out.push_str(&r.finish(&redact_all).text);
        out
    }

    #[test]
    fn a_key_split_across_pieces_is_redacted() {
        let text = format!("here is the key {AWS} keep it safe");
        let (a, b) = text.split_at(24);
        assert_eq!(
            stream_text(&[a, b], 64),
            "here is the key [REDACTED:aws_access_key_id] keep it safe"
        );
    }

    #[test]
    fn text_well_before_the_hold_is_released_at_once() {
        let mut r = StreamRedactor::new(scanner(), 16, 1024);
        let rel = r.push(
            "a long enough sentence with nothing secret in it",
            &redact_all,
        );
        assert!(!rel.text.is_empty());
        assert!(r.held() <= 16);
    }

    #[test]
    fn an_open_private_key_is_held_until_it_ends() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----";
        let pieces: Vec<String> = key
            .as_bytes()
            .chunks(7)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let mut all = vec!["key: "];
        all.extend(pieces.iter().map(String::as_str));
        all.push(" done");
        assert_eq!(stream_text(&all, 32), "key: [REDACTED:private_key] done");
    }

    #[test]
    fn a_block_releases_nothing_of_its_text() {
        let mut r = StreamRedactor::new(scanner(), 32, 1024);
        let block = |f: &Finding| {
            if f.kind == "canary" {
                Action::Block
            } else {
                Action::Redact
            }
        };
        let mut out = String::new();
        let mut blocked = None;
        for p in [
            "my instructions: pal-can",
            "ary-0123456789abcdef and more text follows here",
        ] {
            let rel = r.push(p, &block);
            out.push_str(&rel.text);
            blocked = blocked.or(rel.blocked);
        }
        let rel = r.finish(&block);
        blocked = blocked.or(rel.blocked);
        assert_eq!(blocked.unwrap().kind, "canary");
        assert!(!out.contains("pal-can"), "{out}");
    }

    fn chunk(content: &str) -> String {
        let doc = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
        format!("data: {doc}\n\n")
    }

    fn guard_stream(input: &[u8], cuts: &[usize], policy: Policy) -> Vec<u8> {
        let mut g = SseGuard::new(TextField::ChatDelta, scanner(), policy, 64, 4096, 1 << 20);
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cuts {
            out.extend(g.push(&input[at..c]));
            at = c;
        }
        out.extend(g.push(&input[at..]));
        out.extend(g.finish());
        out
    }

    /// The text a client assembles from a guarded stream.
    fn assembled(out: &[u8]) -> (String, Vec<Value>) {
        let mut p = SseParser::new(1 << 20);
        let mut ev = Vec::new();
        p.push(out, &mut ev).unwrap();
        let mut text = String::new();
        let mut docs = Vec::new();
        for e in ev {
            let Some(d) = e.data else { continue };
            if d == "[DONE]" {
                docs.push(Value::String(d));
                continue;
            }
            let v: Value = serde_json::from_str(&d).unwrap();
            for c in v["choices"].as_array().unwrap() {
                text.push_str(c["delta"]["content"].as_str().unwrap_or(""));
            }
            docs.push(v);
        }
        (text, docs)
    }

    #[test]
    fn a_canary_split_across_events_cuts_the_stream_with_done() {
        let mut input = String::new();
        for piece in [
            "Sure. My secret instructions are: pal-canary-0123",
            "456789abcdef and then",
            " more",
        ] {
            input.push_str(&chunk(piece));
        }
        input.push_str("data: [DONE]\n\n");
        let out = guard_stream(input.as_bytes(), &[], Policy::default());
        let (text, docs) = assembled(&out);
        assert!(!text.contains("pal-canary"), "{text}");
        let cut = &docs[docs.len() - 2];
        assert_eq!(
            cut["choices"][0]["finish_reason"], "content_filter",
            "{cut}"
        );
        assert_eq!(cut["palisade_guard"]["code"], "canary_in_response");
        assert_eq!(docs.last().unwrap(), &Value::String("[DONE]".into()));
        assert_eq!(
            docs.iter().filter(|d| d.as_str() == Some("[DONE]")).count(),
            1
        );
    }

    #[test]
    fn completion_streams_are_judged_in_their_text_field() {
        let ev = |t: &str, fin: Value| {
            let doc = serde_json::json!({"id": "cmpl-1", "object": "text_completion",
                "choices": [{"index": 0, "text": t, "logprobs": null, "finish_reason": fin}]});
            format!("data: {doc}\n\n")
        };
        let input = format!(
            "{}{}{}data: [DONE]\n\n",
            ev("key AKIAIOSFOD", Value::Null),
            ev("NN7EXAMPLE ok", Value::Null),
            ev("", "stop".into())
        );
        let mut g = SseGuard::new(
            TextField::CompletionText,
            scanner(),
            Policy::default(),
            64,
            4096,
            1 << 20,
        );
        let mut out = g.push(input.as_bytes());
        out.extend(g.finish());
        let mut p = SseParser::new(1 << 20);
        let mut evs = Vec::new();
        p.push(&out, &mut evs).unwrap();
        let text: String = evs
            .iter()
            .filter_map(|e| e.data.as_deref())
            .filter(|d| *d != "[DONE]")
            .map(|d| {
                serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(text, "key [REDACTED:aws_access_key_id] ok");
        assert!(out.ends_with(b"data: [DONE]\n\n"));
        assert_eq!(g.take_findings()[0].0.kind, "aws_access_key_id");
    }

    #[test]
    fn logprobs_of_rewritten_chunks_are_dropped() {
        let ev = |t: &str| {
            let doc = serde_json::json!({"id": "c", "choices": [{"index": 0, "delta": {"content": t},
                "logprobs": {"content": [{"token": t, "logprob": -0.1}]}, "finish_reason": null}]});
            format!("data: {doc}\n\n")
        };
        let input = format!("{}{}data: [DONE]\n\n", ev("k AKIAIOSFOD"), ev("NN7EXAMPLE"));
        let out = guard_stream(input.as_bytes(), &[], Policy::default());
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("ODNN7") && !text.contains("AKIAIOSFOD"),
            "{text}"
        );
        assert!(text.contains("[REDACTED:aws_access_key_id]"), "{text}");
    }

    #[test]
    fn events_without_content_pass_byte_for_byte() {
        let input = b": ping\n\nevent: meta\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\ndata: not json\n\n";
        let out = guard_stream(input, &[5, 30], Policy::default());
        assert_eq!(out, input);
    }

    proptest! {
        /// Any cut of a text into pieces gives the text a whole-answer scan gives.
        #[test]
        fn any_split_of_the_text_redacts_like_one_piece(
            words in proptest::collection::vec(prop_oneof![
                Just("hello "), Just("the answer is "), Just(AWS), Just(CANARY),
                Just("jane.doe@example.com"), Just(" "), Just("\n"), Just("é"), Just("日本"),
                Just("password = \"Tr0ub4dor&3x!\""), Just("AKIA"), Just("pal-"), Just(", "),
            ], 0..30),
            cuts in proptest::collection::vec(0usize..2000, 0..10),
            hold in 40usize..200,
        ) {
            let text = words.concat();
            let want = Scanner::new().with_canaries([CANARY.to_string()]).redact(&text).0;
            let mut cuts: Vec<usize> = cuts.into_iter()
                .map(|c| floor_boundary(&text, c % (text.len() + 1)))
                .collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&text[at..c]);
                at = c;
            }
            pieces.push(&text[at..]);
            prop_assert_eq!(stream_text(&pieces, hold), want);
        }

        /// However the network cuts the event stream, the client assembles the same text, and
        /// no key is ever in it.
        #[test]
        fn any_split_of_the_byte_stream_gives_the_same_output(
            contents in proptest::collection::vec(prop_oneof![
                Just("Hi "), Just("AKIAIOSF"), Just("ODNN7EXAMPLE"), Just(" and "),
                Just("jane.doe@exam"), Just("ple.com"), Just("é"),
            ], 1..20),
            cuts in proptest::collection::vec(0usize..4000, 0..8),
        ) {
            let mut input = String::new();
            for c in &contents {
                input.push_str(&chunk(c));
            }
            input.push_str("data: [DONE]\n\n");
            let bytes = input.as_bytes();
            let whole = guard_stream(bytes, &[], Policy::default());
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let split = guard_stream(bytes, &cuts, Policy::default());
            prop_assert_eq!(&split, &whole);
            let (text, _) = assembled(&whole);
            // The default policy redacts secrets and only records personal data.
            let plain = contents.concat();
            let secrets: Vec<Finding> = Scanner::new().scan(&plain).into_iter()
                .filter(|f| f.category == palisade_guard::dlp::Category::Secret)
                .collect();
            prop_assert_eq!(text, redact_with(&plain, &secrets));
        }
    }
}
