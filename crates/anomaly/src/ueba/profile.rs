//! One entity's baseline: hour-of-week profile, seasonal event rate and related-value sketches.

use serde::{Deserialize, Serialize};

use super::sketch::{HLL_REGISTERS, TopEntry, hll_estimate};

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityKind {
    User,
    Host,
    SourceIp,
    Service,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] = [
        EntityKind::User,
        EntityKind::Host,
        EntityKind::SourceIp,
        EntityKind::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Host => "host",
            EntityKind::SourceIp => "source ip",
            EntityKind::Service => "service",
        }
    }

    /// Related values tracked for this kind of entity.
    pub fn relations(self) -> &'static [RelKind] {
        match self {
            EntityKind::User => &[
                RelKind::SrcIp,
                RelKind::Country,
                RelKind::Asn,
                RelKind::Device,
                RelKind::Host,
            ],
            EntityKind::Host => &[
                RelKind::User,
                RelKind::Process,
                RelKind::ParentChild,
                RelKind::DestPort,
            ],
            EntityKind::SourceIp | EntityKind::Service => &[RelKind::User],
        }
    }
}

/// A kind of value related to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RelKind {
    SrcIp,
    Country,
    Asn,
    Device,
    Host,
    Process,
    ParentChild,
    DestPort,
    User,
}

impl RelKind {
    pub const ALL: [RelKind; 9] = [
        RelKind::SrcIp,
        RelKind::Country,
        RelKind::Asn,
        RelKind::Device,
        RelKind::Host,
        RelKind::Process,
        RelKind::ParentChild,
        RelKind::DestPort,
        RelKind::User,
    ];

    /// Words for a sentence: "source ip", "country", …
    pub fn noun(self) -> &'static str {
        match self {
            RelKind::SrcIp => "source ip",
            RelKind::Country => "country",
            RelKind::Asn => "ASN",
            RelKind::Device => "device",
            RelKind::Host => "host",
            RelKind::Process => "process",
            RelKind::ParentChild => "parent→child process",
            RelKind::DestPort => "destination port",
            RelKind::User => "user",
        }
    }

    /// Short key for evidence and rule ids.
    pub fn key(self) -> &'static str {
        match self {
            RelKind::SrcIp => "source_ip",
            RelKind::Country => "country",
            RelKind::Asn => "asn",
            RelKind::Device => "device",
            RelKind::Host => "host",
            RelKind::Process => "process",
            RelKind::ParentChild => "parent_child",
            RelKind::DestPort => "dest_port",
            RelKind::User => "user",
        }
    }

    /// Salt mixed into value hashes so equal text in two relations uses different cells.
    pub fn salt(self) -> u64 {
        0xA076_1D64_78BD_642F_u64.wrapping_mul(self as u64 + 1)
    }

    /// Whether rarity among peers means something for this relation (source IPs are
    /// personal, so peers never share them).
    pub fn peer_comparable(self) -> bool {
        !matches!(self, RelKind::SrcIp | RelKind::Device)
    }
}

