//! The entities an alert is about: users, hosts, IP addresses, processes, files.
//!
//! Every detector fills the shared [`Alert`] differently (Sigma keeps the matched event,
//! correlations keep their group-by values as evidence, anomaly and UEBA keep the event plus
//! explanations), so entities are read from the alert's host, its event and its evidence through
//! one table of field names per entity kind ([`FIELDS`]). Values are normalised (users and hosts
//! lower-case, IPs in canonical form) so `ALICE` on one host and `alice` in a Zeek log link.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use palisade_event::{Alert, Event};
use serde::{Deserialize, Serialize};

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    User,
    Host,
    Ip,
    Process,
    File,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Host => "host",
            EntityKind::Ip => "ip",
            EntityKind::Process => "process",
            EntityKind::File => "file",
        }
    }
}

impl FromStr for EntityKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "user" => Ok(EntityKind::User),
            "host" => Ok(EntityKind::Host),
            "ip" => Ok(EntityKind::Ip),
            "process" => Ok(EntityKind::Process),
            "file" => Ok(EntityKind::File),
            other => Err(format!(
                "unknown entity kind {other:?} (expected user, host, ip, process or file)"
            )),
        }
    }
}

/// One entity: a kind and a normalised value. Processes and files are scoped by their host
/// (`host|path`), so `powershell.exe` on two machines is two entities.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub value: String,
}

impl Entity {
    pub fn new(kind: EntityKind, value: impl Into<String>) -> Entity {
        Entity {
            kind,
            value: value.into(),
        }
    }

    /// Parses `kind:value` (as the CLI and suppressions write it).
    pub fn parse(s: &str) -> Result<Entity, String> {
        let (k, v) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: expected kind:value, e.g. user:alice or ip:10.0.0.5"))?;
        let kind: EntityKind = k.parse()?;
        if kind == EntityKind::Ip
            && let Ok(net) = v.trim().parse::<ipnet::IpNet>()
        {
            // A network, for allowlists and suppressions.
            return Ok(Entity::new(kind, net.trunc().to_string()));
        }
        normalise(kind, v)
            .map(|value| Entity { kind, value })
            .ok_or_else(|| format!("{s:?}: not a usable {} value", kind.as_str()))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

/// Field names that carry each kind of entity, across the formats Palisade reads (ECS, Windows
/// Security and Sysmon, Zeek, syslog-derived auth events). Order does not matter.
pub const FIELDS: &[(EntityKind, &[&str])] = &[
    (
        EntityKind::User,
        &[
            "user.name",
            "TargetUserName",
            "SubjectUserName",
            "User",
            "AccountName",
            "UserName",
            "user",
            "username",
        ],
    ),
    (
        EntityKind::Host,
        &["host.name", "Computer", "host.hostname", "WorkstationName"],
    ),
    (
        EntityKind::Ip,
        &[
            "source.ip",
            "destination.ip",
            "client.ip",
            "id.orig_h",
            "id.resp_h",
            "IpAddress",
            "SourceAddress",
            "DestAddress",
            "SourceIp",
            "DestinationIp",
            "src_ip",
            "dst_ip",
        ],
    ),
    (
        EntityKind::Process,
        &[
            "process.executable",
            "Image",
            "NewProcessName",
            "ProcessName",
        ],
    ),
    (EntityKind::File, &["file.path", "TargetFilename"]),
];

/// Built-in Windows principals and placeholders: never an entity (they would tie unrelated
/// machines together).
const NOT_USERS: &[&str] = &[
    "-",
    "system",
    "local service",
    "network service",
    "anonymous logon",
    "n/a",
    "nt authority\\system",
    "unknown",
];

/// Normalises a raw value of `kind`; `None` when it names nothing useful.
pub fn normalise(kind: EntityKind, raw: &str) -> Option<String> {
    let v = raw.trim_matches(|c: char| c.is_whitespace() || c == '"');
    if v.is_empty() || v == "-" || v == "(empty)" {
        return None;
    }
    match kind {
        EntityKind::User => {
            let l = v.to_lowercase();
            if NOT_USERS.contains(&l.as_str()) {
                return None;
            }
            // `DOMAIN\user` and `user@domain` name the same person as `user`.
            let bare = l.rsplit_once('\\').map_or(l.as_str(), |(_, u)| u);
            let bare = bare.split_once('@').map_or(bare, |(u, _)| u);
            let bare = bare.trim_matches(|c: char| c.is_whitespace() || c == '"');
            // Machine accounts (`HOST$`) are hosts acting, not people.
            (!bare.is_empty() && bare != "-" && !bare.ends_with('$') && !NOT_USERS.contains(&bare))
                .then(|| bare.to_string())
        }
        EntityKind::Host => {
            let l = v.to_lowercase();
            (l != "localhost" && l != "(empty)").then_some(l)
        }
        EntityKind::Ip => {
            let ip: IpAddr = v.parse().ok()?;
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                v4 => v4,
            };
            (!ip.is_loopback() && !ip.is_unspecified() && !ip.is_multicast())
                .then(|| ip.to_string())
        }
        EntityKind::Process | EntityKind::File => Some(v.to_lowercase()),
    }
}

fn push(out: &mut Vec<Entity>, e: Entity) {
    if !out.contains(&e) {
        out.push(e);
    }
}

fn from_lookup<'a>(
    host: Option<&str>,
    out: &mut Vec<Entity>,
    mut get: impl FnMut(&str) -> Option<std::borrow::Cow<'a, str>>,
) {
    for (kind, names) in FIELDS {
        for name in names.iter() {
            let Some(raw) = get(name) else { continue };
            let Some(v) = normalise(*kind, &raw) else {
                continue;
            };
            let value = match (kind, host) {
                (EntityKind::Process | EntityKind::File, Some(h)) => format!("{h}|{v}"),
                (EntityKind::Process | EntityKind::File, None) => v,
                _ => v,
            };
            push(out, Entity::new(*kind, value));
        }
    }
}

