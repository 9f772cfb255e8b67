//! Log-source routing: which events a rule sees.
//!
//! A Sigma rule names the logs it was written for (`product`, `category`, `service`); running it
//! on other logs wastes time and raises false alarms (a `process_creation` rule reading a
//! firewall log). Each rule's log source becomes a [`Route`]: for Windows, the channels, event
//! IDs and extra field conditions the Sigma taxonomy assigns (see `docs/logsource.md`); for
//! other products, the product/service the parsers attach to events.
//!
//! Events are reduced to a [`RouteKey`]; the engine groups rules per key once, so routing costs
//! one hash lookup per event.

use palisade_event::{Event, FieldId, Value};

/// Sysmon's channel.
const SYSMON: &str = "microsoft-windows-sysmon/operational";
const PS_OPERATIONAL: &[&str] = &[
    "microsoft-windows-powershell/operational",
    "powershellcore/operational",
];

/// Windows services (Sigma taxonomy) and the channels they read.
pub const WINDOWS_SERVICES: &[(&str, &[&str])] = &[
    ("application", &["application"]),
    (
        "application-experience",
        &[
            "microsoft-windows-application-experience/program-telemetry",
            "microsoft-windows-application-experience/program-compatibility-assistant",
        ],
    ),
    (
        "applocker",
        &[
            "microsoft-windows-applocker/msi and script",
            "microsoft-windows-applocker/exe and dll",
            "microsoft-windows-applocker/packaged app-deployment",
            "microsoft-windows-applocker/packaged app-execution",
        ],
    ),
    (
        "appmodel-runtime",
        &["microsoft-windows-appmodel-runtime/admin"],
    ),
    (
        "appxdeployment-server",
        &["microsoft-windows-appxdeploymentserver/operational"],
    ),
    (
        "appxpackaging-om",
        &["microsoft-windows-appxpackaging/operational"],
    ),
    (
        "bitlocker",
        &["microsoft-windows-bitlocker/bitlocker management"],
    ),
    (
        "bits-client",
        &["microsoft-windows-bits-client/operational"],
    ),
    ("capi2", &["microsoft-windows-capi2/operational"]),
    (
        "certificateservicesclient-lifecycle-system",
        &["microsoft-windows-certificateservicesclient-lifecycle-system/operational"],
    ),
    (
        "codeintegrity-operational",
        &["microsoft-windows-codeintegrity/operational"],
    ),
    ("dhcp", &["microsoft-windows-dhcp-server/operational"]),
    (
        "diagnosis-scripted",
        &["microsoft-windows-diagnosis-scripted/operational"],
    ),
    (
        "dns-client",
        &["microsoft-windows-dns client events/operational"],
    ),
    ("dns-server", &["dns server"]),
    (
        "dns-server-analytic",
        &["microsoft-windows-dns-server/analytical"],
    ),
    ("dns-server-audit", &["microsoft-windows-dns-server/audit"]),
    (
        "driver-framework",
        &["microsoft-windows-driverframeworks-usermode/operational"],
    ),
    (
        "firewall-as",
        &["microsoft-windows-windows firewall with advanced security/firewall"],
    ),
    (
        "hyper-v-worker",
        &[
            "microsoft-windows-hyper-v-worker",
            "microsoft-windows-hyper-v-worker-admin",
        ],
    ),
    (
        "iis-configuration",
        &["microsoft-iis-configuration/operational"],
    ),
    (
        "kernel-event-tracing",
        &["microsoft-windows-kernel-eventtracing"],
    ),
    (
        "kernel-shimengine",
        &[
            "microsoft-windows-kernel-shimengine/operational",
            "microsoft-windows-kernel-shimengine/diagnostic",
        ],
    ),
    ("ldap", &["microsoft-windows-ldap-client/debug"]),
    ("ldap_debug", &["microsoft-windows-ldap-client/debug"]),
    ("lsa-server", &["microsoft-windows-lsa/operational"]),
    (
        "microsoft-servicebus-client",
        &["microsoft-servicebus-client"],
    ),
    ("msexchange-management", &["msexchange management"]),
    ("ntfs", &["microsoft-windows-ntfs/operational"]),
    ("ntlm", &["microsoft-windows-ntlm/operational"]),
    ("openssh", &["openssh/operational"]),
    ("powershell", PS_OPERATIONAL),
    ("powershell-classic", &["windows powershell"]),
    (
        "printservice-admin",
        &["microsoft-windows-printservice/admin"],
    ),
    (
        "printservice-operational",
        &["microsoft-windows-printservice/operational"],
    ),
    ("security", &["security"]),
    (
        "security-mitigations",
        &[
            "microsoft-windows-security-mitigations/kernel mode",
            "microsoft-windows-security-mitigations/user mode",
        ],
    ),
    ("sense", &["microsoft-windows-sense/operational"]),
    (
        "servicebus-client",
        &[
            "microsoft-servicebus-client/operational",
            "microsoft-servicebus-client/admin",
        ],
    ),
    ("shell-core", &["microsoft-windows-shell-core/operational"]),
    (
        "smbclient-connectivity",
        &["microsoft-windows-smbclient/connectivity"],
    ),
    (
        "smbclient-security",
        &["microsoft-windows-smbclient/security"],
    ),
    (
        "smbserver-connectivity",
        &["microsoft-windows-smbserver/connectivity"],
    ),
    ("sysmon", &[SYSMON]),
    ("system", &["system"]),
    (
        "taskscheduler",
        &["microsoft-windows-taskscheduler/operational"],
    ),
    (
        "terminalservices-localsessionmanager",
        &["microsoft-windows-terminalservices-localsessionmanager/operational"],
    ),
    ("vhdmp", &["microsoft-windows-vhdmp/operational"]),
    (
        "windefend",
        &["microsoft-windows-windows defender/operational"],
    ),
    ("wmi", &["microsoft-windows-wmi-activity/operational"]),
];

