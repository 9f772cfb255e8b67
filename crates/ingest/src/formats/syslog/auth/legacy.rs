//! Other login paths seen in real Linux logs: FTP daemons, Kerberos remote login, console
//! `login`, display managers, `systemd-logind` sessions and cron jobs.

use super::{AuthEvent, Outcome, non_empty, rsplit};

/// wu-ftpd / vsftpd / proftpd.
pub(super) fn ftp(msg: &str) -> Option<AuthEvent<'_>> {
    if let Some(rest) = msg.strip_prefix("connection from ") {
        // `connection from 1.2.3.4 (host.example) at Sun Jul 10 03:55:15 2005`
        let (ip, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let host = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map(|(h, _)| h);
        let mut e = AuthEvent::new("network", &["start"], "ftp_connection").source(ip, None);
        e.source_domain = host.and_then(non_empty);
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("ANONYMOUS FTP LOGIN FROM ") {
        let (ip, _) = rest.split_once(',').unwrap_or((rest, ""));
        return Some(ftp_login(Outcome::Success, "anonymous", ip.trim()));
    }
    if let Some(rest) = msg.strip_prefix("FTP LOGIN FROM ") {
        // `FTP LOGIN FROM host [1.2.3.4], alice`
        let (from, user) = rest.split_once(", ")?;
        return Some(ftp_login(Outcome::Success, user.trim(), bracketed_ip(from)));
    }
    if let Some(rest) = msg.strip_prefix("failed login from ") {
        return Some(ftp_login(Outcome::Failure, "", bracketed_ip(rest)));
    }
    vsftpd(msg)
}

/// `[alice] OK LOGIN: Client "1.2.3.4"` / `[alice] FAIL LOGIN: Client "1.2.3.4"`.
fn vsftpd(msg: &str) -> Option<AuthEvent<'_>> {
    let (user, rest) = msg.strip_prefix('[')?.split_once("] ")?;
    let (outcome, rest) = if let Some(r) = rest.strip_prefix("OK LOGIN: ") {
        (Outcome::Success, r)
    } else {
        (Outcome::Failure, rest.strip_prefix("FAIL LOGIN: ")?)
    };
    let ip = rest
        .strip_prefix("Client \"")
        .and_then(|r| r.split_once('"'))
        .map_or("", |(ip, _)| ip);
    Some(ftp_login(outcome, user, ip))
}

fn ftp_login<'a>(outcome: Outcome, user: &'a str, ip: &'a str) -> AuthEvent<'a> {
    let mut e = AuthEvent::new("authentication", &["start"], "ftp_login")
        .outcome(outcome)
        .user(user)
        .source(ip, None);
    e.method = Some("password");
    e
}

/// `host [1.2.3.4]` → `1.2.3.4`; otherwise the text itself.
fn bracketed_ip(s: &str) -> &str {
    s.split_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map_or(s.trim(), |(ip, _)| ip)
}

/// klogind and friends: `Authentication failed from IP (HOST): reason`,
/// `Kerberos authentication failed`.
pub(super) fn kerberos(msg: &str) -> Option<AuthEvent<'_>> {
    let base = || {
        let mut e = AuthEvent::new("authentication", &["start"], "kerberos_login")
            .outcome(Outcome::Failure);
        e.method = Some("kerberos");
        e
    };
    if let Some(rest) = msg.strip_prefix("Authentication failed from ") {
        let (ip, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let reason = rest.split_once("): ").map_or("", |(_, r)| r);
        return Some(base().source(ip, None).reason(reason));
    }
    msg.trim_end()
        .eq_ignore_ascii_case("Kerberos authentication failed")
        .then(|| base().reason("Kerberos authentication failed"))
}

/// Console and display-manager logins, recognised by message whatever the program name.
pub(super) fn login(msg: &str) -> Option<AuthEvent<'_>> {
    let base = |outcome| AuthEvent::new("authentication", &["start"], "login").outcome(outcome);
    if let Some(rest) = msg.strip_prefix("ROOT LOGIN ON ") {
        let (tty, from) = rest.split_once(" FROM ").unwrap_or((rest, ""));
        let mut e = base(Outcome::Success)
            .user("root")
            .source(from.trim(), None);
        e.tty = non_empty(tty.trim());
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("LOGIN ON ") {
        // `LOGIN ON tty1 BY alice[ FROM host]`
        let (tty, rest) = rest.split_once(" BY ")?;
        let (user, from) = rest.split_once(" FROM ").unwrap_or((rest, ""));
        let mut e = base(Outcome::Success)
            .user(user.trim())
            .source(from.trim(), None);
        e.tty = non_empty(tty);
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("FAILED LOGIN ") {
        return Some(failed_login(rest));
    }
    if msg.starts_with("Couldn't authenticate user") {
        return Some(base(Outcome::Failure).reason(msg));
    }
    None
}

/// `1 FROM (null) FOR root, Authentication failure` or
/// `(1) on '/dev/tty1' FOR 'alice', Authentication failure`.
fn failed_login(rest: &str) -> AuthEvent<'_> {
    let mut e = AuthEvent::new("authentication", &["start"], "login").outcome(Outcome::Failure);
    let Some((head, tail)) = rsplit(rest, " FOR ") else {
        return e;
    };
    let (user, reason) = tail.split_once(", ").unwrap_or((tail, ""));
    e = e.user(user.trim_matches('\'')).reason(reason);
    if let Some((_, from)) = head.split_once(" FROM ") {
        let from = from.trim();
        if from != "(null)" {
            e = e.source(from, None);
        }
    }
    e
}