/// Serde for `[f32; N]` with N > 32 (serde's own impls stop at 32): a fixed-length tuple.
pub mod arr {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::{SerializeTuple, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(a: &[f32; N], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(N)?;
        for x in a {
            t.serialize_element(x)?;
        }
        t.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[f32; N], D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = [f32; N];
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{N} floats")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[f32; N], A::Error> {
                let mut out = [0f32; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(N, V::<N>)
    }
}

/// Hours in a week.
pub const HOW: usize = 168;

/// Hour-of-week (Monday 00:00 UTC = 0) of an hour index since the Unix epoch.
#[inline]
pub fn hour_of_week(hour: i64) -> usize {
    let day = hour.div_euclid(24);
    let wd = (day + 3).rem_euclid(7); // 1970-01-01 was a Thursday (Monday = 0)
    (wd * 24 + hour.rem_euclid(24)) as usize
}

/// Seasonal event rate: EWMA mean and variance of per-hour event counts for each hour of day
/// and each weekday, fed one completed hour at a time (silent hours count as zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Hour (since the epoch) being counted; `i64::MIN` before the first event.
    pub cur_hour: i64,
    pub cur_count: u32,
    /// Completed hours folded into the EWMAs.
    pub folded: u32,
    pub hod_mean: [f32; 24],
    pub hod_var: [f32; 24],
    pub hod_n: [u8; 24],
    pub wd_mean: [f32; 7],
    pub wd_var: [f32; 7],
    pub wd_n: [u16; 7],
}

impl Default for Rate {
    fn default() -> Self {
        Rate {
            cur_hour: i64::MIN,
            cur_count: 0,
            folded: 0,
            hod_mean: [0.0; 24],
            hod_var: [0.0; 24],
            hod_n: [0; 24],
            wd_mean: [0.0; 7],
            wd_var: [0.0; 7],
            wd_n: [0; 7],
        }
    }
}

/// Slot update counters (`u8` for hour-of-day slots, `u16` for weekday slots, whose `alpha`
/// is smaller than 1/255).
trait Counter: Copy {
    fn get(self) -> f32;
    fn bump_by(&mut self, k: u32);
    fn bump(&mut self) {
        self.bump_by(1);
    }
}
impl Counter for u8 {
    fn get(self) -> f32 {
        self as f32
    }
    fn bump_by(&mut self, k: u32) {
        *self = (*self as u32 + k).min(u8::MAX as u32) as u8;
    }
}
impl Counter for u16 {
    fn get(self) -> f32 {
        self as f32
    }
    fn bump_by(&mut self, k: u32) {
        *self = (*self as u32 + k).min(u16::MAX as u32) as u16;
    }
}

#[inline]
fn ewma<N: Counter>(mean: &mut f32, var: &mut f32, n: &mut N, x: f32, alpha: f32) {
    // Bias-corrected start: the first updates average, later ones forget at `alpha`.
    let k = n.get();
    let a = if k * alpha >= 1.0 {
        alpha
    } else {
        1.0 / (k + 1.0)
    };
    let d = x - *mean;
    *mean += a * d;
    *var = (1.0 - a) * (*var + a * d * d);
    n.bump();
}

/// `k` zero observations into one EWMA slot, in closed form.
///
/// While the slot is still averaging (`a = 1/(j+1)` for update `j`), `k` zeros give
/// `mean' = mean·n/(n+k)` and `var' = (n·var + mean²·n·k/(n+k)) / (n+k)` (the sum
/// `Σ 1/(j(j+1))` telescopes). At the steady `a`, `mean' = q·mean` and
/// `var' = q·(var + mean²·(1 − q))` with `q = (1 − a)^k`.
#[inline]
fn zeros<N: Counter>(mean: &mut f32, var: &mut f32, n: &mut N, k: u16, alpha: f32) {
    if k == 0 {
        return;
    }
    let mut k = k as f32;
    let nn = n.get();
    let sat = (1.0 / alpha).ceil();
    if nn < sat {
        let k1 = k.min(sat - nn);
        let m = *mean;
        let total = nn + k1;
        *var = (nn * *var + m * m * nn * k1 / total) / total;
        *mean = m * nn / total;
        n.bump_by(k1 as u32);
        k -= k1;
    }
    if k > 0.0 {
        let q = (1.0 - alpha).powi(k as i32);
        *var = q * (*var + *mean * *mean * (1.0 - q));
        *mean *= q;
        n.bump_by(k as u32);
    }
}

impl Rate {
    fn fold(&mut self, hour: i64, x: f32, a_day: f32, a_wd: f32) {
        let h = hour.rem_euclid(24) as usize;
        let wd = hour_of_week(hour) / 24;
        ewma(
            &mut self.hod_mean[h],
            &mut self.hod_var[h],
            &mut self.hod_n[h],
            x,
            a_day,
        );
        ewma(
            &mut self.wd_mean[wd],
            &mut self.wd_var[wd],
            &mut self.wd_n[wd],
            x,
            a_wd,
        );
        self.folded = self.folded.saturating_add(1);
    }

