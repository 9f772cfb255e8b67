//! OpenSSH server (`sshd`) messages: logins, invalid users, disconnects and the pre-auth
//! noise of scanners. PAM lines logged by sshd (`pam_unix(sshd:auth): …`) go to [`super::pam`].

use super::{AuthEvent, Outcome, addr_port, method_name, non_empty, pam, rsplit};

pub(super) fn classify(msg: &str) -> Option<AuthEvent<'_>> {
    let msg = msg
        .strip_prefix("error: ")
        .or_else(|| msg.strip_prefix("fatal: "))
        .unwrap_or(msg);
    let msg = msg.strip_suffix(" [preauth]").unwrap_or(msg).trim_end();
    let (first, rest) = msg.split_once(' ')?;
    match first {
        "Accepted" => login(rest, Outcome::Success),
        "Failed" => login(rest, Outcome::Failure),
        "Invalid" => invalid_user(rest.strip_prefix("user ")?),
        "input_userauth_request:" => invalid_user(rest.strip_prefix("invalid user ")?),
        "User" => not_allowed(rest),
        "maximum" => max_attempts(rest.strip_prefix("authentication attempts exceeded for ")?),
        "Disconnecting:" | "Disconnecting" => too_many_failures(rest),
        "Connection" => connection(rest),
        "Received" => disconnect(rest.strip_prefix("disconnect from ")?),
        "Disconnected" => disconnected(rest.strip_prefix("from ")?),
        "Did" => no_identification(rest.strip_prefix("not receive identification string from ")?),
        "reverse" => reverse_mapping(rest),
        "Address" => address_maps(rest),
        "PAM" => pam::sshd_summary(rest),
        _ => None,
    }
}

/// `password for [invalid user ]X from IP port P ssh2[: KEY FP]` after `Accepted`/`Failed`.
fn login(rest: &str, outcome: Outcome) -> Option<AuthEvent<'_>> {
    let (method, rest) = rest.split_once(" for ")?;
    if method.contains(' ') {
        return None;
    }
    let (who, addr) = rsplit(rest, " from ")?;
    let (ip, port, _) = addr_port(addr);
    let mut e = AuthEvent::new("authentication", &["start"], "ssh_login")
        .outcome(outcome)
        .source(ip, port);
    e.method = Some(method_name(method));
    match who.strip_prefix("invalid user ") {
        Some(user) => {
            e.user = non_empty(user);
            e.reason = Some("invalid user");
        }
        None => e.user = non_empty(who),
    }
    Some(e)
}

/// `X from IP[ port P]` after `Invalid user`, or just `X` after `input_userauth_request:`.
fn invalid_user(rest: &str) -> Option<AuthEvent<'_>> {
    let (user, addr) = rsplit(rest, " from ").unwrap_or((rest, ""));
    let (ip, port, _) = addr_port(addr);
    let mut e = AuthEvent::new("authentication", &["info"], "invalid_user")
        .outcome(Outcome::Failure)
        .user(user)
        .source(ip, port);
    e.reason = Some("invalid user");
    Some(e)
}

/// `root from IP not allowed because not listed in AllowUsers`.
fn not_allowed(rest: &str) -> Option<AuthEvent<'_>> {
    let (who, why) = rest.split_once(" not allowed because ")?;
    let (user, ip) = rsplit(who, " from ")?;
    Some(
        AuthEvent::new("authentication", &["info"], "user_not_allowed")
            .outcome(Outcome::Failure)
            .user(user)
            .source(ip, None)
            .reason(why),
    )
}

/// `[invalid user ]root from IP port P ssh2` after `maximum authentication attempts exceeded for`.
fn max_attempts(rest: &str) -> Option<AuthEvent<'_>> {
    let (who, addr) = rsplit(rest, " from ")?;
    let (ip, port, _) = addr_port(addr);
    let user = who.strip_prefix("invalid user ").unwrap_or(who);
    Some(
        AuthEvent::new("authentication", &["info"], "too_many_failures")
            .outcome(Outcome::Failure)
            .user(user)
            .source(ip, port)
            .reason("maximum authentication attempts exceeded"),
    )
}

