//! Saved profiles: what [`Engine::save_profiles`] writes and [`Engine::restore_profiles`]
//! reads, so a restarted service still knows its users.
//!
//! A little-endian binary layout, versioned, fixed size per user (no per-user allocation when
//! encoding a million users):
//!
//! ```text
//! "PALAUTH\0"  format: u32 = 1   k0: u64  k1: u64   users: u64
//! users × { key: u64, devices: 8×u32, ips: 8×u32, asns: 4×u32, countries: 8×u32,
//!           hours: 168×u8, last_ts: i64, last_lat: f32, last_lon: f32, confirmed: u32,
//!           hours_total: u32, last_country: 2×u8, last_flags: u8 }
//! groups: u32  groups × { name_len: u16, name, countries: u32, countries × { code: u16, n: u32 } }
//! ```
//!
//! The hash keys travel with the profiles: user names, devices and IPs are stored only as keyed
//! hashes, so without the keys a restored profile could never be found again. Peer-group
//! counts are saved under the group's name and restored only for groups the current policy
//! still has. Failure windows and the credential-stuffing campaign are minutes long and are
//! not saved.

use rustc_hash::FxHashMap;

use crate::engine::Keys;
use crate::error::AuthError;
use crate::state::{Ring, UserState};

const MAGIC: &[u8; 8] = b"PALAUTH\0";
/// The layout's version.
pub const FORMAT: u32 = 1;
/// Bytes of one saved user.
pub const USER_RECORD: usize = 8 + 28 * 4 + 168 + 8 + 4 + 4 + 4 + 4 + 2 + 1;
const HEADER: usize = 8 + 4 + 8 + 8 + 8;

pub(crate) fn encode(
    keys: Keys,
    users: &FxHashMap<u64, UserState>,
    groups: &[(String, Vec<(u16, u32)>)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + users.len() * USER_RECORD + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&keys.k0.to_le_bytes());
    out.extend_from_slice(&keys.k1.to_le_bytes());
    out.extend_from_slice(&(users.len() as u64).to_le_bytes());
    for (k, s) in users {
        out.extend_from_slice(&k.to_le_bytes());
        for v in s.devices.slots() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in s.ips.slots() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in s.asns.slots() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in s.countries.slots() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&s.hours);
        out.extend_from_slice(&s.last_ts.to_le_bytes());
        out.extend_from_slice(&s.last_lat.to_le_bytes());
        out.extend_from_slice(&s.last_lon.to_le_bytes());
        out.extend_from_slice(&s.confirmed.to_le_bytes());
        out.extend_from_slice(&s.hours_total.to_le_bytes());
        out.extend_from_slice(&s.last_country);
        out.push(s.last_flags);
    }
    out.extend_from_slice(&(groups.len() as u32).to_le_bytes());
    for (name, counts) in groups {
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(counts.len() as u32).to_le_bytes());
        for (c, n) in counts {
            out.extend_from_slice(&c.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    out
}

/// What a saved blob holds.
pub(crate) struct Decoded {
    pub keys: Keys,
    pub users: Vec<(u64, UserState)>,
    pub groups: Vec<(String, Vec<(u16, u32)>)>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], AuthError> {
        match self.at.checked_add(n) {
            Some(end) if end <= self.b.len() => {
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            _ => Err(bad(format!(
                "cut short at byte {} (reading {what}; {} bytes in all)",
                self.at,
                self.b.len()
            ))),
        }
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], AuthError> {
        Ok(self.take(N, what)?.try_into().expect("length checked"))
    }
    fn u16(&mut self, what: &str) -> Result<u16, AuthError> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, AuthError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, AuthError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn ring<const N: usize>(&mut self, what: &str) -> Result<Ring<N>, AuthError> {
        let mut items = [0u32; N];
        for v in &mut items {
            *v = self.u32(what)?;
        }
        Ok(Ring::from_slots(items))
    }
}

fn bad(message: String) -> AuthError {
    AuthError::Profiles { message }
}

pub(crate) fn decode(b: &[u8]) -> Result<Decoded, AuthError> {
    let mut r = Reader { b, at: 0 };
    if r.take(8, "the header")? != MAGIC {
        return Err(bad("not saved authentication profiles (bad magic)".into()));
    }
    let format = r.u32("the format")?;
    if format != FORMAT {
        return Err(bad(format!(
            "format {format} is not the supported format {FORMAT}"
        )));
    }
    let keys = Keys {
        k0: r.u64("the keys")?,
        k1: r.u64("the keys")?,
    };
    let n = r.u64("the user count")?;
    let room = (b.len() - r.at) / USER_RECORD;
    if n > room as u64 {
        return Err(bad(format!(
            "claims {n} users but has room for at most {room}"
        )));
    }
    let mut users = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let key = r.u64("a user")?;
        let mut s = UserState {
            devices: r.ring("devices")?,
            ips: r.ring("ips")?,
            asns: r.ring("asns")?,
            countries: r.ring("countries")?,
            ..UserState::default()
        };
        s.hours = r.arr("hours")?;
        s.last_ts = i64::from_le_bytes(r.arr("last_ts")?);
        s.last_lat = f32::from_le_bytes(r.arr("last_lat")?);
        s.last_lon = f32::from_le_bytes(r.arr("last_lon")?);
        s.confirmed = r.u32("confirmed")?;
        s.hours_total = r.u32("hours_total")?;
        s.last_country = r.arr("last_country")?;
        s.last_flags = r.arr::<1>("last_flags")?[0];
        users.push((key, s));
    }
    let ng = r.u32("the group count")?;
    let mut groups = Vec::new();
    for _ in 0..ng {
        let len = r.u16("a group name")? as usize;
        let name = String::from_utf8_lossy(r.take(len, "a group name")?).into_owned();
        let nc = r.u32("a group's countries")? as usize;
        if nc > (b.len() - r.at) / 6 {
            return Err(bad(format!(
                "group {name:?} claims {nc} countries, more than the bytes left"
            )));
        }
        let mut counts = Vec::with_capacity(nc);
        for _ in 0..nc {
            counts.push((r.u16("a country")?, r.u32("a count")?));
        }
        groups.push((name, counts));
    }
    if r.at != b.len() {
        return Err(bad(format!(
            "{} unexpected bytes after the end at byte {}",
            b.len() - r.at,
            r.at
        )));
    }
    Ok(Decoded {
        keys,
        users,
        groups,
    })
}