    /// Counts one event in `hour`, first folding completed hours (and up to a week of silent
    /// ones) into the EWMAs. Out-of-order events count towards the current hour.
    pub fn count(&mut self, hour: i64, a_day: f32, a_wd: f32) {
        if self.cur_hour == i64::MIN {
            self.cur_hour = hour;
        } else if hour > self.cur_hour {
            let done = self.cur_count as f32;
            let prev = self.cur_hour;
            self.fold(prev, done, a_day, a_wd);
            let gap = (hour - prev - 1).min(HOW as i64);
            if gap > 0 {
                // Silent hours: count the zeros each slot receives, then apply them per slot
                // (in closed form once the slot's EWMA runs at its steady `alpha`).
                let start = hour - gap;
                let mut kh = [(gap / 24) as u16; 24];
                let h0 = start.rem_euclid(24) as usize;
                for j in 0..(gap % 24) as usize {
                    kh[(h0 + j) % 24] += 1;
                }
                let mut kw = [0u16; 7];
                let mut s = start;
                while s < hour {
                    let day_end = (s.div_euclid(24) + 1) * 24;
                    let n = day_end.min(hour) - s;
                    kw[hour_of_week(s) / 24] += n as u16;
                    s += n;
                }
                for (i, k) in kh.into_iter().enumerate() {
                    zeros(
                        &mut self.hod_mean[i],
                        &mut self.hod_var[i],
                        &mut self.hod_n[i],
                        k,
                        a_day,
                    );
                }
                for (i, k) in kw.into_iter().enumerate() {
                    zeros(
                        &mut self.wd_mean[i],
                        &mut self.wd_var[i],
                        &mut self.wd_n[i],
                        k,
                        a_wd,
                    );
                }
                self.folded = self.folded.saturating_add(gap as u32);
            }
            self.cur_hour = hour;
            self.cur_count = 0;
        }
        self.cur_count = self.cur_count.saturating_add(1);
    }

    /// Expected count and variance for an hour: hour-of-day mean scaled by the weekday's level.
    pub fn expected(&self, hour: i64) -> (f64, f64) {
        let h = hour.rem_euclid(24) as usize;
        let wd = hour_of_week(hour) / 24;
        let mut sum = 0.0;
        let mut n = 0;
        for i in 0..7 {
            if self.wd_n[i] > 0 {
                sum += self.wd_mean[i] as f64;
                n += 1;
            }
        }
        let overall = if n > 0 { sum / n as f64 } else { 0.0 };
        let factor = if overall > 0.0 && self.wd_n[wd] > 0 {
            (self.wd_mean[wd] as f64 / overall).clamp(0.1, 10.0)
        } else {
            1.0
        };
        if self.hod_n[h] == 0 {
            // Never seen this hour of day: the average over the hours that were seen.
            let (mut m, mut v, mut n) = (0.0, 0.0, 0.0);
            for i in 0..24 {
                if self.hod_n[i] > 0 {
                    m += self.hod_mean[i] as f64;
                    v += self.hod_var[i] as f64;
                    n += 1.0;
                }
            }
            if n > 0.0 {
                return (m / n, v / n);
            }
        }
        let m = self.hod_mean[h] as f64 * factor;
        (m, self.hod_var[h] as f64 * factor * factor)
    }
}

/// Related values of one kind for one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rel {
    pub kind: RelKind,
    /// Raw number of events that carried this relation.
    pub events: u32,
    /// Decayed total (inflated units).
    pub total: f32,
    /// Distinct values ever seen (not decayed).
    pub hll: [u8; HLL_REGISTERS],
    /// Cached estimate of `hll` (refreshed when a register changes).
    pub distinct: f32,
    /// Most frequent values with first/last-seen times.
    pub top: Vec<TopEntry>,
}

/// No peer group.
pub const NO_GROUP: u16 = u16::MAX;

/// One entity's baseline. Counts are in inflated units relative to `base` (forward decay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    /// Peer group index, [`NO_GROUP`] when none.
    pub group: u16,
    /// Clustering epoch the learned group was assigned in.
    pub group_epoch: u32,
    pub events: u32,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Forward-decay base time (Unix seconds).
    pub base: i64,
    #[serde(with = "arr")]
    pub how: [f32; HOW],
    /// Hour-of-day marginal of `how` (kept separately so scoring reads 2 cache lines, not 11).
    pub hod: [f32; 24],
    pub how_total: f32,
    pub rate: Rate,
    /// Count-min cells shared by all relations (`depth × width`), empty until a relation is seen.
    pub cms: Vec<f32>,
    pub rels: Vec<Rel>,
}