/// `New session 3 of user alice.` / `Removed session 3.`
pub(super) fn logind(msg: &str) -> Option<AuthEvent<'_>> {
    if let Some(rest) = msg.strip_prefix("New session ") {
        let (id, user) = rest.split_once(" of user ")?;
        let mut e = AuthEvent::new("session", &["start"], "session_opened")
            .outcome(Outcome::Success)
            .user(user.trim_end_matches('.'));
        e.session_id = non_empty(id);
        return Some(e);
    }
    let id = msg.strip_prefix("Removed session ")?.trim_end_matches('.');
    let mut e = AuthEvent::new("session", &["end"], "session_closed").outcome(Outcome::Success);
    e.session_id = non_empty(id);
    Some(e)
}

/// `(root) CMD (command)`.
pub(super) fn cron(msg: &str) -> Option<AuthEvent<'_>> {
    let (user, rest) = msg.strip_prefix('(')?.split_once(") CMD (")?;
    let cmd = rest.strip_suffix(')').unwrap_or(rest);
    let mut e = AuthEvent::new("process", &["start"], "cron_command")
        .outcome(Outcome::Success)
        .user(user);
    e.command_line = non_empty(cmd.trim());
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftp_shapes() {
        let e = ftp("connection from 24.54.76.216 (24-54-76-216.bflony.adelphia.net) at Fri Jun 17 07:07:00 2005").unwrap();
        assert_eq!(
            (e.category, e.source, e.source_domain),
            (
                "network",
                Some("24.54.76.216"),
                Some("24-54-76-216.bflony.adelphia.net")
            )
        );
        let e = ftp("connection from 1.2.3.4 () at Fri Jun 17 07:07:00 2005").unwrap();
        assert_eq!(e.source_domain, None);
        let e = ftp("ANONYMOUS FTP LOGIN FROM 84.102.20.2,  (anonymous)").unwrap();
        assert_eq!(
            (e.action, e.outcome, e.user, e.source),
            (
                "ftp_login",
                Some(Outcome::Success),
                Some("anonymous"),
                Some("84.102.20.2")
            )
        );
        let e = ftp("FTP LOGIN FROM host.example [1.2.3.4], alice").unwrap();
        assert_eq!((e.user, e.source), (Some("alice"), Some("1.2.3.4")));
        let e = ftp("[bob] FAIL LOGIN: Client \"::ffff:1.2.3.4\"").unwrap();
        assert_eq!(
            (e.outcome, e.user, e.source),
            (Some(Outcome::Failure), Some("bob"), Some("::ffff:1.2.3.4"))
        );
        assert!(
            ftp("User unknown timed out after 900 seconds at Sat Jun 18 02:23:10 2005").is_none()
        );
    }

    #[test]
    fn kerberos_and_console() {
        let e = kerberos("Authentication failed from 163.27.187.39 (163.27.187.39): Permission denied in replay cache code").unwrap();
        assert_eq!(
            (e.outcome, e.source, e.reason),
            (
                Some(Outcome::Failure),
                Some("163.27.187.39"),
                Some("Permission denied in replay cache code")
            )
        );
        assert!(kerberos("Kerberos authentication failed ").is_some());
        let e = login("ROOT LOGIN ON tty2").unwrap();
        assert_eq!(
            (e.user, e.tty, e.source),
            (Some("root"), Some("tty2"), None)
        );
        let e = login("LOGIN ON pts/0 BY alice FROM 10.0.0.1").unwrap();
        assert_eq!((e.user, e.source), (Some("alice"), Some("10.0.0.1")));
        let e = login("FAILED LOGIN 1 FROM (null) FOR root, Authentication failure").unwrap();
        assert_eq!(
            (e.outcome, e.user, e.source),
            (Some(Outcome::Failure), Some("root"), None)
        );
        let e =
            login("FAILED LOGIN (1) on '/dev/tty1' FOR 'alice', Authentication failure").unwrap();
        assert_eq!(e.user, Some("alice"));
        assert!(login("Couldn't authenticate user").is_some());
        assert!(login("cupsd startup succeeded").is_none());
    }

    #[test]
    fn sessions_and_cron() {
        let e = logind("New session 12 of user alice.").unwrap();
        assert_eq!((e.user, e.session_id), (Some("alice"), Some("12")));
        let e = logind("Removed session 12.").unwrap();
        assert_eq!((e.action, e.session_id), ("session_closed", Some("12")));
        let e = cron("(root) CMD (run-parts /etc/cron.hourly)").unwrap();
        assert_eq!(
            (e.user, e.command_line),
            (Some("root"), Some("run-parts /etc/cron.hourly"))
        );
    }
}