/// A Windows category: channels, event IDs, and an extra field condition.
pub struct WindowsCategory {
    pub name: &'static str,
    pub channels: &'static [&'static str],
    pub event_ids: &'static [i64],
    /// `(field, allowed values)`, e.g. Sysmon 12's `EventType` for registry_add.
    pub guard: Option<(&'static str, &'static [&'static str])>,
}

const fn sysmon(name: &'static str, ids: &'static [i64]) -> WindowsCategory {
    WindowsCategory {
        name,
        channels: &[SYSMON],
        event_ids: ids,
        guard: None,
    }
}

/// Windows categories (Sigma taxonomy).
pub const WINDOWS_CATEGORIES: &[WindowsCategory] = &[
    sysmon("process_creation", &[1]),
    sysmon("file_change", &[2]),
    sysmon("network_connection", &[3]),
    sysmon("sysmon_status", &[4, 16]),
    sysmon("process_termination", &[5]),
    sysmon("driver_load", &[6]),
    sysmon("image_load", &[7]),
    sysmon("create_remote_thread", &[8]),
    sysmon("raw_access_thread", &[9]),
    sysmon("process_access", &[10]),
    sysmon("file_event", &[11]),
    sysmon("registry_event", &[12, 13, 14]),
    WindowsCategory {
        name: "registry_add",
        channels: &[SYSMON],
        event_ids: &[12],
        guard: Some(("EventType", &["CreateKey"])),
    },
    WindowsCategory {
        name: "registry_delete",
        channels: &[SYSMON],
        event_ids: &[12],
        guard: Some(("EventType", &["DeleteKey", "DeleteValue"])),
    },
    sysmon("registry_set", &[13]),
    sysmon("registry_rename", &[14]),
    sysmon("create_stream_hash", &[15]),
    sysmon("pipe_created", &[17, 18]),
    sysmon("wmi_event", &[19, 20, 21]),
    sysmon("dns_query", &[22]),
    sysmon("file_delete", &[23]),
    sysmon("clipboard_capture", &[24]),
    sysmon("process_tampering", &[25]),
    sysmon("file_delete_detected", &[26]),
    sysmon("file_block_executable", &[27]),
    sysmon("file_block_shredding", &[28]),
    sysmon("file_executable_detected", &[29]),
    sysmon("sysmon_error", &[255]),
    WindowsCategory {
        name: "ps_classic_start",
        channels: &["windows powershell"],
        event_ids: &[400],
        guard: None,
    },
    WindowsCategory {
        name: "ps_classic_provider_start",
        channels: &["windows powershell"],
        event_ids: &[600],
        guard: None,
    },
    WindowsCategory {
        name: "ps_classic_script",
        channels: &["windows powershell"],
        event_ids: &[800],
        guard: None,
    },
    WindowsCategory {
        name: "ps_module",
        channels: PS_OPERATIONAL,
        event_ids: &[4103],
        guard: None,
    },
    WindowsCategory {
        name: "ps_script",
        channels: PS_OPERATIONAL,
        event_ids: &[4104],
        guard: None,
    },
];

/// Products whose events Palisade's parsers label precisely; rules for them never run on
/// events of unknown product.
const PRECISE_PRODUCTS: &[&str] = &["windows", "linux", "zeek"];

/// Linux programs whose messages land in auth.log.
const LINUX_AUTH_PROGRAMS: &[&str] = &[
    "sshd",
    "sudo",
    "su",
    "login",
    "passwd",
    "chpasswd",
    "useradd",
    "userdel",
    "usermod",
    "groupadd",
    "groupdel",
    "groupmod",
    "gpasswd",
    "chage",
    "systemd-logind",
    "polkitd",
    "pkexec",
    "cron",
    "crond",
    "unix_chkpwd",
    "gdm-password",
    "lightdm",
    "vsftpd",
    "dovecot",
];

/// The routing attributes of one event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RouteKey {
    pub product: Option<String>,
    pub service: Option<String>,
    /// Windows channel, lower-case.
    pub channel: Option<String>,
    pub event_id: Option<i64>,
    /// Windows provider, lower-case.
    pub provider: Option<String>,
}