/// `Too many authentication failures for root` (old) or
/// `authenticating user root IP port P: Too many authentication failures` (new).
fn too_many_failures(rest: &str) -> Option<AuthEvent<'_>> {
    const TOO_MANY: &str = "Too many authentication failures";
    let (peer_part, tail) = match rest.split_once(": ") {
        Some((p, t)) if t.starts_with(TOO_MANY) => (p, t),
        _ if rest.starts_with(TOO_MANY) => ("", rest),
        _ => return None,
    };
    let mut e = AuthEvent::new("authentication", &["info"], "too_many_failures")
        .outcome(Outcome::Failure)
        .reason(TOO_MANY);
    if let Some(user) = tail
        .strip_prefix(TOO_MANY)
        .and_then(|t| t.strip_prefix(" for "))
    {
        e.user = non_empty(user);
    }
    if !peer_part.is_empty() {
        let p = Peer::parse(peer_part);
        e = e.source(p.ip, p.port);
        e.user = p.user.or(e.user);
    }
    Some(e)
}

/// The remote end as sshd names it: `[authenticating |invalid ]user X IP port P` or `IP port P`.
struct Peer<'a> {
    user: Option<&'a str>,
    invalid: bool,
    authenticated: bool,
    ip: &'a str,
    port: Option<&'a str>,
}

impl<'a> Peer<'a> {
    fn parse(s: &'a str) -> Self {
        let (kind, s) = [
            ("authenticating user ", (false, false)),
            ("invalid user ", (true, false)),
            ("user ", (false, true)),
        ]
        .iter()
        .find_map(|(prefix, kind)| s.strip_prefix(prefix).map(|r| (Some(*kind), r)))
        .unwrap_or((None, s));
        let (head, port) = match rsplit(s, " port ") {
            Some((h, p)) => (h, leading_digits(p)),
            None => (s, None),
        };
        let (user, ip) = match kind {
            Some(_) => match rsplit(head, " ") {
                Some((u, ip)) => (non_empty(u), ip),
                None => (None, head),
            },
            None => (None, head),
        };
        let (invalid, authenticated) = kind.unwrap_or((false, false));
        Peer {
            user,
            invalid,
            authenticated,
            ip: ip.strip_suffix(':').unwrap_or(ip),
            port,
        }
    }
}

fn leading_digits(s: &str) -> Option<&str> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    non_empty(&s[..n])
}

/// `closed by …`, `reset by …` (end of a connection), `from IP port P on IP port P` (start).
fn connection(rest: &str) -> Option<AuthEvent<'_>> {
    let (action, types, peer) = if let Some(p) = rest.strip_prefix("closed by ") {
        ("ssh_connection_closed", &["end"], p)
    } else if let Some(p) = rest.strip_prefix("reset by ") {
        ("ssh_connection_reset", &["end"], p)
    } else if let Some(p) = rest.strip_prefix("from ") {
        let p = p.split(" on ").next().unwrap_or(p);
        ("ssh_connection", &["start"], p)
    } else {
        return None;
    };
    let p = Peer::parse(peer);
    let mut e = AuthEvent::new("network", types, action).source(p.ip, p.port);
    e.user = p.user;
    if p.invalid {
        e.reason = Some("invalid user");
    }
    Some(e)
}

/// `IP: 11: Bye Bye` (old) or `IP port P:11: Bye Bye` (new) after `Received disconnect from`.
fn disconnect(rest: &str) -> Option<AuthEvent<'_>> {
    let p = Peer::parse(rest.split(": ").next().unwrap_or(rest));
    let (ip, port, reason) = if p.port.is_some() {
        let reason = rest.split_once(" port ").map(|(_, t)| t).unwrap_or("");
        (p.ip, p.port, reason.split_once(": ").map(|(_, r)| r))
    } else {
        let (ip, tail) = rest.split_once(": ")?;
        (
            ip,
            None,
            Some(tail.split_once(": ").map_or(tail, |(_, r)| r)),
        )
    };
    let mut e = AuthEvent::new("network", &["end"], "ssh_disconnect").source(ip, port);
    e.user = p.user;
    if let Some(r) = reason {
        e = e.reason(r);
    }
    Some(e)
}

