use super::*;
use proptest::prelude::*;

fn parse_with(p: &mut SyslogFormat, line: &str) -> Event {
    p.parse_line(line, Origin::default())
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .unwrap()
}

fn parse(line: &str) -> Event {
    parse_with(&mut SyslogFormat::with_year(2024), line)
}

fn text(e: &Event, name: &str) -> Option<String> {
    e.get_by_name(name).map(Value::to_string)
}

#[test]
fn rfc3164_fields() {
    let e =
        parse("<38>Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186");
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2024-12-10T06:55:46+00:00"
    );
    assert_eq!(text(&e, "host.name").as_deref(), Some("LabSZ"));
    assert_eq!(text(&e, "log.syslog.appname").as_deref(), Some("sshd"));
    assert_eq!(text(&e, "process.name").as_deref(), Some("sshd"));
    assert_eq!(e.get_by_name("process.pid"), Some(&Value::Int(24200)));
    assert_eq!(
        e.get_by_name("log.syslog.facility.code"),
        Some(&Value::Int(4))
    );
    assert_eq!(
        e.get_by_name("log.syslog.severity.code"),
        Some(&Value::Int(6))
    );
    assert_eq!(
        text(&e, "message").as_deref(),
        Some("Invalid user webmaster from 173.234.31.186")
    );
    assert_eq!(e.meta.product.as_deref(), Some("linux"));
    assert_eq!(e.meta.service.as_deref(), Some("sshd"));
    assert_eq!(text(&e, "event.action").as_deref(), Some("invalid_user"));
    assert_eq!(text(&e, "source.ip").as_deref(), Some("173.234.31.186"));
}

#[test]
fn loghub_pam_tag_style() {
    let e = parse(
        "Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root",
    );
    assert_eq!(e.meta.service.as_deref(), Some("sshd"));
    assert_eq!(
        text(&e, "log.syslog.appname").as_deref(),
        Some("sshd(pam_unix)")
    );
    assert_eq!(
        text(&e, "event.category").as_deref(),
        Some("authentication")
    );
    assert_eq!(text(&e, "event.outcome").as_deref(), Some("failure"));
    assert_eq!(text(&e, "user.name").as_deref(), Some("root"));
    assert_eq!(
        text(&e, "source.domain").as_deref(),
        Some("220-135-151-1.hinet-ip.hinet.net")
    );
    let e =
        parse("Jul 10 04:02:35 combo su(pam_unix)[8283]: session opened for user news by (uid=0)");
    assert_eq!(e.meta.service.as_deref(), Some("su"));
    assert_eq!(text(&e, "event.category").as_deref(), Some("session"));
    assert_eq!(text(&e, "user.effective.name").as_deref(), Some("news"));
}

#[test]
fn sudo_line_types_a_process_event() {
    let e = parse(
        "2024-03-01T10:00:00+00:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id -u",
    );
    assert_eq!(text(&e, "event.category").as_deref(), Some("process"));
    assert_eq!(text(&e, "event.action").as_deref(), Some("sudo_command"));
    assert_eq!(text(&e, "user.name").as_deref(), Some("alice"));
    assert_eq!(text(&e, "user.effective.name").as_deref(), Some("root"));
    assert_eq!(
        text(&e, "process.command_line").as_deref(),
        Some("/usr/bin/id -u")
    );
    assert_eq!(
        text(&e, "process.executable").as_deref(),
        Some("/usr/bin/id")
    );
    assert_eq!(
        text(&e, "process.working_directory").as_deref(),
        Some("/home/alice")
    );
}

