//! A deterministic login simulator for evaluating the engine (`palisade eval auth`).
//!
//! Users have a home country and city with its time zone, 1–3 devices (stable id and user
//! agent), working hours, quiet weekends, occasional trips abroad (same laptop, a hotel IP in
//! the visited country), a new phone now and then, mistyped passwords followed by a success,
//! and some of them log in through a corporate VPN egress range. Labelled attacks are injected:
//! account takeover, password spraying, credential stuffing, impossible travel and brute force.
//!
//! Everything comes from one seed (SplitMix64, no external RNG), so a seed gives the same
//! stream. Addresses come from [`IpPools`]: with a geolocation database they are sampled
//! addresses the database maps to the wanted country, so the engine's geo signals see real
//! lookups; without one, synthetic per-country prefixes (geo signals then stay silent).

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::geo::{Geo, haversine_km};

/// SplitMix64: small, fast, and fully determined by its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A home: country, city, UTC offset in minutes (standard time, no DST), popularity weight.
#[derive(Debug, Clone, Copy)]
pub struct Home {
    pub country: &'static str,
    pub city: &'static str,
    pub tz_min: i32,
    pub weight: u32,
}

/// Where users live (the company is headquartered in Germany).
pub const HOMES: &[Home] = &[
    Home {
        country: "DE",
        city: "Berlin",
        tz_min: 60,
        weight: 30,
    },
    Home {
        country: "DE",
        city: "Munich",
        tz_min: 60,
        weight: 15,
    },
    Home {
        country: "FR",
        city: "Paris",
        tz_min: 60,
        weight: 10,
    },
    Home {
        country: "GB",
        city: "London",
        tz_min: 0,
        weight: 10,
    },
    Home {
        country: "NL",
        city: "Amsterdam",
        tz_min: 60,
        weight: 5,
    },
    Home {
        country: "PL",
        city: "Warsaw",
        tz_min: 60,
        weight: 5,
    },
    Home {
        country: "ES",
        city: "Madrid",
        tz_min: 60,
        weight: 4,
    },
    Home {
        country: "SE",
        city: "Stockholm",
        tz_min: 60,
        weight: 3,
    },
    Home {
        country: "US",
        city: "New York",
        tz_min: -300,
        weight: 8,
    },
    Home {
        country: "US",
        city: "San Francisco",
        tz_min: -480,
        weight: 5,
    },
    Home {
        country: "CA",
        city: "Toronto",
        tz_min: -300,
        weight: 2,
    },
    Home {
        country: "BR",
        city: "São Paulo",
        tz_min: -180,
        weight: 2,
    },
    Home {
        country: "IN",
        city: "Bangalore",
        tz_min: 330,
        weight: 4,
    },
    Home {
        country: "JP",
        city: "Tokyo",
        tz_min: 540,
        weight: 2,
    },
    Home {
        country: "AU",
        city: "Sydney",
        tz_min: 600,
        weight: 2,
    },
];

/// Business-trip destinations (country, UTC offset in minutes).
pub const TRIPS: &[(&str, i32)] = &[
    ("US", -300),
    ("GB", 0),
    ("FR", 60),
    ("IT", 60),
    ("ES", 60),
    ("JP", 540),
    ("SG", 480),
    ("AE", 240),
    ("CH", 60),
    ("DE", 60),
];

/// Countries attackers log in from (account takeover, spraying, brute force, impossible travel).
pub const ATTACK_COUNTRIES: &[&str] = &["RU", "CN", "NG", "VN", "ID", "RO", "TR", "KR", "UA", "TH"];

/// Extra countries the stuffing botnet's residential proxies sit in.
pub const BOTNET_EXTRA: &[&str] = &["US", "DE", "BR", "IN", "FR", "GB", "MX", "AR"];

/// The country the corporate VPN egress range is in.
pub const VPN_COUNTRY: &str = "DE";

const DESKTOP_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
];
const PHONE_UAS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
];
const HEADLESS_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
];
const COMMON_NAMES: &[&str] = &["admin", "root", "test", "administrator", "support", "info"];

