//! Typing of authentication, session, account and privilege messages into ECS.
//!
//! Each submodule recognises the message shapes of one family of programs and returns an
//! [`AuthEvent`] — plain borrowed data, easy to test — which [`AuthEvent::write`] turns into ECS
//! fields (`event.category`, `event.action`, `event.outcome`, `user.name`, `source.ip`, …).
//! Messages that are not about authentication stay untyped; the syslog fields still describe
//! them.
//!
//! Shapes are matched with plain string scanning (prefixes, `split_once`, `rfind`), never
//! regular expressions: this runs on every line of every auth log.

mod accounts;
mod legacy;
mod pam;
mod privilege;
mod sshd;

use std::net::IpAddr;

use palisade_event::event::FieldError;
use palisade_event::{Event, Value};

use super::field_ids;

/// `event.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// What a typed message says, borrowed from the line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AuthEvent<'a> {
    /// `event.category`: `authentication`, `session`, `iam`, `process` or `network`.
    pub category: &'static str,
    /// `event.type` values (one, or two for `iam`: `["user", "creation"]`).
    pub types: &'static [&'static str],
    pub action: &'static str,
    pub outcome: Option<Outcome>,
    /// `event.reason`: why it failed or ended, in the program's words.
    pub reason: Option<&'a str>,
    pub user: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub effective_user: Option<&'a str>,
    pub target_user: Option<&'a str>,
    pub target_user_id: Option<&'a str>,
    pub group: Option<&'a str>,
    pub group_id: Option<&'a str>,
    /// Remote address or host name (`rhost=`); written as `source.ip` or `source.domain`.
    pub source: Option<&'a str>,
    pub source_domain: Option<&'a str>,
    pub source_port: Option<&'a str>,
    /// `authentication.method`: `password`, `publickey`, `keyboard-interactive`, …
    pub method: Option<&'a str>,
    pub command_line: Option<&'a str>,
    pub working_directory: Option<&'a str>,
    pub tty: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// Additional occurrences this line stands for (`message repeated 3 times`).
    pub repeat: Option<&'a str>,
}

impl<'a> AuthEvent<'a> {
    pub fn new(
        category: &'static str,
        types: &'static [&'static str],
        action: &'static str,
    ) -> Self {
        AuthEvent {
            category,
            types,
            action,
            ..AuthEvent::default()
        }
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    pub fn user(mut self, user: &'a str) -> Self {
        self.user = non_empty(user);
        self
    }

    pub fn source(mut self, addr: &'a str, port: Option<&'a str>) -> Self {
        self.source = non_empty(addr);
        self.source_port = port.and_then(non_empty);
        self
    }

    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = non_empty(reason.trim());
        self
    }
}

pub(crate) fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

field_ids! {
    struct Ids {
        category => "event.category",
        kind => "event.type",
        action => "event.action",
        outcome => "event.outcome",
        reason => "event.reason",
        user => "user.name",
        user_id => "user.id",
        effective_user => "user.effective.name",
        target_user => "user.target.name",
        target_user_id => "user.target.id",
        group => "group.name",
        group_id => "group.id",
        source_ip => "source.ip",
        source_domain => "source.domain",
        source_port => "source.port",
        method => "authentication.method",
        command_line => "process.command_line",
        executable => "process.executable",
        working_directory => "process.working_directory",
        tty => "process.tty.name",
        session_id => "session.id",
        repeat => "log.syslog.repeat_count",
    }
}

impl AuthEvent<'_> {
    /// Adds the ECS fields this message implies to `event`.
    pub fn write(&self, event: &mut Event) -> Result<(), FieldError> {
        let ids = Ids::get();
        event.insert(ids.category, self.category.into())?;
        let kind = match self.types {
            [one] => Value::from(*one),
            many => Value::Array(many.iter().map(|t| Value::from(*t)).collect()),
        };
        event.insert(ids.kind, kind)?;
        event.insert(ids.action, self.action.into())?;
        if let Some(o) = self.outcome {
            event.insert(ids.outcome, o.as_str().into())?;
        }
        let text = [
            (ids.reason, self.reason),
            (ids.user, self.user),
            (ids.effective_user, self.effective_user),
            (ids.target_user, self.target_user),
            (ids.group, self.group),
            (ids.source_domain, self.source_domain),
            (ids.method, self.method),
            (ids.working_directory, self.working_directory),
            (ids.tty, self.tty),
            (ids.session_id, self.session_id),
        ];
        for (id, value) in text {
            if let Some(v) = value {
                event.insert(id, v.into())?;
            }
        }
        let numbers = [
            (ids.user_id, self.user_id),
            (ids.target_user_id, self.target_user_id),
            (ids.group_id, self.group_id),
            (ids.source_port, self.source_port),
            (ids.repeat, self.repeat),
        ];
        for (id, value) in numbers {
            if let Some(v) = value {
                event.insert(id, number_or_text(v))?;
            }
        }
        self.write_source(event, ids)?;
        self.write_command(event, ids)
    }

    fn write_source(&self, event: &mut Event, ids: &Ids) -> Result<(), FieldError> {
        let Some(src) = self.source else {
            return Ok(());
        };
        match src.parse::<IpAddr>() {
            Ok(_) => event.insert(ids.source_ip, src.into()),
            // An IPv4-mapped IPv6 form (`::ffff:1.2.3.4`) parses above; a name goes here.
            Err(_) if self.source_domain.is_none() => event.insert(ids.source_domain, src.into()),
            Err(_) => Ok(()),
        }
    }

    fn write_command(&self, event: &mut Event, ids: &Ids) -> Result<(), FieldError> {
        let Some(cmd) = self.command_line else {
            return Ok(());
        };
        event.insert(ids.command_line, cmd.into())?;
        if let Some(exe) = cmd.split_whitespace().next() {
            event.insert(ids.executable, exe.into())?;
        }
        Ok(())
    }
}