/// `user X IP port P` (a session ends) or `[invalid|authenticating] user X IP port P`, `IP port P`.
fn disconnected(rest: &str) -> Option<AuthEvent<'_>> {
    let p = Peer::parse(rest);
    let mut e = if p.authenticated {
        AuthEvent::new("session", &["end"], "ssh_logout").outcome(Outcome::Success)
    } else {
        AuthEvent::new("network", &["end"], "ssh_disconnect")
    };
    e = e.source(p.ip, p.port);
    e.user = p.user;
    if p.invalid {
        e.reason = Some("invalid user");
    }
    Some(e)
}

fn no_identification(rest: &str) -> Option<AuthEvent<'_>> {
    let (ip, port, _) = addr_port(rest);
    Some(
        AuthEvent::new("network", &["info"], "ssh_no_identification")
            .source(ip, port)
            .reason("did not receive identification string"),
    )
}

/// `mapping checking getaddrinfo for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!`
fn reverse_mapping(rest: &str) -> Option<AuthEvent<'_>> {
    let rest = rest.strip_prefix("mapping checking getaddrinfo for ")?;
    let (host, rest) = rest.split_once(" [")?;
    let (ip, _) = rest.split_once(']')?;
    let mut e = AuthEvent::new("network", &["info"], "ssh_reverse_mapping_failed")
        .source(ip, None)
        .reason("reverse mapping failed");
    e.source_domain = non_empty(host);
    Some(e)
}