/// Addresses per country.
#[derive(Debug, Clone)]
pub struct IpPools {
    pools: BTreeMap<String, Vec<Ipv4Addr>>,
    /// Whether the addresses come from a geolocation database (else synthetic prefixes).
    pub from_geo: bool,
    /// Random addresses looked up to fill the pools.
    pub sampled: u64,
    /// Where the database places each country (its first address).
    coords: BTreeMap<String, (f32, f32)>,
}

fn is_public(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(o[0] == 0
        || o[0] == 10
        || o[0] == 127
        || o[0] >= 224
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168))
}

/// Every country the simulator needs addresses for.
pub fn wanted_countries() -> Vec<&'static str> {
    let mut v: Vec<&str> = HOMES.iter().map(|h| h.country).collect();
    v.extend(TRIPS.iter().map(|t| t.0));
    v.extend(ATTACK_COUNTRIES);
    v.extend(BOTNET_EXTRA);
    v.push(VPN_COUNTRY);
    v.sort_unstable();
    v.dedup();
    v
}

impl IpPools {
    /// Samples random public IPv4 addresses (seeded) and keeps those `geo` maps to a wanted
    /// country, until every country has `per_country` addresses (or 20 million samples).
    pub fn from_geo(geo: &Geo, seed: u64, per_country: usize) -> Result<Self, String> {
        let wanted = wanted_countries();
        let mut pools: BTreeMap<String, Vec<Ipv4Addr>> =
            wanted.iter().map(|c| (c.to_string(), Vec::new())).collect();
        let mut rng = Rng::new(seed ^ 0x1F00D);
        let mut missing = wanted.len();
        let mut sampled = 0u64;
        while missing > 0 && sampled < 20_000_000 {
            sampled += 1;
            let a = Ipv4Addr::from(rng.next_u64() as u32);
            if !is_public(a) {
                continue;
            }
            let Ok(info) = geo.lookup(IpAddr::V4(a)) else {
                continue;
            };
            let Some(c) = info.country else { continue };
            let Ok(c) = std::str::from_utf8(&c) else {
                continue;
            };
            if let Some(p) = pools.get_mut(c)
                && p.len() < per_country
            {
                p.push(a);
                if p.len() == per_country {
                    missing -= 1;
                }
            }
        }
        let short: Vec<String> = pools
            .iter()
            .filter(|(_, p)| p.len() < 8)
            .map(|(c, p)| format!("{c} ({})", p.len()))
            .collect();
        if !short.is_empty() {
            return Err(format!(
                "the geolocation database maps too few sampled addresses to {} (after {sampled} samples): is it an IPv4 country database?",
                short.join(", ")
            ));
        }
        let coords = pools
            .iter()
            .filter_map(|(c, p)| {
                let at = geo.lookup(IpAddr::V4(p[0])).ok()?.coords?;
                Some((c.clone(), at))
            })
            .collect();
        Ok(IpPools {
            pools,
            from_geo: true,
            sampled,
            coords,
        })
    }

    /// Synthetic pools: country i gets addresses in (11 + i).x.x.x. No geolocation meaning.
    pub fn synthetic(seed: u64, per_country: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0x5_1717);
        let pools = wanted_countries()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let first = 11 + i as u32;
                let v = (0..per_country)
                    .map(|_| Ipv4Addr::from((first << 24) | (rng.next_u64() as u32 & 0xFF_FFFF)))
                    .collect();
                (c.to_string(), v)
            })
            .collect();
        IpPools {
            pools,
            from_geo: false,
            sampled: 0,
            coords: BTreeMap::new(),
        }
    }

    pub fn pick(&self, country: &str, rng: &mut Rng) -> IpAddr {
        let p = &self.pools[country];
        IpAddr::V4(*rng.pick(p))
    }

    /// The corporate VPN egress network: the /24 around an address in [`VPN_COUNTRY`].
    pub fn vpn_egress(&self) -> (Ipv4Addr, String) {
        let a = self.pools[VPN_COUNTRY][0];
        let base = Ipv4Addr::from(u32::from(a) & 0xFFFF_FF00);
        (base, format!("{base}/24"))
    }
}