#[test]
fn account_lines_type_iam_events() {
    let e = parse(
        "Mar  1 10:00:00 web1 useradd[999]: new user: name=mallory, UID=1002, GID=1002, home=/home/mallory, shell=/bin/bash",
    );
    assert_eq!(text(&e, "event.category").as_deref(), Some("iam"));
    assert_eq!(text(&e, "event.action").as_deref(), Some("user_created"));
    assert_eq!(text(&e, "user.target.name").as_deref(), Some("mallory"));
    assert_eq!(e.get_by_name("user.target.id"), Some(&Value::Int(1002)));
    let e = parse(
        "Mar  1 10:00:01 web1 passwd[1000]: pam_unix(passwd:chauthtok): password changed for mallory",
    );
    assert_eq!(
        text(&e, "event.action").as_deref(),
        Some("password_changed")
    );
}

#[test]
fn rfc5424_structured_data() {
    let e = parse(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Appli\"cation"] An application event"#,
    );
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2003-10-11T22:14:15.003+00:00"
    );
    assert_eq!(e.get_by_name("log.syslog.version"), Some(&Value::Int(1)));
    assert_eq!(text(&e, "log.syslog.msgid").as_deref(), Some("ID47"));
    assert_eq!(e.get_by_name("process.pid"), Some(&Value::Int(8710)));
    assert_eq!(
        text(
            &e,
            "log.syslog.structured_data.exampleSDID@32473.eventSource"
        )
        .as_deref(),
        Some("Appli\"cation")
    );
    assert_eq!(text(&e, "message").as_deref(), Some("An application event"));
    assert_eq!(e.meta.service.as_deref(), Some("evntslog"));
    let e = parse(
        "<86>1 2024-01-01T00:00:00Z host sshd 77 - - Accepted publickey for bob from 10.1.1.1 port 2222 ssh2: ED25519 SHA256:x",
    );
    assert_eq!(
        text(&e, "authentication.method").as_deref(),
        Some("publickey")
    );
    assert_eq!(text(&e, "event.outcome").as_deref(), Some("success"));
}

#[test]
fn year_rolls_over_within_a_file() {
    let mut p = SyslogFormat::with_year(2015);
    let year = |p: &mut SyslogFormat, l: &str| parse_with(p, l).timestamp.unwrap().year();
    assert_eq!(year(&mut p, "Dec 31 23:59:59 h app: a"), 2015);
    assert_eq!(year(&mut p, "Jan  1 00:00:01 h app: b"), 2016);
    // A late straggler from December stays in the old year.
    assert_eq!(year(&mut p, "Dec 31 23:59:58 h app: c"), 2015);
    assert_eq!(year(&mut p, "Feb  1 00:00:00 h app: d"), 2016);
    assert_eq!(p.year(), 2016);
    // An explicit year wins.
    assert_eq!(year(&mut p, "Mar  3 2020 10:00:00 h app: e"), 2020);
}

#[test]
fn impossible_dates_keep_the_record() {
    let e = parse("Feb 30 10:00:00 host app: x");
    assert!(e.timestamp.is_none());
}

#[test]
fn blank_and_bad_lines() {
    let mut p = SyslogFormat::default();
    assert!(p.parse_line("", Origin::default()).unwrap().is_none());
    assert!(
        p.parse_line("  \u{feff}", Origin::default())
            .unwrap()
            .is_none()
    );
    let err = p
        .parse_line("not syslog at all", Origin::default())
        .unwrap_err();
    assert!(err.0.contains("timestamp"), "{err}");
    assert!(
        p.parse_line("<300>Jan  1 00:00:00 h a: b", Origin::default())
            .is_err()
    );
}

