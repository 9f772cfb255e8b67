//! The simulated organisation: people, machines, addresses and the places they work from.
//!
//! Fixed rather than drawn from the seed, so that a demo always shows the same cast; the seed
//! varies *when* and *how much* they do. Every address outside `10.0.0.0/8` is in one of the
//! documentation ranges (RFC 5737: `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`), so
//! nothing the simulator writes points at a real host.

/// The Windows domain, and the suffix of every Windows host name.
pub const DOMAIN: &str = "CORP";
pub const DNS_SUFFIX: &str = "corp.example.com";

/// The office's public address (NAT), as the cloud sign-in service sees office logins.
pub const OFFICE_PUBLIC_IP: &str = "198.51.100.1";
pub const HOME_COUNTRY: &str = "DE";
pub const HOME_CITY: &str = "Berlin";

/// A person.
#[derive(Debug, Clone, Copy)]
pub struct User {
    pub name: &'static str,
    /// Index into [`WORKSTATIONS`] for office staff; `None` for remote staff, who are only seen
    /// signing in to the cloud services from home.
    pub workstation: Option<usize>,
    /// Minutes after 08:00 local time this person usually starts (±30 min a day).
    pub start_offset_min: i64,
    /// Hours they usually work.
    pub hours: f64,
    /// Administers the Linux servers over SSH.
    pub admin: bool,
    /// Home address (sign-ins from home).
    pub home_ip: &'static str,
    pub user_agent: &'static str,
    /// Travels on business now and then: some days sign in from this (country, city, ip).
    pub travels_to: Option<(&'static str, &'static str, &'static str)>,
}

const UA_WIN_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36";
const UA_WIN_EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36 Edg/133.0.0.0";
const UA_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15";
const UA_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1";
const UA_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0";

macro_rules! user {
    ($name:expr, $ws:expr, $start:expr, $hours:expr, $admin:expr, $home:expr, $ua:expr) => {
        User {
            name: $name,
            workstation: $ws,
            start_offset_min: $start,
            hours: $hours,
            admin: $admin,
            home_ip: $home,
            user_agent: $ua,
            travels_to: None,
        }
    };
}

/// Twenty people: ten at office workstations (two of them administrators), ten remote.
pub const USERS: [User; 20] = [
    user!(
        "alice",
        Some(0),
        0,
        9.0,
        false,
        "198.51.100.101",
        UA_WIN_CHROME
    ),
    user!(
        "bob",
        Some(1),
        30,
        8.5,
        false,
        "198.51.100.102",
        UA_WIN_CHROME
    ),
    user!(
        "carol",
        Some(2),
        -20,
        9.0,
        false,
        "198.51.100.103",
        UA_WIN_EDGE
    ),
    user!(
        "dave",
        Some(3),
        60,
        8.0,
        false,
        "198.51.100.104",
        UA_WIN_CHROME
    ),
    user!(
        "erin",
        Some(4),
        10,
        9.0,
        false,
        "198.51.100.105",
        UA_WIN_EDGE
    ),
    user!(
        "frank",
        Some(5),
        45,
        8.5,
        false,
        "198.51.100.106",
        UA_WIN_CHROME
    ),
    user!(
        "grace",
        Some(6),
        0,
        8.0,
        false,
        "198.51.100.107",
        UA_WIN_CHROME
    ),
    user!(
        "heidi",
        Some(7),
        20,
        9.5,
        false,
        "198.51.100.108",
        UA_WIN_EDGE
    ),
    user!(
        "trent",
        Some(8),
        -30,
        9.5,
        true,
        "198.51.100.109",
        UA_WIN_CHROME
    ),
    user!("victor", Some(9), 50, 9.0, true, "198.51.100.110", UA_LINUX),
    User {
        travels_to: Some(("FR", "Paris", "203.0.113.21")),
        ..user!("ivan", None, 0, 8.0, false, "198.51.100.111", UA_MAC)
    },
    user!("judy", None, 30, 7.5, false, "198.51.100.112", UA_MAC),
    user!(
        "niaj",
        None,
        -40,
        8.0,
        false,
        "198.51.100.113",
        UA_WIN_CHROME
    ),
    user!("olivia", None, 15, 8.5, false, "198.51.100.114", UA_IPHONE),
    user!("peggy", None, 60, 6.0, false, "198.51.100.115", UA_WIN_EDGE),
    User {
        travels_to: Some(("AT", "Vienna", "203.0.113.22")),
        ..user!("rupert", None, 0, 8.0, false, "198.51.100.116", UA_MAC)
    },
    user!(
        "sybil",
        None,
        20,
        8.0,
        false,
        "198.51.100.117",
        UA_WIN_CHROME
    ),
    user!("uma", None, -10, 8.5, false, "198.51.100.118", UA_MAC),
    user!(
        "walter",
        None,
        35,
        8.0,
        false,
        "198.51.100.119",
        UA_WIN_EDGE
    ),
    user!("yvonne", None, 5, 7.0, false, "198.51.100.120", UA_IPHONE),
];

/// A Windows workstation.
#[derive(Debug, Clone, Copy)]
pub struct Workstation {
    pub name: &'static str,
    pub ip: &'static str,
}

pub const WORKSTATIONS: [Workstation; 10] = [
    Workstation {
        name: "WS01",
        ip: "10.0.10.11",
    },
    Workstation {
        name: "WS02",
        ip: "10.0.10.12",
    },
    Workstation {
        name: "WS03",
        ip: "10.0.10.13",
    },
    Workstation {
        name: "WS04",
        ip: "10.0.10.14",
    },
    Workstation {
        name: "WS05",
        ip: "10.0.10.15",
    },
    Workstation {
        name: "WS06",
        ip: "10.0.10.16",
    },
    Workstation {
        name: "WS07",
        ip: "10.0.10.17",
    },
    Workstation {
        name: "WS08",
        ip: "10.0.10.18",
    },
    Workstation {
        name: "WS09",
        ip: "10.0.10.19",
    },
    Workstation {
        name: "WS10",
        ip: "10.0.10.20",
    },
];

/// The domain controller, which writes the Security log the simulator emits.
pub const DC: Workstation = Workstation {
    name: "DC01",
    ip: "10.0.0.10",
};
/// The internal DNS resolver (also the NTP server).
pub const DNS_SERVER: &str = "10.0.0.53";

/// A Linux server with sshd.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub name: &'static str,
    pub ip: &'static str,
    /// Reachable from the internet on port 22 (so it gets scanner noise).
    pub internet_ssh: bool,
    /// TCP ports it listens on.
    pub open_ports: &'static [u16],
}