/// The entities of one event.
pub fn entities_of_event(event: &Event) -> Vec<Entity> {
    let mut out = Vec::new();
    let host = event
        .host()
        .and_then(|v| normalise(EntityKind::Host, &v.to_string()));
    from_lookup(host.as_deref(), &mut out, |name| {
        event
            .get_by_name(name)
            .filter(|v| !v.is_null())
            .map(|v| std::borrow::Cow::Owned(v.to_string()))
    });
    out
}

/// The entities of an alert: its host, its event's entities and entities named by its
/// evidence (correlation group-by values), without duplicates, in a stable order.
pub fn entities_of(alert: &Alert) -> Vec<Entity> {
    let mut out = Vec::new();
    let host = alert
        .host
        .as_deref()
        .and_then(|h| normalise(EntityKind::Host, h));
    if let Some(h) = &host {
        push(&mut out, Entity::new(EntityKind::Host, h.clone()));
    }
    if let Some(ev) = &alert.event {
        for e in entities_of_event(ev) {
            push(&mut out, e);
        }
    }
    from_lookup(host.as_deref(), &mut out, |name| {
        alert
            .evidence
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::borrow::Cow::Owned(v.clone()))
    });
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_event::{Origin, Value};

    fn event(pairs: &[(&str, &str)]) -> Event {
        let mut ev = Event::new(Origin::default(), "json");
        for (k, v) in pairs {
            ev.insert_named(k, Value::from(*v)).unwrap();
        }
        ev
    }

    #[test]
    fn users_are_normalised_and_placeholders_dropped() {
        assert_eq!(
            normalise(EntityKind::User, "CORP\\Alice").as_deref(),
            Some("alice")
        );
        assert_eq!(
            normalise(EntityKind::User, "bob@corp.example").as_deref(),
            Some("bob")
        );
        assert_eq!(normalise(EntityKind::User, "-"), None);
        assert_eq!(normalise(EntityKind::User, "SYSTEM"), None);
        assert_eq!(normalise(EntityKind::User, "WS01$"), None);
    }

    #[test]
    fn ips_are_canonical_and_local_noise_dropped() {
        assert_eq!(
            normalise(EntityKind::Ip, "::ffff:10.0.0.5").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(normalise(EntityKind::Ip, "127.0.0.1"), None);
        assert_eq!(normalise(EntityKind::Ip, "ff02::1"), None);
        assert_eq!(normalise(EntityKind::Ip, "not an ip"), None);
        assert_eq!(
            normalise(EntityKind::Ip, "2001:DB8::1").as_deref(),
            Some("2001:db8::1")
        );
    }

    #[test]
    fn processes_are_scoped_by_host() {
        let ev = event(&[
            ("Computer", "WS01.corp"),
            ("Image", "C:\\Windows\\System32\\cmd.exe"),
            ("User", "CORP\\alice"),
            ("IpAddress", "10.1.2.3"),
        ]);
        let got = entities_of_event(&ev);
        assert!(got.contains(&Entity::new(EntityKind::Host, "ws01.corp")));
        assert!(got.contains(&Entity::new(
            EntityKind::Process,
            "ws01.corp|c:\\windows\\system32\\cmd.exe"
        )));
        assert!(got.contains(&Entity::new(EntityKind::User, "alice")));
        assert!(got.contains(&Entity::new(EntityKind::Ip, "10.1.2.3")));
    }

    #[test]
    fn parse_round_trips_display() {
        let e = Entity::parse("user:CORP\\Alice").unwrap();
        assert_eq!(e.to_string(), "user:alice");
        assert_eq!(Entity::parse(&e.to_string()).unwrap(), e);
        assert!(Entity::parse("alice").is_err());
        assert!(Entity::parse("planet:mars").is_err());
        assert_eq!(Entity::parse("ip:10.1.2.3/8").unwrap().value, "10.0.0.0/8");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text: parsing never panics, and whatever parses prints back to itself.
        #[test]
        fn parse_is_total_and_round_trips(s in "\\PC{0,40}") {
            if let Ok(e) = Entity::parse(&s) {
                prop_assert_eq!(Entity::parse(&e.to_string()), Ok(e));
            }
        }

        /// Normalising is idempotent for every kind.
        #[test]
        fn normalise_is_idempotent(s in "[a-zA-Z0-9\\\\@$\" .:/()-]{0,16}|\\PC{0,24}", k in 0usize..5) {
            let kind = [EntityKind::User, EntityKind::Host, EntityKind::Ip, EntityKind::Process, EntityKind::File][k];
            if let Some(v) = normalise(kind, &s) {
                prop_assert_eq!(normalise(kind, &v), Some(v.clone()));
            }
        }

        /// A case proptest found: quotes and spaces interleaved at the end.
        #[test]
        fn quotes_and_spaces_are_trimmed_together(k in 0usize..5) {
            let kind = [EntityKind::User, EntityKind::Host, EntityKind::Ip, EntityKind::Process, EntityKind::File][k];
            if let Some(v) = normalise(kind, "a\" \"") {
                prop_assert_eq!(normalise(kind, &v), Some(v.clone()));
            }
        }
    }
}