fn number_or_text(s: &str) -> Value {
    s.parse::<i64>().map_or_else(|_| Value::from(s), Value::Int)
}

/// Types `msg` logged by `service` (the program name, lower-case, without a `(pam_…)` suffix).
/// `pam` is true when the tag itself names a PAM module (`sshd(pam_unix)`).
pub(crate) fn classify<'a>(service: &str, pam: bool, msg: &'a str) -> Option<AuthEvent<'a>> {
    if let Some((count, inner)) = repeated(msg) {
        let mut typed = classify(service, pam, inner)?;
        typed.repeat = Some(count);
        return Some(typed);
    }
    if pam {
        return pam::classify(service, msg);
    }
    if let Some((pam_service, rest)) = pam::split_prefix(msg) {
        return pam::classify(pam_service, rest);
    }
    match service {
        "sshd" => sshd::classify(msg),
        "sudo" => privilege::sudo(msg),
        "su" => privilege::su(msg),
        s if accounts::is_account_tool(s) => accounts::classify(msg),
        "ftpd" | "in.ftpd" | "wu-ftpd" | "vsftpd" | "proftpd" | "pure-ftpd" => legacy::ftp(msg),
        "klogind" | "kshd" | "krb5kdc" => legacy::kerberos(msg),
        "systemd-logind" => legacy::logind(msg),
        "cron" | "crond" => legacy::cron(msg),
        _ => legacy::login(msg),
    }
}

/// `message repeated 3 times: [ inner]` → (`3`, `inner`).
fn repeated(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix("message repeated ")?;
    let (count, rest) = rest.split_once(" times: [")?;
    let inner = rest.trim_end().strip_suffix(']')?;
    Some((count, inner.trim()))
}

/// Splits `user X from IP port P` tails and similar: the text before the last `sep`.
pub(crate) fn rsplit<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    s.rfind(sep).map(|i| (&s[..i], &s[i + sep.len()..]))
}

/// `IP[ port P]` followed by anything: returns (ip, port, rest after them).
pub(crate) fn addr_port(s: &str) -> (&str, Option<&str>, &str) {
    let (addr, rest) = s.split_once(' ').unwrap_or((s, ""));
    match rest.strip_prefix("port ") {
        Some(p) => {
            let n = p.bytes().take_while(u8::is_ascii_digit).count();
            let (port, rest) = p.split_at(n);
            let rest = rest.trim_start_matches(':').trim_start();
            (addr.trim_end_matches(':'), non_empty(port), rest)
        }
        None => (addr.trim_end_matches(':'), None, rest),
    }
}

/// Normalises an SSH method name to the ECS-style value.
pub(crate) fn method_name(raw: &str) -> &str {
    match raw {
        "keyboard-interactive/pam" => "keyboard-interactive",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_event::Origin;

    #[test]
    fn repeated_messages_keep_their_count() {
        let e = classify(
            "sshd",
            false,
            "message repeated 2 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]",
        )
        .unwrap();
        assert_eq!(e.action, "ssh_login");
        assert_eq!(e.repeat, Some("2"));
        assert_eq!(e.user, Some("root"));
    }

    #[test]
    fn writes_ecs_fields() {
        let typed = AuthEvent::new("authentication", &["start"], "ssh_login")
            .outcome(Outcome::Failure)
            .user("root")
            .source("1.2.3.4", Some("22"));
        let mut e = Event::new(Origin::default(), "syslog");
        typed.write(&mut e).unwrap();
        let get = |n: &str| e.get_by_name(n).cloned();
        assert_eq!(get("event.outcome"), Some("failure".into()));
        assert_eq!(get("source.ip"), Some("1.2.3.4".into()));
        assert_eq!(get("source.port"), Some(Value::Int(22)));
        assert_eq!(get("user.name"), Some("root".into()));
        assert_eq!(get("event.type"), Some("start".into()));

        let mut e = Event::new(Origin::default(), "syslog");
        AuthEvent::new("iam", &["user", "creation"], "user_created")
            .source("host.example", None)
            .write(&mut e)
            .unwrap();
        assert_eq!(
            e.get_by_name("event.type").unwrap().to_string(),
            "[user, creation]"
        );
        assert_eq!(
            e.get_by_name("source.domain").unwrap().to_string(),
            "host.example"
        );
    }

    #[test]
    fn address_and_port() {
        assert_eq!(
            addr_port("1.2.3.4 port 22 ssh2"),
            ("1.2.3.4", Some("22"), "ssh2")
        );
        assert_eq!(addr_port("1.2.3.4"), ("1.2.3.4", None, ""));
        assert_eq!(
            addr_port("1.2.3.4 port 22:11: Bye"),
            ("1.2.3.4", Some("22"), "11: Bye")
        );
        assert_eq!(addr_port(""), ("", None, ""));
    }
}
