//! Privilege changes: `sudo` command lines and `su` attempts (shadow-utils, util-linux and
//! BSD spellings).

use super::{AuthEvent, Outcome, non_empty};

/// `alice : [reason ; ]TTY=pts/0 ; PWD=/x ; USER=root ; COMMAND=/bin/ls -l`.
pub(super) fn sudo(msg: &str) -> Option<AuthEvent<'_>> {
    let (user, rest) = msg.trim_start().split_once(" : ")?;
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    // The command is last and may itself contain ` ; `.
    let (fields, command) = match rest.find("COMMAND=") {
        Some(i) => (&rest[..i], Some(&rest[i + "COMMAND=".len()..])),
        None => (rest, None),
    };
    let mut e = AuthEvent::new("process", &["start"], "sudo_command").user(user);
    e.command_line = command.map(str::trim).and_then(non_empty);
    let mut reason = None;
    for part in fields.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("TTY", v)) => e.tty = non_empty(v),
            Some(("PWD", v)) => e.working_directory = non_empty(v),
            Some(("USER", v)) => e.effective_user = non_empty(v),
            Some(("GROUP", v)) => e.group = non_empty(v),
            Some(_) => {}
            None => reason = reason.or(Some(part)),
        }
    }
    if e.command_line.is_none() && e.effective_user.is_none() {
        return None;
    }
    match reason {
        None => e.outcome = Some(Outcome::Success),
        Some(r) => {
            e = e.outcome(Outcome::Failure).reason(r);
            if r.contains("password") {
                e.category = "authentication";
            } else {
                e.types = &["denied"];
            }
        }
    }
    Some(e)
}

/// The many ways `su` reports an attempt; all become action `su`.
pub(super) fn su(msg: &str) -> Option<AuthEvent<'_>> {
    if let Some(rest) = msg.strip_prefix("Successful su for ") {
        return for_by(rest, Outcome::Success);
    }
    if let Some(rest) = msg.strip_prefix("FAILED su for ") {
        return for_by(rest, Outcome::Failure);
    }
    if let Some(rest) = msg.strip_prefix("FAILED SU ") {
        return to_on(rest, Outcome::Failure);
    }
    if msg.starts_with("(to ") {
        return to_on(msg, Outcome::Success);
    }
    if let Some(rest) = msg.strip_prefix("BAD SU ") {
        let (user, rest) = rest.split_once(" to ")?;
        let (target, tty) = rest.split_once(" on ").unwrap_or((rest, ""));
        return Some(su_event(Outcome::Failure, user, target, tty));
    }
    if let Some(rest) = msg.strip_prefix('\'') {
        // `'su root' failed for lonvick on /dev/pts/8`
        let (cmd, rest) = rest.split_once("' failed for ")?;
        let target = cmd.strip_prefix("su").map_or("", str::trim);
        let (user, tty) = rest.split_once(" on ").unwrap_or((rest, ""));
        return Some(su_event(Outcome::Failure, user, target, tty));
    }
    if msg.starts_with("pam_authenticate: ") && msg.contains("failure") {
        return Some(su_event(Outcome::Failure, "", "", "").reason(msg));
    }
    plus_minus(msg)
}

fn su_event<'a>(outcome: Outcome, user: &'a str, target: &'a str, tty: &'a str) -> AuthEvent<'a> {
    let mut e = AuthEvent::new("authentication", &["start"], "su")
        .outcome(outcome)
        .user(user);
    e.effective_user = non_empty(target);
    e.tty = non_empty(tty);
    e
}

/// `root by alice` (shadow-utils).
fn for_by(rest: &str, outcome: Outcome) -> Option<AuthEvent<'_>> {
    let (target, user) = rest.split_once(" by ")?;
    Some(su_event(outcome, user.trim(), target, ""))
}

/// `(to root) alice on pts/0` (util-linux).
fn to_on(rest: &str, outcome: Outcome) -> Option<AuthEvent<'_>> {
    let (target, rest) = rest.strip_prefix("(to ")?.split_once(") ")?;
    let (user, tty) = rest.split_once(" on ").unwrap_or((rest, ""));
    Some(su_event(outcome, user, target, tty))
}

/// `+ pts/0 alice:root` / `- pts/0 alice:root` (older shadow-utils).
fn plus_minus(msg: &str) -> Option<AuthEvent<'_>> {
    let (sign, rest) = msg.split_once(' ')?;
    let outcome = match sign {
        "+" => Outcome::Success,
        "-" => Outcome::Failure,
        _ => return None,
    };
    let (tty, pair) = rest.split_once(' ')?;
    let (user, target) = pair.split_once(':')?;
    Some(su_event(outcome, user, target, tty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_commands() {
        let e =
            sudo("  alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -la ; echo")
                .unwrap();
        assert_eq!(
            (e.category, e.action, e.outcome, e.user, e.effective_user),
            (
                "process",
                "sudo_command",
                Some(Outcome::Success),
                Some("alice"),
                Some("root")
            )
        );
        assert_eq!(e.command_line, Some("/bin/ls -la ; echo"));
        assert_eq!(
            (e.tty, e.working_directory),
            (Some("pts/0"), Some("/home/alice"))
        );

        let e = sudo("bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/bash").unwrap();
        assert_eq!(
            (e.category, e.outcome, e.reason),
            (
                "authentication",
                Some(Outcome::Failure),
                Some("3 incorrect password attempts")
            )
        );
        let e = sudo("eve : user NOT in sudoers ; TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/bin/sh")
            .unwrap();
        assert_eq!(
            (e.category, e.types, e.reason),
            ("process", &["denied"][..], Some("user NOT in sudoers"))
        );
        assert!(sudo("unable to resolve host foo").is_none());
        assert!(sudo("alice : unable to resolve host").is_none());
    }

    #[test]
    fn su_spellings() {
        let cases = [
            (
                "Successful su for root by alice",
                Outcome::Success,
                Some("alice"),
                Some("root"),
            ),
            (
                "FAILED su for root by alice",
                Outcome::Failure,
                Some("alice"),
                Some("root"),
            ),
            (
                "FAILED SU (to root) alice on pts/0",
                Outcome::Failure,
                Some("alice"),
                Some("root"),
            ),
            (
                "(to root) alice on pts/0",
                Outcome::Success,
                Some("alice"),
                Some("root"),
            ),
            (
                "+ pts/0 alice:root",
                Outcome::Success,
                Some("alice"),
                Some("root"),
            ),
            (
                "- pts/0 alice:root",
                Outcome::Failure,
                Some("alice"),
                Some("root"),
            ),
            (
                "'su root' failed for lonvick on /dev/pts/8",
                Outcome::Failure,
                Some("lonvick"),
                Some("root"),
            ),
            (
                "BAD SU bob to root on /dev/ttyp0",
                Outcome::Failure,
                Some("bob"),
                Some("root"),
            ),
            (
                "pam_authenticate: Authentication failure",
                Outcome::Failure,
                None,
                None,
            ),
        ];
        for (msg, outcome, user, target) in cases {
            let e = su(msg).unwrap_or_else(|| panic!("untyped: {msg}"));
            assert_eq!(
                (e.action, e.outcome, e.user, e.effective_user),
                ("su", Some(outcome), user, target),
                "{msg}"
            );
        }
        assert!(su("some other text").is_none());
    }
}