pub const SERVERS: [Server; 5] = [
    Server {
        name: "bastion",
        ip: "10.0.1.10",
        internet_ssh: true,
        open_ports: &[22],
    },
    Server {
        name: "web01",
        ip: "10.0.1.20",
        internet_ssh: false,
        open_ports: &[22, 80, 443],
    },
    Server {
        name: "db01",
        ip: "10.0.1.30",
        internet_ssh: false,
        open_ports: &[22, 5432],
    },
    Server {
        name: "fs01",
        ip: "10.0.1.40",
        internet_ssh: false,
        open_ports: &[22, 445, 2049],
    },
    Server {
        name: "dns01",
        ip: "10.0.0.53",
        internet_ssh: false,
        open_ports: &[22, 53],
    },
];

/// An internet service the staff use: name, address, and whether it is reached over TLS.
#[derive(Debug, Clone, Copy)]
pub struct Site {
    pub domain: &'static str,
    pub ip: &'static str,
    pub tls: bool,
    /// Relative popularity.
    pub weight: u32,
}

macro_rules! site {
    ($d:expr, $ip:expr, $w:expr) => {
        Site {
            domain: $d,
            ip: $ip,
            tls: true,
            weight: $w,
        }
    };
}

pub const SITES: [Site; 24] = [
    site!("outlook.office365.example.com", "198.51.100.20", 30),
    site!("teams.example.com", "198.51.100.21", 20),
    site!("sso.example-idp.com", "198.51.100.22", 6),
    site!("www.search.example", "198.51.100.23", 25),
    site!("docs.example-cloud.com", "198.51.100.24", 15),
    site!("drive.example-cloud.com", "198.51.100.25", 10),
    site!("crm.example-saas.com", "198.51.100.26", 12),
    site!("news.example.org", "198.51.100.27", 6),
    site!("wiki.example.org", "198.51.100.28", 6),
    site!("cdn.example.net", "198.51.100.29", 18),
    site!("fonts.example.net", "198.51.100.30", 8),
    site!("api.weather.example", "198.51.100.31", 2),
    site!("shop.example.com", "198.51.100.32", 3),
    site!("maps.example.com", "198.51.100.33", 3),
    site!("video.example.com", "198.51.100.34", 4),
    site!("bank.example.com", "198.51.100.35", 2),
    site!("travel.example.com", "198.51.100.36", 2),
    site!("code.example-git.com", "198.51.100.37", 5),
    site!("packages.example.org", "198.51.100.38", 2),
    site!("telemetry.example-os.com", "198.51.100.39", 6),
    site!("update.example-os.com", "198.51.100.40", 4),
    site!("ocsp.example-ca.net", "198.51.100.41", 6),
    Site {
        domain: "intranet.corp.example.com",
        ip: "10.0.1.20",
        tls: false,
        weight: 8,
    },
    Site {
        domain: "time.example-os.com",
        ip: "198.51.100.42",
        tls: false,
        weight: 1,
    },
];

/// Package mirror the Linux servers update from.
pub const MIRROR: Site = Site {
    domain: "deb.example.org",
    ip: "198.51.100.50",
    tls: false,
    weight: 1,
};