/// Field ids the router reads, resolved once.
pub struct RouteFields {
    pub channel: FieldId,
    pub event_id: FieldId,
    pub provider: FieldId,
}

impl RouteFields {
    pub fn new() -> Self {
        RouteFields {
            channel: FieldId::known("Channel"),
            event_id: FieldId::known("EventID"),
            provider: FieldId::known("Provider_Name"),
        }
    }
}

impl Default for RouteFields {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteKey {
    /// Writes the routing key of `event` into `out` (reused buffer) as a compact string.
    pub fn write_key(event: &Event, f: &RouteFields, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        out.push_str(event.meta.product.as_deref().unwrap_or(""));
        out.push('\u{1f}');
        out.push_str(event.meta.service.as_deref().unwrap_or(""));
        out.push('\u{1f}');
        if let Some(ch) = event.get(f.channel).and_then(Value::as_str) {
            push_lower(out, ch);
        }
        out.push('\u{1f}');
        if let Some(id) = event.get(f.event_id).and_then(Value::as_i64) {
            let _ = write!(out, "{id}");
        }
        out.push('\u{1f}');
        if let Some(p) = event.get(f.provider).and_then(Value::as_str) {
            push_lower(out, p);
        }
    }

    /// Rebuilds the key from its string form.
    pub fn from_key(key: &str) -> RouteKey {
        let mut parts = key.split('\u{1f}');
        let mut next = || parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
        RouteKey {
            product: next(),
            service: next(),
            channel: next(),
            event_id: next().and_then(|s| s.parse().ok()),
            provider: next(),
        }
    }
}

/// Appends `s` lower-cased; ASCII text (nearly every channel and provider) without going
/// through Unicode case mapping.
fn push_lower(out: &mut String, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.push_str(&s.to_lowercase());
    }
}

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Windows events on these channels (`None`: any) with these IDs (`None`: any).
    Windows {
        channels: Option<Vec<String>>,
        event_ids: Option<Vec<i64>>,
        guard: Option<(&'static str, &'static [&'static str])>,
    },
    /// Non-Windows events, by the product/service labels parsers attach.
    Labelled {
        product: Option<String>,
        service: Option<Vec<String>>,
        category: Option<String>,
    },
    /// Every event (routing disabled).
    Everything,
    /// No supported log carries these events.
    Nowhere(String),
}

/// Computes the route of a rule's log source.
pub fn route_for(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> Route {
    let windows_category = category.and_then(|c| WINDOWS_CATEGORIES.iter().find(|w| w.name == c));
    let windows_service = service.and_then(|s| {
        WINDOWS_SERVICES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, ch)| *ch)
    });
    let is_windows = product == Some("windows")
        || (product.is_none() && (windows_category.is_some() || windows_service.is_some()));
    if !is_windows {
        return labelled_route(product, category, service);
    }
    let mut channels: Option<Vec<String>> = None;
    let mut event_ids = None;
    let mut guard = None;
    if let Some(s) = service {
        match windows_service {
            Some(ch) => channels = Some(ch.iter().map(|c| (*c).to_owned()).collect()),
            None => return Route::Nowhere(format!("unknown Windows service {s:?}")),
        }
    }
    if let Some(c) = category {
        let Some(cat) = windows_category else {
            return Route::Nowhere(format!(
                "Windows category {c:?} has no event log mapping (e.g. ETW-only telemetry)"
            ));
        };
        let cat_channels: Vec<String> = cat.channels.iter().map(|c| (*c).to_owned()).collect();
        channels = Some(match channels {
            None => cat_channels,
            Some(svc) => svc
                .into_iter()
                .filter(|c| cat_channels.contains(c))
                .collect(),
        });
        event_ids = Some(cat.event_ids.to_vec());
        guard = cat.guard;
    }
    Route::Windows {
        channels,
        event_ids,
        guard,
    }
}