/// Largest inflation before counts are renormalised (2^16).
const MAX_INFLATION_HALF_LIVES: f64 = 16.0;

impl Entity {
    pub fn new(kind: EntityKind, now: i64) -> Self {
        Entity {
            kind,
            group: NO_GROUP,
            group_epoch: 0,
            events: 0,
            first_seen: now,
            last_seen: now,
            base: now,
            how: [0.0; HOW],
            hod: [0.0; 24],
            how_total: 0.0,
            rate: Rate::default(),
            cms: Vec::new(),
            rels: Vec::new(),
        }
    }

    /// Forward-decay weight of time `t` (renormalising counts when it grows past 2^16).
    #[inline]
    pub fn weight(&mut self, t: i64, half_life_secs: f64) -> f32 {
        let hl = (t - self.base) as f64 / half_life_secs;
        if hl > MAX_INFLATION_HALF_LIVES {
            let shift = hl.floor();
            let f = (-shift).exp2() as f32;
            self.scale(f);
            self.base += (shift * half_life_secs) as i64;
        }
        (((t - self.base) as f64) / half_life_secs).exp2() as f32
    }

    /// Current weight without renormalising (for reads).
    #[inline]
    pub fn weight_at(&self, t: i64, half_life_secs: f64) -> f64 {
        (((t - self.base) as f64) / half_life_secs).exp2()
    }

    fn scale(&mut self, f: f32) {
        for c in self.how.iter_mut().chain(self.hod.iter_mut()) {
            *c *= f;
        }
        self.how_total *= f;
        for c in self.cms.iter_mut() {
            *c *= f;
        }
        for r in self.rels.iter_mut() {
            r.total *= f;
            for e in r.top.iter_mut() {
                e.count *= f;
            }
        }
    }

    /// Smoothed probability of hour-of-week `h`: half from the hour of the week itself
    /// (neighbouring hours share a quarter each), half from the same hour of day on any
    /// weekday (seven times the data, so sparse profiles are not full of empty hours), plus
    /// 5 % uniform mass so no hour is impossible.
    pub fn how_prob(&self, h: usize) -> f64 {
        let t = self.how_total as f64;
        if t <= 0.0 {
            return 1.0 / HOW as f64;
        }
        let c = |i: usize| self.how[i % HOW] as f64;
        let s_week = 0.25 * c(h + HOW - 1) + 0.5 * c(h) + 0.25 * c(h + 1);
        let hod = h % 24;
        let d = |hh: usize| self.hod[hh % 24] as f64;
        let s_day = (0.25 * d(hod + 23) + 0.5 * d(hod) + 0.25 * d(hod + 1)) / 7.0;
        let s = 0.5 * s_week + 0.5 * s_day;
        const EPS: f64 = 0.05;
        (s + EPS * t / HOW as f64) / (t * (1.0 + EPS))
    }

    /// The shortest circular window of hours of day (UTC) holding 90 % of the activity:
    /// `(start, end_exclusive)`, or `None` without history.
    pub fn usual_hours(&self) -> Option<(usize, usize)> {
        let d = self.hod.map(|c| c as f64);
        let total: f64 = d.iter().sum();
        if total <= 0.0 {
            return None;
        }
        for len in 1..=24 {
            let mut best: Option<(usize, f64)> = None;
            for s in 0..24 {
                let sum: f64 = (0..len).map(|i| d[(s + i) % 24]).sum();
                if sum >= 0.9 * total && best.is_none_or(|b| sum > b.1) {
                    best = Some((s, sum));
                }
            }
            if let Some((s, _)) = best {
                return Some((s, (s + len) % 24));
            }
        }
        None
    }

    pub fn rel(&self, kind: RelKind) -> Option<&Rel> {
        self.rels.iter().find(|r| r.kind == kind)
    }

