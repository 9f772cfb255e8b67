//! PAM messages, in both spellings: the module in the tag (`sshd(pam_unix)[12]: …`, older
//! systems) or in the message (`sshd[12]: pam_unix(sshd:auth): …`).
//!
//! For `su`/`sudo`-like services the PAM `user=` is the account being switched to, so it
//! becomes `user.effective.name` and the invoking `ruser`/`logname` becomes `user.name`;
//! for login services (`sshd`, `login`, `gdm`, …) `user=` is the user logging in.

use super::{AuthEvent, Outcome, non_empty};

/// `pam_unix(sshd:auth): rest` → (`sshd`, `rest`).
pub(super) fn split_prefix(msg: &str) -> Option<(&str, &str)> {
    if !msg.starts_with("pam_") {
        return None;
    }
    let (head, rest) = msg.split_once("): ")?;
    let (_module, inside) = head.split_once('(')?;
    let service = inside.split(':').next().unwrap_or(inside);
    Some((service, rest))
}

fn switches_user(service: &str) -> bool {
    matches!(
        service,
        "su" | "su-l" | "sudo" | "sudo-i" | "runuser" | "runuser-l" | "pkexec" | "doas"
    )
}

pub(super) fn classify<'a>(service: &str, msg: &'a str) -> Option<AuthEvent<'a>> {
    let switch = switches_user(service);
    if let Some(kv) = msg.strip_prefix("authentication failure; ") {
        return Some(failure(kv, switch));
    }
    if let Some(rest) = msg.strip_prefix("check pass; ") {
        let mut e = AuthEvent::new("authentication", &["info"], "unknown_user")
            .outcome(Outcome::Failure)
            .reason(rest);
        if rest != "user unknown" {
            e.action = "authentication_failure";
        }
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("session opened for user ") {
        return Some(session_opened(rest, switch));
    }
    if let Some(rest) = msg.strip_prefix("session closed for user ") {
        let (user, _) = name_uid(rest.trim());
        let mut e = AuthEvent::new("session", &["end"], "session_closed").outcome(Outcome::Success);
        if switch {
            e.effective_user = user;
        } else {
            e.user = user;
        }
        return Some(e);
    }
    if let Some(user) = msg.strip_prefix("password changed for ") {
        let mut e = AuthEvent::new("iam", &["user", "change"], "password_changed")
            .outcome(Outcome::Success);
        e.target_user = non_empty(user.trim());
        return Some(e);
    }
    other(msg, switch)
}

/// The less common shapes.
fn other(msg: &str, switch: bool) -> Option<AuthEvent<'_>> {
    if let Some((count, kv)) = more_failures(msg) {
        let mut e = failure(kv, switch);
        e.repeat = Some(count);
        return Some(e);
    }
    let bracketed = |prefix: &str| {
        let rest = msg.strip_prefix(prefix)?;
        rest.strip_prefix('[')?.strip_suffix(']')
    };
    if let Some(user) =
        bracketed("auth could not identify password for ").or_else(|| bracketed("bad username "))
    {
        return Some(
            AuthEvent::new("authentication", &["start"], "authentication_failure")
                .outcome(Outcome::Failure)
                .user(user)
                .reason(msg.split(" [").next().unwrap_or(msg)),
        );
    }
    if let Some(rest) = msg.strip_prefix("account ") {
        let (user, why) = rest.split_once(" has expired")?;
        return Some(
            AuthEvent::new("authentication", &["start"], "account_expired")
                .outcome(Outcome::Failure)
                .user(user)
                .reason(why.trim().trim_matches(|c| c == '(' || c == ')')),
        );
    }
    None
}

/// `N more authentication failure[s]; kv…` → (`N`, `kv…`).
fn more_failures(msg: &str) -> Option<(&str, &str)> {
    let (count, rest) = msg.split_once(" more authentication failure")?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kv = rest.split_once("; ").map_or("", |(_, kv)| kv);
    Some((count, kv))
}

/// sshd's own PAM summaries after `PAM `: `2 more authentication failures; …` and
/// `service(sshd) ignoring max retries; 6 > 3`.
pub(super) fn sshd_summary(rest: &str) -> Option<AuthEvent<'_>> {
    if let Some((count, kv)) = more_failures(rest) {
        let mut e = failure(kv, false);
        e.repeat = Some(count);
        return Some(e);
    }
    let (_, detail) = rest.split_once(" ignoring max retries; ")?;
    Some(AuthEvent::new("authentication", &["info"], "max_retries_exceeded").reason(detail))
}

/// The `key=value` list PAM appends to failures.
#[derive(Default)]
struct PamFields<'a> {
    logname: Option<&'a str>,
    uid: Option<&'a str>,
    tty: Option<&'a str>,
    ruser: Option<&'a str>,
    rhost: Option<&'a str>,
    user: Option<&'a str>,
}

impl<'a> PamFields<'a> {
    fn parse(kv: &'a str) -> Self {
        let mut f = PamFields::default();
        for (key, value) in kv
            .split_ascii_whitespace()
            .filter_map(|t| t.split_once('='))
        {
            let value = non_empty(value);
            match key {
                "logname" => f.logname = value,
                "uid" => f.uid = value,
                "tty" => f.tty = value,
                "ruser" => f.ruser = value,
                "rhost" => f.rhost = value,
                "user" => f.user = value,
                _ => {}
            }
        }
        f
    }
}

