//! Compact per-user and per-key state.
//!
//! A user's profile is one fixed-size [`UserState`] (no heap): the last 8 device hashes, 8 IP
//! hashes, 4 ASNs and 8 countries (first-in-first-out), a 168-slot hour-of-week histogram of
//! confirmed logins (u8, halved when a slot saturates), and the place and time of the last
//! confirmed login. Its size is asserted in the tests ([`USER_STATE_BYTES`]).

/// Failures remembered per user and per IP (the velocity windows count within these).
pub const FAIL_RING: usize = 32;
/// `size_of::<UserState>()`, checked by a test.
pub const USER_STATE_BYTES: usize = 312;

/// A tiny FIFO set of non-zero u32 hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring<const N: usize> {
    items: [u32; N],
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Ring { items: [0; N] }
    }
}

impl<const N: usize> Ring<N> {
    pub fn contains(&self, v: u32) -> bool {
        let v = v.max(1);
        self.items.contains(&v)
    }
    pub fn len(&self) -> usize {
        self.items.iter().filter(|&&x| x != 0).count()
    }
    pub fn is_empty(&self) -> bool {
        self.items[0] == 0
    }
    /// Inserts at the front, dropping the oldest when full; a known value moves to the front.
    pub fn insert(&mut self, v: u32) {
        let v = v.max(1);
        let pos = self.items.iter().position(|&x| x == v).unwrap_or(N - 1);
        self.items.copy_within(0..pos, 1);
        self.items[0] = v;
    }
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.items.iter().copied().filter(|&x| x != 0)
    }
    /// Every slot, newest first, 0 for empty (for saved profiles).
    pub fn slots(&self) -> &[u32; N] {
        &self.items
    }
    /// A ring from saved slots.
    pub fn from_slots(items: [u32; N]) -> Self {
        Ring { items }
    }
}

/// One user's learned profile (from confirmed logins only).
#[derive(Debug, Clone)]
pub struct UserState {
    pub devices: Ring<8>,
    pub ips: Ring<8>,
    pub asns: Ring<4>,
    /// Country codes packed as `u16::from_be_bytes(code)`, in a u32 ring.
    pub countries: Ring<8>,
    /// Confirmed logins per hour of week (Monday 00:00 UTC = 0).
    pub hours: [u8; 168],
    /// Unix seconds of the last confirmed login.
    pub last_ts: i64,
    pub last_lat: f32,
    pub last_lon: f32,
    pub confirmed: u32,
    pub hours_total: u32,
    pub last_country: [u8; 2],
    /// bit 0: has a place; bit 1: place is precise (city level); bit 2: came via VPN egress.
    pub last_flags: u8,
}

impl Default for UserState {
    fn default() -> Self {
        UserState {
            devices: Ring::default(),
            ips: Ring::default(),
            asns: Ring::default(),
            countries: Ring::default(),
            hours: [0; 168],
            last_ts: 0,
            last_lat: 0.0,
            last_lon: 0.0,
            confirmed: 0,
            hours_total: 0,
            last_country: [0; 2],
            last_flags: 0,
        }
    }
}

pub const HAS_PLACE: u8 = 1;
pub const PRECISE: u8 = 2;
pub const VIA_EGRESS: u8 = 4;

impl UserState {
    pub fn has_country(&self, c: [u8; 2]) -> bool {
        self.countries.contains(u32::from(u16::from_be_bytes(c)))
    }
    pub fn knows_countries(&self) -> bool {
        !self.countries.is_empty()
    }
    /// Adds a country; the 8 most recent distinct countries are kept.
    pub fn add_country(&mut self, c: [u8; 2]) {
        self.countries.insert(u32::from(u16::from_be_bytes(c)));
    }
    pub fn country_list(&self) -> String {
        let mut out = String::new();
        for v in self.countries.iter() {
            let b = (v as u16).to_be_bytes();
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push(b[0] as char);
            out.push(b[1] as char);
        }
        out
    }
    pub fn add_hour(&mut self, how: usize) {
        if self.hours[how] == u8::MAX {
            for h in &mut self.hours {
                *h /= 2;
            }
            self.hours_total = self.hours.iter().map(|&h| u32::from(h)).sum();
        }
        self.hours[how] += 1;
        self.hours_total += 1;
    }
}

/// Timestamps (unix seconds, as u32) of the last failures for one key; for IPs also which user
/// (a 32-bit hash) each failure was for.
#[derive(Debug, Clone)]
pub struct FailRing {
    pub ts: [u32; FAIL_RING],
    pub users: [u32; FAIL_RING],
    pub pos: u8,
}

impl Default for FailRing {
    fn default() -> Self {
        FailRing {
            ts: [0; FAIL_RING],
            users: [0; FAIL_RING],
            pos: 0,
        }
    }
}

impl FailRing {
    pub fn push(&mut self, ts: u32, user: u32) {
        let i = self.pos as usize % FAIL_RING;
        self.ts[i] = ts;
        self.users[i] = user;
        self.pos = ((i + 1) % FAIL_RING) as u8;
    }
    fn in_window(t: u32, now: u32, window: u32) -> bool {
        t != 0 && t <= now && now - t < window
    }
    pub fn count(&self, now: u32, window: u32) -> u32 {
        self.ts
            .iter()
            .filter(|&&t| Self::in_window(t, now, window))
            .count() as u32
    }
    pub fn distinct_users(&self, now: u32, window: u32) -> u32 {
        let mut buf = [0u32; FAIL_RING];
        let mut n = 0;
        for i in 0..FAIL_RING {
            if Self::in_window(self.ts[i], now, window) {
                buf[n] = self.users[i];
                n += 1;
            }
        }
        let s = &mut buf[..n];
        s.sort_unstable();
        let mut d = 0;
        for i in 0..n {
            if i == 0 || s[i] != s[i - 1] {
                d += 1;
            }
        }
        d
    }
    pub fn newest(&self) -> u32 {
        self.ts.iter().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_as_stated() {
        assert_eq!(std::mem::size_of::<UserState>(), USER_STATE_BYTES);
    }

    #[test]
    fn ring_is_fifo_and_bounded() {
        let mut r = Ring::<4>::default();
        for v in 1..=6 {
            r.insert(v);
        }
        assert_eq!(r.len(), 4);
        assert!(!r.contains(1) && !r.contains(2) && r.contains(3) && r.contains(6));
        r.insert(3); // known: moves to the front
        r.insert(7);
        assert!(r.contains(3) && !r.contains(4));
    }

    #[test]
    fn countries_keep_eight() {
        let mut s = UserState::default();
        for c in [b"DE", b"FR", b"IT", b"ES", b"PT", b"NL", b"BE", b"AT"] {
            s.add_country(*c);
        }
        assert!(s.has_country(*b"DE") && s.has_country(*b"AT"));
        s.add_country(*b"CH");
        assert!(s.has_country(*b"CH"));
        assert_eq!(s.country_list().len(), 8 * 4 - 2);
    }

    #[test]
    fn fail_ring_windows() {
        let mut f = FailRing::default();
        for i in 0..40u32 {
            f.push(1000 + i, i % 5);
        }
        assert_eq!(f.count(1039, 10), 10);
        assert_eq!(f.count(1039, 1000), 32);
        assert_eq!(f.distinct_users(1039, 10), 5);
        assert_eq!(f.count(5000, 10), 0);
    }
}