/// What an attempt is, for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Legit,
    Takeover,
    Spraying,
    Stuffing,
    ImpossibleTravel,
    BruteForce,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Legit => "legit",
            Kind::Takeover => "takeover",
            Kind::Spraying => "spraying",
            Kind::Stuffing => "stuffing",
            Kind::ImpossibleTravel => "impossible_travel",
            Kind::BruteForce => "brute_force",
        }
    }
}

/// One labelled login attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub ts: DateTime<Utc>,
    pub user: String,
    pub ip: IpAddr,
    pub user_agent: String,
    pub device_id: Option<String>,
    pub kind: Kind,
    /// Campaign number within its kind (attacks), 0 for legitimate logins.
    pub campaign: u32,
    /// Whether the password was right.
    pub password_ok: bool,
}

/// Simulation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    pub users: usize,
    pub weeks: u32,
    /// Monday 00:00 UTC the simulation starts at.
    pub start: DateTime<Utc>,
    pub takeovers_per_week: u32,
    pub sprays_per_week: u32,
    pub stuffings_per_week: u32,
    pub impossible_travel_per_week: u32,
    pub brute_force_per_week: u32,
    /// Share of users on the corporate VPN.
    pub vpn_share: f64,
    /// Chance a user starts a trip abroad in a week.
    pub trip_chance: f64,
    /// Chance a user gets a new phone in a week.
    pub new_phone_chance: f64,
    /// Chance a legitimate login is preceded by a mistyped password.
    pub mistype_chance: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 8,
            users: 200,
            weeks: 4,
            start: Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(),
            takeovers_per_week: 20,
            sprays_per_week: 2,
            stuffings_per_week: 1,
            impossible_travel_per_week: 10,
            brute_force_per_week: 3,
            vpn_share: 0.15,
            trip_chance: 0.04,
            new_phone_chance: 0.015,
            mistype_chance: 0.04,
        }
    }
}

#[derive(Debug, Clone)]
struct Device {
    id: String,
    ua: String,
    phone: bool,
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    home: Home,
    devices: Vec<Device>,
    home_ip: IpAddr,
    office_ip: IpAddr,
    phone_ips: Vec<IpAddr>,
    vpn: bool,
    start_hour: i64,
}

/// A simulated population and its labelled, time-ordered attempts.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub config: SimConfig,
    pub attempts: Vec<Attempt>,
    /// The corporate VPN egress CIDR users log in through (for the policy's `vpn_egress`).
    pub vpn_egress: String,
    /// user → (home country, city).
    pub homes: BTreeMap<String, (String, String)>,
    pub trips: u32,
    pub new_phones: u32,
}

fn device(rng: &mut Rng, phone: bool) -> Device {
    Device {
        id: format!("dev-{:016x}", rng.next_u64()),
        ua: rng
            .pick(if phone { PHONE_UAS } else { DESKTOP_UAS })
            .to_string(),
        phone,
    }
}

fn pick_home(rng: &mut Rng) -> Home {
    let total: u32 = HOMES.iter().map(|h| h.weight).sum();
    let mut r = rng.below(u64::from(total)) as u32;
    for h in HOMES {
        if r < h.weight {
            return *h;
        }
        r -= h.weight;
    }
    HOMES[0]
}