fn failure(kv: &str, switch: bool) -> AuthEvent<'_> {
    let f = PamFields::parse(kv);
    let mut e = AuthEvent::new("authentication", &["start"], "authentication_failure")
        .outcome(Outcome::Failure)
        .source(f.rhost.unwrap_or(""), None);
    e.tty = f.tty;
    if switch {
        e.user = f.ruser.or(f.logname);
        e.user_id = f.uid;
        e.effective_user = f.user;
    } else {
        e.user = f.user;
    }
    e
}

/// `X[(uid=N)] by NAME(uid=N)`.
fn session_opened(rest: &str, switch: bool) -> AuthEvent<'_> {
    let (target, by) = rest.split_once(" by ").unwrap_or((rest, ""));
    let (target, target_uid) = name_uid(target.trim());
    let (by_name, by_uid) = name_uid(by.trim());
    let mut e = AuthEvent::new("session", &["start"], "session_opened").outcome(Outcome::Success);
    if switch {
        e.user = by_name;
        e.user_id = by_uid;
        e.effective_user = target;
    } else {
        e.user = target;
        e.user_id = target_uid;
    }
    e
}

/// `alice(uid=1000)` → (`alice`, `1000`); `(uid=0)` → (none, `0`); `alice` → (`alice`, none).
fn name_uid(s: &str) -> (Option<&str>, Option<&str>) {
    match s.split_once("(uid=") {
        Some((name, rest)) => (non_empty(name), non_empty(rest.trim_end_matches(')'))),
        None => (non_empty(s), None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::classify as classify_any;
    use super::*;

    fn typed<'a>(service: &str, msg: &'a str) -> AuthEvent<'a> {
        classify(service, msg).unwrap_or_else(|| panic!("untyped: {msg}"))
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            split_prefix("pam_unix(sshd:auth): check pass; user unknown"),
            Some(("sshd", "check pass; user unknown"))
        );
        assert_eq!(split_prefix("pam_unix oops"), None);
        let e = classify_any(
            "sshd",
            false,
            "pam_unix(sshd:session): session closed for user x",
        )
        .unwrap();
        assert_eq!((e.action, e.user), ("session_closed", Some("x")));
    }

    #[test]
    fn failures() {
        let e = typed(
            "sshd",
            "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
        );
        assert_eq!(
            (e.action, e.outcome, e.user, e.source, e.user_id),
            (
                "authentication_failure",
                Some(Outcome::Failure),
                Some("root"),
                Some("1.2.3.4"),
                None
            )
        );
        let e = typed(
            "sshd",
            "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net ",
        );
        assert_eq!(
            (e.user, e.source),
            (None, Some("220-135-151-1.hinet-ip.hinet.net"))
        );
        let e = typed(
            "sudo",
            "authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
        );
        assert_eq!(
            (e.user, e.user_id, e.effective_user, e.source),
            (Some("alice"), Some("1000"), Some("alice"), None)
        );
        let e = typed("sshd", "check pass; user unknown");
        assert_eq!((e.action, e.reason), ("unknown_user", Some("user unknown")));
        let e = typed(
            "sshd",
            "2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
        );
        assert_eq!((e.repeat, e.user), (Some("2"), Some("root")));
        let e = sshd_summary(
            "1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.6.7.8",
        )
        .unwrap();
        assert_eq!((e.repeat, e.source), (Some("1"), Some("5.6.7.8")));
        let e = sshd_summary("service(sshd) ignoring max retries; 6 > 3").unwrap();
        assert_eq!(
            (e.action, e.reason),
            ("max_retries_exceeded", Some("6 > 3"))
        );
        let e = typed("sshd", "auth could not identify password for [bob]");
        assert_eq!(e.user, Some("bob"));
        let e = typed("sshd", "account bob has expired (account expired)");
        assert_eq!(
            (e.action, e.user, e.reason),
            ("account_expired", Some("bob"), Some("account expired"))
        );
    }

    #[test]
    fn sessions() {
        let e = typed("sshd", "session opened for user fztu by (uid=0)");
        assert_eq!(
            (e.category, e.user, e.user_id),
            ("session", Some("fztu"), None)
        );
        let e = typed("su", "session opened for user news by (uid=0)");
        assert_eq!(
            (e.user, e.user_id, e.effective_user),
            (None, Some("0"), Some("news"))
        );
        let e = typed(
            "sudo",
            "session opened for user root(uid=0) by alice(uid=1000)",
        );
        assert_eq!(
            (e.user, e.user_id, e.effective_user),
            (Some("alice"), Some("1000"), Some("root"))
        );
        let e = typed("login", "session opened for user root by LOGIN(uid=0)");
        assert_eq!(e.user, Some("root"));
        let e = typed("su", "session closed for user cyrus");
        assert_eq!(
            (e.action, e.effective_user),
            ("session_closed", Some("cyrus"))
        );
        let e = typed("passwd", "password changed for bob");
        assert_eq!(
            (e.category, e.action, e.target_user),
            ("iam", "password_changed", Some("bob"))
        );
        assert!(classify("sshd", "conversation failed").is_none());
    }
}