fn labelled_route(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> Route {
    let service = service.map(|s| match (product, s) {
        (Some("linux"), "auth") => LINUX_AUTH_PROGRAMS
            .iter()
            .map(|p| (*p).to_owned())
            .collect(),
        (Some("linux"), "cron") => vec!["cron".into(), "crond".into()],
        (Some("linux"), "syslog") => Vec::new(),
        (_, s) => vec![s.to_owned()],
    });
    // `service: syslog` on Linux means every syslog message.
    let service = service.filter(|s| !s.is_empty());
    if product == Some("linux") && category.is_some() {
        return Route::Nowhere(format!(
            "Linux category {:?} needs Sysmon for Linux or auditd events, which no parser produces yet",
            category.unwrap_or_default()
        ));
    }
    Route::Labelled {
        product: product.map(str::to_owned),
        service,
        category: category.map(str::to_owned),
    }
}

/// Three-valued truth, for deciding rule membership before seeing field values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    False,
    Unknown,
    True,
}

impl From<bool> for Tri {
    fn from(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }
}

impl Route {
    /// Whether events with `key` can satisfy this route.
    pub fn admits(&self, key: &RouteKey) -> bool {
        match self {
            Route::Everything => true,
            Route::Nowhere(_) => false,
            Route::Windows {
                channels,
                event_ids,
                ..
            } => {
                key.product.as_deref() == Some("windows")
                    && channels.as_ref().is_none_or(|cs| {
                        key.channel
                            .as_ref()
                            .is_some_and(|ch| cs.iter().any(|c| c == ch))
                    })
                    && event_ids
                        .as_ref()
                        .is_none_or(|ids| key.event_id.is_some_and(|id| ids.contains(&id)))
            }
            Route::Labelled {
                product,
                service,
                category,
            } => {
                let event_product = key.product.as_deref();
                let product_ok = match (product.as_deref(), event_product) {
                    (None, _) => true,
                    (Some(p), Some(e)) => p.eq_ignore_ascii_case(e),
                    (Some(p), None) => !PRECISE_PRODUCTS.contains(&p),
                };
                let precise_event = event_product.is_some_and(|p| PRECISE_PRODUCTS.contains(&p));
                let service_ok = match (service, key.service.as_deref()) {
                    (None, _) => true,
                    (Some(list), Some(s)) => list.iter().any(|l| l.eq_ignore_ascii_case(s)),
                    (Some(_), None) => !precise_event,
                };
                let category_ok = match category.as_deref() {
                    None => true,
                    // Zeek's dns log is the generic dns category.
                    Some("dns") if event_product == Some("zeek") => {
                        key.service.as_deref() == Some("dns")
                    }
                    Some(_) => !precise_event,
                };
                product_ok && service_ok && category_ok
            }
        }
    }