/// `IP maps to HOST, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!`
fn address_maps(rest: &str) -> Option<AuthEvent<'_>> {
    let (ip, rest) = rest.split_once(" maps to ")?;
    let (host, _) = rest.split_once(", but this does not map back")?;
    let mut e = AuthEvent::new("network", &["info"], "ssh_reverse_mapping_failed")
        .source(ip, None)
        .reason("address does not map back");
    e.source_domain = non_empty(host);
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(msg: &str) -> AuthEvent<'_> {
        classify(msg).unwrap_or_else(|| panic!("untyped: {msg}"))
    }

    #[test]
    fn accepted_and_failed_logins() {
        let e = typed("Accepted password for fztu from 119.137.62.142 port 49116 ssh2");
        assert_eq!(
            (
                e.action,
                e.outcome,
                e.user,
                e.source,
                e.source_port,
                e.method
            ),
            (
                "ssh_login",
                Some(Outcome::Success),
                Some("fztu"),
                Some("119.137.62.142"),
                Some("49116"),
                Some("password")
            )
        );
        let e = typed("Accepted publickey for alice from 10.0.0.5 port 50000 ssh2: RSA SHA256:abc");
        assert_eq!((e.method, e.user), (Some("publickey"), Some("alice")));
        let e =
            typed("Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2");
        assert_eq!(
            (e.outcome, e.user, e.reason),
            (
                Some(Outcome::Failure),
                Some("webmaster"),
                Some("invalid user")
            )
        );
        let e = typed("Failed none for invalid user  0101 from 5.188.10.180 port 36279 ssh2");
        assert_eq!((e.method, e.user), (Some("none"), Some(" 0101")));
        let e = typed("Failed keyboard-interactive/pam for root from 1.2.3.4 port 22 ssh2");
        assert_eq!(e.method, Some("keyboard-interactive"));
        assert!(classify("Failed to release session: Interrupted system call").is_none());
    }

    #[test]
    fn invalid_users() {
        let e = typed("Invalid user webmaster from 173.234.31.186");
        assert_eq!(
            (e.action, e.user, e.source, e.source_port),
            (
                "invalid_user",
                Some("webmaster"),
                Some("173.234.31.186"),
                None
            )
        );
        let e = typed("Invalid user admin from 10.0.0.1 port 4242");
        assert_eq!(e.source_port, Some("4242"));
        let e = typed("input_userauth_request: invalid user webmaster [preauth]");
        assert_eq!(
            (e.action, e.user, e.source),
            ("invalid_user", Some("webmaster"), None)
        );
        let e = typed("User root from 1.2.3.4 not allowed because not listed in AllowUsers");
        assert_eq!(
            (e.action, e.reason),
            ("user_not_allowed", Some("not listed in AllowUsers"))
        );
    }

    #[test]
    fn too_many_failures() {
        let e = typed("Disconnecting: Too many authentication failures for admin [preauth]");
        assert_eq!((e.action, e.user), ("too_many_failures", Some("admin")));
        let e = typed(
            "Disconnecting authenticating user root 1.2.3.4 port 22: Too many authentication failures [preauth]",
        );
        assert_eq!(
            (e.user, e.source, e.source_port),
            (Some("root"), Some("1.2.3.4"), Some("22"))
        );
        let e = typed(
            "error: maximum authentication attempts exceeded for invalid user x from 1.2.3.4 port 5 ssh2 [preauth]",
        );
        assert_eq!(
            (e.action, e.user, e.source_port),
            ("too_many_failures", Some("x"), Some("5"))
        );
        assert!(classify("Disconnecting: Change of username or service not allowed").is_none());
    }

    #[test]
    fn disconnects() {
        let e = typed("Received disconnect from 139.59.209.18: 11: Bye Bye [preauth]");
        assert_eq!(
            (e.category, e.action, e.source, e.reason),
            (
                "network",
                "ssh_disconnect",
                Some("139.59.209.18"),
                Some("Bye Bye")
            )
        );
        let e = typed(
            "error: Received disconnect from 1.2.3.4: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]",
        );
        assert_eq!(e.reason, Some("com.jcraft.jsch.JSchException: Auth fail"));
        let e = typed("Received disconnect from 1.2.3.4 port 5000:11: disconnected by user");
        assert_eq!(
            (e.source, e.source_port, e.reason),
            (Some("1.2.3.4"), Some("5000"), Some("disconnected by user"))
        );
        let e = typed("Received disconnect from 2001:db8::1: 11: Bye Bye");
        assert_eq!(e.source, Some("2001:db8::1"));
        let e = typed("Disconnected from user alice 10.0.0.2 port 4000");
        assert_eq!(
            (e.category, e.action, e.user),
            ("session", "ssh_logout", Some("alice"))
        );
        let e = typed("Disconnected from invalid user bob 10.0.0.2 port 4000 [preauth]");
        assert_eq!(
            (e.category, e.user, e.reason),
            ("network", Some("bob"), Some("invalid user"))
        );
    }

    #[test]
    fn connections_and_scanners() {
        let e = typed("Connection closed by 183.62.140.253 [preauth]");
        assert_eq!(
            (e.action, e.source),
            ("ssh_connection_closed", Some("183.62.140.253"))
        );
        let e = typed("Connection closed by authenticating user root 1.2.3.4 port 22 [preauth]");
        assert_eq!(
            (e.user, e.source, e.source_port),
            (Some("root"), Some("1.2.3.4"), Some("22"))
        );
        let e = typed("Connection from 1.2.3.4 port 5 on 10.0.0.1 port 22");
        assert_eq!(
            (e.action, e.source, e.source_port),
            ("ssh_connection", Some("1.2.3.4"), Some("5"))
        );
        let e = typed("Did not receive identification string from 1.2.3.4");
        assert_eq!(
            (e.action, e.source),
            ("ssh_no_identification", Some("1.2.3.4"))
        );
        let e = typed(
            "reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
        );
        assert_eq!(
            (e.source, e.source_domain),
            (Some("173.234.31.186"), Some("ns.marryaldkfaczcz.com"))
        );
        let e = typed(
            "Address 1.2.3.4 maps to x.example, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!",
        );
        assert_eq!(
            (e.source, e.source_domain),
            (Some("1.2.3.4"), Some("x.example"))
        );
    }

    #[test]
    fn untyped_noise() {
        for m in [
            "fatal: Write failed: Connection reset by peer [preauth]",
            "Server listening on 0.0.0.0 port 22.",
            "",
            "Accepted",
        ] {
            assert!(classify(m).is_none(), "{m}");
        }
    }
}
