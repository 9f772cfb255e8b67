//! What Zeek's field names mean in ECS: one alias table per log type, and the log type
//! inferred from the fields when a log does not say (`#path` / `_path`).

use std::sync::LazyLock;

use palisade_event::AliasTable;

type Pairs = &'static [(&'static str, &'static str)];

/// Every Zeek log keyed by a connection has these.
const COMMON: Pairs = &[
    ("source.ip", "id.orig_h"),
    ("source.port", "id.orig_p"),
    ("destination.ip", "id.resp_h"),
    ("destination.port", "id.resp_p"),
    ("network.transport", "proto"),
    ("zeek.session_id", "uid"),
];

const CONN: Pairs = &[
    ("source.bytes", "orig_bytes"),
    ("destination.bytes", "resp_bytes"),
    ("source.packets", "orig_pkts"),
    ("destination.packets", "resp_pkts"),
    ("event.duration", "duration"),
    ("network.protocol", "service"),
];

const DNS: Pairs = &[
    ("dns.question.name", "query"),
    ("dns.question.type", "qtype_name"),
    ("dns.question.class", "qclass_name"),
    ("dns.response_code", "rcode_name"),
    ("dns.id", "trans_id"),
    ("dns.answers.data", "answers"),
    ("dns.answers.ttl", "TTLs"),
];

const HTTP: Pairs = &[
    ("url.original", "uri"),
    ("url.domain", "host"),
    ("http.request.method", "method"),
    ("http.request.referrer", "referrer"),
    ("http.request.body.bytes", "request_body_len"),
    ("http.response.status_code", "status_code"),
    ("http.response.body.bytes", "response_body_len"),
    ("http.version", "version"),
    ("user_agent.original", "user_agent"),
    ("user.name", "username"),
];

const SSL: Pairs = &[
    ("tls.client.server_name", "server_name"),
    ("tls.server_name", "server_name"),
    ("destination.domain", "server_name"),
    ("tls.version", "version"),
    ("tls.cipher", "cipher"),
    ("tls.curve", "curve"),
    ("tls.established", "established"),
    ("tls.resumed", "resumed"),
    ("tls.next_protocol", "next_protocol"),
    ("tls.server.subject", "subject"),
    ("tls.server.issuer", "issuer"),
];

const NOTICE: Pairs = &[("rule.name", "note"), ("message", "msg")];

const WEIRD: Pairs = &[("rule.name", "name")];

const FILES: Pairs = &[
    ("file.mime_type", "mime_type"),
    ("file.name", "filename"),
    ("file.size", "total_bytes"),
    ("file.hash.md5", "md5"),
    ("file.hash.sha1", "sha1"),
    ("file.hash.sha256", "sha256"),
    ("source.ip", "tx_hosts"),
    ("destination.ip", "rx_hosts"),
    ("event.duration", "duration"),
];

const SIP: Pairs = &[
    ("url.original", "uri"),
    ("user_agent.original", "user_agent"),
];

const FTP: Pairs = &[("user.name", "user"), ("url.original", "arg")];

const SMTP: Pairs = &[
    ("email.from.address", "mailfrom"),
    ("email.to.address", "rcptto"),
    ("email.subject", "subject"),
    ("user_agent.original", "user_agent"),
];

fn build(extra: Pairs) -> AliasTable {
    // `files` names its endpoints differently, so its pairs replace the common ones.
    let mut pairs: Vec<_> = COMMON
        .iter()
        .filter(|(alias, _)| !extra.iter().any(|(a, _)| a == alias))
        .copied()
        .collect();
    pairs.extend_from_slice(extra);
    AliasTable::new(&pairs)
}

/// The ECS aliases for one Zeek log type (`conn`, `dns`, …); the common ones for others.
pub(super) fn aliases(service: &str) -> &'static AliasTable {
    macro_rules! table {
        ($pairs:expr) => {{
            static T: LazyLock<AliasTable> = LazyLock::new(|| build($pairs));
            &T
        }};
    }
    match service {
        "conn" => table!(CONN),
        "dns" => table!(DNS),
        "http" => table!(HTTP),
        "ssl" => table!(SSL),
        "notice" => table!(NOTICE),
        "weird" => table!(WEIRD),
        "files" => table!(FILES),
        "sip" => table!(SIP),
        "ftp" => table!(FTP),
        "smtp" => table!(SMTP),
        _ => table!(&[]),
    }
}

/// Fields that only one log type has, in the order they are tried (`sip` before `http`,
/// which shares `trans_depth` with it).
const SIGNATURES: &[(&str, &str)] = &[
    ("conn_state", "conn"),
    ("qtype_name", "dns"),
    ("rcode_name", "dns"),
    ("call_id", "sip"),
    ("status_code", "http"),
    ("trans_depth", "http"),
    ("server_name", "ssl"),
    ("cipher", "ssl"),
    ("auth_attempts", "ssh"),
    ("auth_success", "ssh"),
    ("host_key", "ssh"),
    ("note", "notice"),
    ("software_type", "software"),
    ("certificate.serial", "x509"),
    ("seen_bytes", "files"),
    ("addl", "weird"),
    ("failure_reason", "dpd"),
    ("tunnel_type", "tunnel"),
    ("assigned_addr", "dhcp"),
    ("mailfrom", "smtp"),
    ("reply_code", "ftp"),
    ("request_type", "kerberos"),
];

/// The log type whose signature field `has` reports present.
pub(super) fn infer_service(has: impl Fn(&str) -> bool) -> Option<&'static str> {
    SIGNATURES
        .iter()
        .find(|(field, _)| has(field))
        .map(|(_, service)| *service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_event::FieldId;

    #[test]
    fn tables_resolve_per_log_type() {
        let conn = aliases("conn");
        let target = conn.target(FieldId::known("source.bytes")).unwrap();
        assert_eq!(target.as_str(), "orig_bytes");
        assert_eq!(
            conn.target(FieldId::known("source.ip")).unwrap().as_str(),
            "id.orig_h"
        );
        let files = aliases("files");
        assert_eq!(
            files.target(FieldId::known("source.ip")).unwrap().as_str(),
            "tx_hosts"
        );
        assert!(
            aliases("ssh")
                .target(FieldId::known("url.original"))
                .is_none()
        );
    }

    #[test]
    fn inference() {
        let fields = ["ts", "uid", "trans_depth", "call_id"];
        assert_eq!(infer_service(|f| fields.contains(&f)), Some("sip"));
        assert_eq!(infer_service(|f| f == "conn_state"), Some("conn"));
        assert_eq!(infer_service(|_| false), None);
    }
}