    /// Whether some event of the log `key` names (its product, service and channel, whatever
    /// its EventID) can satisfy this route.
    pub fn admits_log(&self, key: &RouteKey) -> bool {
        let any_id = RouteKey {
            event_id: None,
            provider: None,
            ..key.clone()
        };
        match self {
            Route::Windows {
                channels, guard, ..
            } => Route::Windows {
                channels: channels.clone(),
                event_ids: None,
                guard: *guard,
            }
            .admits(&any_id),
            other => other.admits(&any_id),
        }
    }

    /// The extra field condition the route puts on events (Sysmon 12's `EventType`).
    pub fn guard(&self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            Route::Windows { guard, .. } => *guard,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(product: &str, service: &str, channel: &str, id: Option<i64>) -> RouteKey {
        let s = |x: &str| (!x.is_empty()).then(|| x.to_owned());
        RouteKey {
            product: s(product),
            service: s(service),
            channel: s(channel),
            event_id: id,
            provider: None,
        }
    }

    #[test]
    fn windows_categories_route_by_channel_and_id() {
        let r = route_for(Some("windows"), Some("process_creation"), None);
        assert!(r.admits(&key("windows", "", SYSMON, Some(1))));
        assert!(!r.admits(&key("windows", "", SYSMON, Some(3))));
        assert!(!r.admits(&key("windows", "", "security", Some(1))));
        let r = route_for(Some("windows"), None, Some("security"));
        assert!(r.admits(&key("windows", "", "security", Some(4624))));
        assert!(!r.admits(&key("linux", "sshd", "", None)));
        let r = route_for(Some("windows"), Some("ps_script"), None);
        assert!(r.admits(&key(
            "windows",
            "",
            "powershellcore/operational",
            Some(4104)
        )));
        assert!(matches!(
            route_for(Some("windows"), None, Some("nosuch")),
            Route::Nowhere(_)
        ));
    }

    #[test]
    fn labelled_products() {
        let sshd = route_for(Some("linux"), None, Some("sshd"));
        assert!(sshd.admits(&key("linux", "sshd", "", None)));
        assert!(!sshd.admits(&key("linux", "sudo", "", None)));
        assert!(!sshd.admits(&key("", "", "", None)));
        let auth = route_for(Some("linux"), None, Some("auth"));
        assert!(auth.admits(&key("linux", "sudo", "", None)));
        let aws = route_for(Some("aws"), None, Some("cloudtrail"));
        assert!(aws.admits(&key("", "", "", None)));
        assert!(!aws.admits(&key("windows", "", "security", Some(1))));
        let dns = route_for(None, Some("dns"), None);
        assert!(dns.admits(&key("zeek", "dns", "", None)));
        assert!(!dns.admits(&key("zeek", "conn", "", None)));
    }

    #[test]
    fn key_round_trip() {
        let mut e = Event::new(Default::default(), "evtx");
        e.meta.product = Some("windows".into());
        e.insert_named("Channel", "Microsoft-Windows-Sysmon/Operational".into())
            .unwrap();
        e.insert_named("EventID", Value::Int(1)).unwrap();
        let mut s = String::new();
        RouteKey::write_key(&e, &RouteFields::new(), &mut s);
        assert_eq!(RouteKey::from_key(&s), key("windows", "", SYSMON, Some(1)));
    }
}