#[test]
fn sniffs() {
    assert!(sniff("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: x"));
    assert!(sniff("\u{feff}<13>1 - - - - - - x"));
    assert!(!sniff("CEF:0|a|b|c|d|e|f|"));
    assert!(!sniff("{\"a\":1}"));
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

proptest! {
    #[test]
    fn never_panics_on_text(line in "\\PC*") {
        let _ = SyslogFormat::default().parse_line(&line, Origin::default());
        let _ = sniff(&line);
    }

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = SyslogFormat::default().parse_line(&line, Origin::default());
    }

    #[test]
    fn never_panics_on_mutated_lines(
        base in prop::sample::select(vec![
            "<38>Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user x from 1.2.3.4 port 22 ssh2",
            "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=1.2.3.4  user=root",
            r#"<165>1 2003-10-11T22:14:15.003Z host app 1 ID [a b="c\"]" d="e"][f g="h"] msg"#,
            "Mar  1 10:00:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
            "Mar  1 10:00:00 web1 sshd[1]: message repeated 2 times: [ Accepted password for a from 1.2.3.4 port 1 ssh2]",
            "Mar  1 10:00:00 web1 sshd[1]: Received disconnect from 1.2.3.4 port 22:11: Bye [preauth]",
        ]),
        cut in 0usize..200,
        insert in "\\PC{0,4}",
    ) {
        let mut s = base.to_string();
        let at = (0..=cut.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.insert_str(at, &insert);
        let _ = SyslogFormat::default().parse_line(&s, Origin::default());
        let cut_at = (0..=cut.min(base.len())).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
        let _ = SyslogFormat::default().parse_line(&base[..cut_at], Origin::default());
    }

    #[test]
    fn rfc3164_round_trips(
        pri in 0u8..192,
        month in 0usize..12,
        day in 1u32..29,
        (h, m, s) in (0u32..24, 0u32..60, 0u32..60),
        host in "[a-z][a-z0-9.-]{0,20}",
        app in "[a-z][a-z0-9_-]{0,15}",
        pid in 1u32..100_000,
        msg in "[!-~][ -~]{0,80}[!-~]",
    ) {
        let line = format!("<{pri}>{} {day:>2} {h:02}:{m:02}:{s:02} {host} {app}[{pid}]: {msg}", MONTHS[month]);
        let e = parse(&line);
        let ts = e.timestamp.unwrap();
        prop_assert_eq!((ts.month(), ts.day()), (month as u32 + 1, day));
        prop_assert_eq!(text(&e, "host.name"), Some(host));
        prop_assert_eq!(text(&e, "log.syslog.appname"), Some(app));
        prop_assert_eq!(e.get_by_name("process.pid"), Some(&Value::Int(i64::from(pid))));
        prop_assert_eq!(e.get_by_name("log.syslog.severity.code"), Some(&Value::Int(i64::from(pri % 8))));
        prop_assert_eq!(text(&e, "message"), Some(msg));
    }

    #[test]
    fn rfc5424_structured_data_round_trips(
        params in proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,10}", "[ -~]{0,20}", 0..5),
        msg in "[!-~]{0,40}",
    ) {
        let sd: String = params.iter().map(|(k, v)| format!(" {k}=\"{}\"", sd::escape(v))).collect();
        let line = format!("<14>1 2024-01-01T00:00:00Z h app - - [id@1{sd}] {msg}");
        let e = parse(&line);
        for (k, v) in &params {
            let got = text(&e, &format!("log.syslog.structured_data.id@1.{k}"));
            prop_assert_eq!(got.as_deref(), Some(v.as_str()));
        }
        prop_assert_eq!(text(&e, "message"), Some(msg));
    }

    #[test]
    fn sshd_failures_round_trip(
        user in "[a-z_][a-z0-9_.-]{0,20}",
        invalid in any::<bool>(),
        ip in (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
        port in 1u16..,
    ) {
        let ip = format!("{}.{}.{}.{}", ip.0, ip.1, ip.2, ip.3);
        let who = if invalid { format!("invalid user {user}") } else { user.clone() };
        let line = format!("Dec 10 06:55:46 LabSZ sshd[1]: Failed password for {who} from {ip} port {port} ssh2");
        let e = parse(&line);
        prop_assert_eq!(text(&e, "user.name"), Some(user));
        prop_assert_eq!(text(&e, "source.ip"), Some(ip));
        prop_assert_eq!(e.get_by_name("source.port"), Some(&Value::Int(i64::from(port))));
        prop_assert_eq!(text(&e, "event.outcome"), Some("failure".to_string()));
    }
}