impl Scenario {
    /// Generates the population and every attempt, sorted by time (ties keep generation order).
    pub fn generate(config: &SimConfig, pools: &IpPools) -> Scenario {
        let mut rng = Rng::new(config.seed);
        let (vpn_base, vpn_egress) = pools.vpn_egress();
        let offices: BTreeMap<&str, IpAddr> = HOMES
            .iter()
            .map(|h| (h.country, pools.pick(h.country, &mut rng)))
            .collect();
        let mut users: Vec<User> = (0..config.users)
            .map(|i| {
                let home = pick_home(&mut rng);
                let n = 1 + rng.below(3) as usize;
                let mut devices = vec![device(&mut rng, false)];
                if n >= 2 {
                    devices.push(device(&mut rng, true));
                }
                if n == 3 {
                    devices.push(device(&mut rng, false));
                }
                User {
                    name: format!("user{i:04}"),
                    home,
                    home_ip: pools.pick(home.country, &mut rng),
                    office_ip: offices[home.country],
                    phone_ips: (0..3).map(|_| pools.pick(home.country, &mut rng)).collect(),
                    devices,
                    vpn: rng.chance(config.vpn_share),
                    start_hour: rng.range(7, 10),
                }
            })
            .collect();
        let homes = users
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    (u.home.country.to_string(), u.home.city.to_string()),
                )
            })
            .collect();
        let mut out: Vec<Attempt> = Vec::new();
        let (mut trips, mut new_phones) = (0u32, 0u32);
        let vpn_ip = |rng: &mut Rng| {
            IpAddr::V4(Ipv4Addr::from(
                u32::from(vpn_base) | (1 + rng.below(254) as u32),
            ))
        };
        let legit = |out: &mut Vec<Attempt>, rng: &mut Rng, u: &User, d: &Device, ip, ts| {
            if rng.chance(config.mistype_chance) {
                out.push(Attempt {
                    ts: ts - Duration::seconds(rng.range(8, 40)),
                    user: u.name.clone(),
                    ip,
                    user_agent: d.ua.clone(),
                    device_id: Some(d.id.clone()),
                    kind: Kind::Legit,
                    campaign: 0,
                    password_ok: false,
                });
            }
            out.push(Attempt {
                ts,
                user: u.name.clone(),
                ip,
                user_agent: d.ua.clone(),
                device_id: Some(d.id.clone()),
                kind: Kind::Legit,
                campaign: 0,
                password_ok: true,
            });
        };

        // Legitimate logins, user by user, week by week.
        for u in users.iter_mut() {
            for week in 0..config.weeks {
                let week_start = config.start + Duration::days(7 * i64::from(week));
                if rng.chance(config.new_phone_chance) {
                    let d = device(&mut rng, true);
                    match u.devices.iter_mut().find(|d| d.phone) {
                        Some(old) => *old = d,
                        None => u.devices.push(d),
                    }
                    u.phone_ips[0] = pools.pick(u.home.country, &mut rng);
                    new_phones += 1;
                }
                if rng.chance(0.1) {
                    u.home_ip = pools.pick(u.home.country, &mut rng);
                }
                // A trip: leave on day `from` (no logins that day), back after `to`.
                let trip = rng.chance(config.trip_chance).then(|| {
                    let dest = loop {
                        let t = *rng.pick(TRIPS);
                        if t.0 != u.home.country {
                            break t;
                        }
                    };
                    let from = rng.range(0, 3);
                    (
                        dest,
                        from,
                        from + rng.range(3, 5),
                        pools.pick(dest.0, &mut rng),
                    )
                });
                if trip.is_some() {
                    trips += 1;
                }
                for day in 0..7i64 {
                    let weekend = day >= 5;
                    let (tz, abroad) = match trip {
                        Some((_, from, to, _)) if day == from || day == to => continue,
                        Some((dest, from, to, hotel)) if day > from && day < to => {
                            (dest.1, Some(hotel))
                        }
                        _ => (u.home.tz_min, None),
                    };
                    let n = if weekend {
                        i64::from(rng.chance(0.25))
                    } else {
                        rng.range(1, 4)
                    };
                    for _ in 0..n {
                        let local_min = if weekend {
                            rng.range(10 * 60, 22 * 60)
                        } else {
                            rng.range(u.start_hour * 60, (u.start_hour + 9) * 60 + 30)
                        };
                        let ts = week_start
                            + Duration::days(day)
                            + Duration::minutes(local_min - i64::from(tz))
                            + Duration::seconds(rng.range(0, 59));
                        let r = rng.below(100);
                        let di = if r < 70 || u.devices.len() == 1 {
                            0
                        } else if r < 95 {
                            u.devices.iter().position(|d| d.phone).unwrap_or(0)
                        } else {
                            u.devices.len() - 1
                        };
                        let d = u.devices[di].clone();
                        let ip = if u.vpn && !d.phone && rng.chance(0.7) {
                            vpn_ip(&mut rng)
                        } else if let Some(hotel) = abroad {
                            hotel
                        } else if d.phone {
                            *rng.pick(&u.phone_ips)
                        } else if weekend || rng.chance(0.4) {
                            u.home_ip
                        } else {
                            u.office_ip
                        };
                        legit(&mut out, &mut rng, u, &d, ip, ts);
                    }
                }
            }
        }

        // Attacks, week by week.
        let real = |rng: &mut Rng, users: &[User]| rng.below(users.len() as u64) as usize;
        let fake_name = |rng: &mut Rng| format!("{}{}", rng.pick(COMMON_NAMES), rng.below(1000));
        let attack_ip = |rng: &mut Rng, not: &str| loop {
            let c = *rng.pick(ATTACK_COUNTRIES);
            if c != not {
                break (c, pools.pick(c, rng));
            }
        };
        let mut counters = [0u32; 6];
        for week in 0..config.weeks {
            let week_start = config.start + Duration::days(7 * i64::from(week));
            let any_time =
                |rng: &mut Rng| week_start + Duration::seconds(rng.range(0, 7 * 86_400 - 1));
            for _ in 0..config.takeovers_per_week {
                counters[1] += 1;
                let u = &users[real(&mut rng, &users)];
                let (_, ip) = attack_ip(&mut rng, u.home.country);
                let ua = if rng.chance(0.3) {
                    rng.pick(HEADLESS_UAS)
                } else {
                    rng.pick(DESKTOP_UAS)
                };
                out.push(Attempt {
                    ts: any_time(&mut rng),
                    user: u.name.clone(),
                    ip,
                    user_agent: ua.to_string(),
                    device_id: Some(format!("dev-{:016x}", rng.next_u64())),
                    kind: Kind::Takeover,
                    campaign: counters[1],
                    password_ok: true,
                });
            }
            for _ in 0..config.sprays_per_week {
                counters[2] += 1;
                let (_, ip) = attack_ip(&mut rng, "");
                let ua = rng.pick(DESKTOP_UAS).to_string();
                let passwords = rng.range(1, 2);
                let targets: Vec<String> = (0..rng.range(40, 120))
                    .map(|_| {
                        if rng.chance(0.8) {
                            users[real(&mut rng, &users)].name.clone()
                        } else {
                            fake_name(&mut rng)
                        }
                    })
                    .collect();
                let gap = rng.range(20, 90);
                let mut ts = any_time(&mut rng);
                for _ in 0..passwords {
                    for t in &targets {
                        out.push(Attempt {
                            ts,
                            user: t.clone(),
                            ip,
                            user_agent: ua.clone(),
                            device_id: None,
                            kind: Kind::Spraying,
                            campaign: counters[2],
                            password_ok: t.starts_with("user") && rng.chance(0.01),
                        });
                        ts += Duration::seconds(gap / 2 + rng.range(0, gap));
                    }
                }
            }
            for _ in 0..config.stuffings_per_week {
                counters[3] += 1;
                let bots: Vec<IpAddr> = (0..rng.range(150, 400))
                    .map(|_| {
                        let c = if rng.chance(0.5) {
                            *rng.pick(ATTACK_COUNTRIES)
                        } else {
                            *rng.pick(BOTNET_EXTRA)
                        };
                        pools.pick(c, &mut rng)
                    })
                    .collect();
                let per_min = rng.range(10, 40);
                let mut ts = any_time(&mut rng);
                for _ in 0..rng.range(300, 800) {
                    let (user, ok) = if rng.chance(0.4) {
                        (users[real(&mut rng, &users)].name.clone(), rng.chance(0.03))
                    } else {
                        (format!("{}.{}", fake_name(&mut rng), rng.below(100)), false)
                    };
                    out.push(Attempt {
                        ts,
                        user,
                        ip: *rng.pick(&bots),
                        user_agent: rng.pick(DESKTOP_UAS).to_string(),
                        device_id: rng
                            .chance(0.5)
                            .then(|| format!("dev-{:016x}", rng.next_u64())),
                        kind: Kind::Stuffing,
                        campaign: counters[3],
                        password_ok: ok,
                    });
                    ts += Duration::milliseconds(rng.range(0, 120_000 / per_min));
                }
            }
            for _ in 0..config.impossible_travel_per_week {
                counters[4] += 1;
                let u = users[real(&mut rng, &users)].clone();
                let day = rng.range(0, 4);
                let ts = week_start
                    + Duration::days(day)
                    + Duration::minutes(
                        rng.range(u.start_hour * 60, (u.start_hour + 8) * 60)
                            - i64::from(u.home.tz_min),
                    );
                let d = u.devices[0].clone();
                legit(&mut out, &mut rng, &u, &d, u.home_ip, ts);
                // A country far (≥ 3,000 km) from home when the database places them.
                let home_at = pools.coords(u.home.country);
                let mut far = attack_ip(&mut rng, u.home.country);
                for _ in 0..20 {
                    match (home_at, pools.coords(far.0)) {
                        (Some(a), Some(b)) if haversine_km(a, b) < 3000.0 => {
                            far = attack_ip(&mut rng, u.home.country)
                        }
                        _ => break,
                    }
                }
                out.push(Attempt {
                    ts: ts + Duration::minutes(rng.range(25, 35)),
                    user: u.name.clone(),
                    ip: far.1,
                    user_agent: rng.pick(DESKTOP_UAS).to_string(),
                    device_id: Some(format!("dev-{:016x}", rng.next_u64())),
                    kind: Kind::ImpossibleTravel,
                    campaign: counters[4],
                    password_ok: true,
                });
            }
            for _ in 0..config.brute_force_per_week {
                counters[5] += 1;
                let user = if rng.chance(0.5) {
                    users[real(&mut rng, &users)].name.clone()
                } else {
                    rng.pick(COMMON_NAMES).to_string()
                };
                let (_, ip) = attack_ip(&mut rng, "");
                let ua = if rng.chance(0.5) {
                    "python-requests/2.31.0"
                } else {
                    rng.pick(DESKTOP_UAS)
                };
                let mut ts = any_time(&mut rng);
                for _ in 0..rng.range(30, 150) {
                    out.push(Attempt {
                        ts,
                        user: user.clone(),
                        ip,
                        user_agent: ua.to_string(),
                        device_id: None,
                        kind: Kind::BruteForce,
                        campaign: counters[5],
                        password_ok: false,
                    });
                    ts += Duration::seconds(rng.range(2, 8));
                }
            }
        }
        out.sort_by_key(|a| a.ts);
        Scenario {
            config: config.clone(),
            attempts: out,
            vpn_egress,
            homes,
            trips,
            new_phones,
        }
    }
}

impl IpPools {
    /// Coordinates (country centroid with a country database) of a country's first address.
    fn coords(&self, country: &str) -> Option<(f32, f32)> {
        self.coords.get(country).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let cfg = SimConfig {
            users: 40,
            weeks: 2,
            ..SimConfig::default()
        };
        let pools = IpPools::synthetic(cfg.seed, 64);
        let a = Scenario::generate(&cfg, &pools);
        let b = Scenario::generate(&cfg, &IpPools::synthetic(cfg.seed, 64));
        assert_eq!(a.attempts, b.attempts);
        assert!(a.attempts.len() > 500, "{}", a.attempts.len());
        assert!(a.attempts.windows(2).all(|w| w[0].ts <= w[1].ts));
        for k in [
            Kind::Legit,
            Kind::Takeover,
            Kind::Spraying,
            Kind::Stuffing,
            Kind::ImpossibleTravel,
            Kind::BruteForce,
        ] {
            assert!(a.attempts.iter().any(|x| x.kind == k), "{k:?} missing");
        }
        let c = Scenario::generate(
            &SimConfig {
                seed: 9,
                ..cfg.clone()
            },
            &pools,
        );
        assert_ne!(a.attempts, c.attempts);
    }
}