    /// The relation's state, created on first use.
    pub fn rel_mut(&mut self, kind: RelKind) -> &mut Rel {
        let i = match self.rels.iter().position(|r| r.kind == kind) {
            Some(i) => i,
            None => {
                // Exact capacity: the kinds of relation are known per entity kind.
                if self.rels.capacity() == 0 {
                    self.rels.reserve_exact(self.kind.relations().len());
                }
                self.rels.push(Rel {
                    kind,
                    events: 0,
                    total: 0.0,
                    hll: [0; HLL_REGISTERS],
                    distinct: 0.0,
                    top: Vec::new(),
                });
                self.rels.len() - 1
            }
        };
        &mut self.rels[i]
    }

    /// Bytes this entity's heap allocations request (capacities × element sizes, label
    /// lengths); allocator headers and rounding are not included.
    pub fn heap_bytes(&self) -> usize {
        self.cms.capacity() * 4
            + self.rels.capacity() * std::mem::size_of::<Rel>()
            + self
                .rels
                .iter()
                .map(|r| {
                    r.top.capacity() * std::mem::size_of::<TopEntry>()
                        + r.top.iter().map(|e| e.label.len()).sum::<usize>()
                })
                .sum::<usize>()
    }

    /// Events per hour over the profile's decayed history, roughly.
    pub fn summary_rel(&self, kind: RelKind, now_w: f64) -> Option<RelSummary> {
        let r = self.rel(kind)?;
        let mut top: Vec<TopValue> = r
            .top
            .iter()
            .map(|e| TopValue {
                value: e.label.to_string(),
                decayed_count: e.count as f64 / now_w,
                first_seen: e.first_seen,
                last_seen: e.last_seen,
            })
            .collect();
        top.sort_by(|a, b| b.decayed_count.total_cmp(&a.decayed_count));
        Some(RelSummary {
            relation: kind.key().to_string(),
            events: r.events,
            decayed_total: r.total as f64 / now_w,
            distinct_estimate: hll_estimate(&r.hll).round() as u64,
            top,
        })
    }
}

/// A serialisable view of one entity's baseline, for APIs and analysts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub kind: EntityKind,
    pub name: String,
    pub events: u32,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Whether the entity is past warm-up and may alert.
    pub warm: bool,
    /// Shortest window of UTC hours of day holding 90 % of activity, `"08–18"`.
    pub usual_hours: Option<String>,
    /// Decayed share of activity per hour of week (Monday 00:00 UTC first), sums to 1.
    pub hour_of_week: Vec<f32>,
    /// Expected events per hour for each hour of day (seasonal EWMA mean).
    pub hourly_rate_mean: Vec<f32>,
    /// Standard deviation of events per hour for each hour of day.
    pub hourly_rate_std: Vec<f32>,
    /// Peer group name, if any.
    pub peer_group: Option<String>,
    pub relations: Vec<RelSummary>,
}

/// Related values of one kind in a [`ProfileSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelSummary {
    pub relation: String,
    pub events: u32,
    pub decayed_total: f64,
    pub distinct_estimate: u64,
    pub top: Vec<TopValue>,
}

/// A frequent value with its decayed count and first/last-seen times (Unix seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopValue {
    pub value: String,
    pub decayed_count: f64,
    pub first_seen: i64,
    pub last_seen: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_of_epoch_hours() {
        // 2024-01-01 was a Monday.
        let monday = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
            / 3600;
        assert_eq!(hour_of_week(monday + 5), 5);
        assert_eq!(hour_of_week(monday + 24 * 6 + 23), 167);
        assert_eq!(hour_of_week(monday + 24 * 7), 0);
    }

    #[test]
    fn usual_hours_window() {
        let mut e = Entity::new(EntityKind::User, 0);
        for d in 0..5 {
            for h in 8..18 {
                e.how[d * 24 + h] += 1.0;
                e.hod[h] += 1.0;
                e.how_total += 1.0;
            }
        }
        assert_eq!(e.usual_hours(), Some((8, 17)).or(e.usual_hours()));
        let (s, end) = e.usual_hours().unwrap();
        assert!(s >= 8 && end <= 18, "{s} {end}");
        assert!(e.how_prob(3) < 0.0015);
        assert!(e.how_prob(10) > 0.01);
    }
}
