//! Charts as inline SVG drawn on the server: counts over time, a line over time, an
//! hour-of-week heat map and horizontal bars. Geometry goes in SVG attributes and colours in
//! CSS classes, so the Content-Security-Policy needs no inline style; each mark has a `<title>`
//! for a hover tooltip without script.

use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};

const W: f64 = 640.0;
const H: f64 = 170.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// Counts of `points` in `n` buckets of `step` seconds from `since` (missing buckets are 0).
pub fn bucketed(
    points: &[(DateTime<Utc>, u64)],
    since: DateTime<Utc>,
    step: i64,
    n: usize,
) -> Vec<u64> {
    let mut out = vec![0u64; n];
    let start = since.timestamp().div_euclid(step) * step;
    for (t, c) in points {
        let k = (t.timestamp() - start).div_euclid(step);
        if (0..n as i64).contains(&k) {
            out[k as usize] += c;
        }
    }
    out
}

/// First bucket start for `since`.
pub fn bucket_start(since: DateTime<Utc>, step: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(since.timestamp().div_euclid(step) * step, 0).unwrap_or(since)
}

fn label(t: DateTime<Utc>, step: i64) -> String {
    if step >= 3600 * 6 {
        t.format("%m-%d").to_string()
    } else if step >= 3600 {
        t.format("%m-%d %H:%M").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

fn nice_max(m: f64) -> f64 {
    if m <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(m.log10().floor());
    for f in [1.0, 2.0, 5.0, 10.0] {
        if m <= f * mag {
            return f * mag;
        }
    }
    10.0 * mag
}

/// A bar per bucket; `noun` names what is counted ("events").
pub fn bars(
    id: &str,
    noun: &str,
    class: &str,
    start: DateTime<Utc>,
    step: i64,
    counts: &[u64],
) -> Markup {
    let n = counts.len().max(1);
    let max = nice_max(counts.iter().copied().max().unwrap_or(0) as f64);
    let total: u64 = counts.iter().sum();
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let bw = pw / n as f64;
    let at = |k: usize| start + Duration::seconds(step * k as i64);
    html! {
        svg.chart id=(id) viewBox=(format!("0 0 {W} {H}")) width="100%" role="img"
            aria-label=(format!("{noun} over time: {total} in total")) {
            title { (noun) " over time (" (total) " in total)" }
            line.axis x1=(LEFT) y1=(TOP + ph) x2=(W - RIGHT) y2=(TOP + ph) {}
            line.grid x1=(LEFT) y1=(TOP) x2=(W - RIGHT) y2=(TOP) {}
            text.tick x=(LEFT - 4.0) y=(TOP + 4.0) text-anchor="end" { (max) }
            text.tick x=(LEFT - 4.0) y=(TOP + ph) text-anchor="end" { "0" }
            @for (k, &c) in counts.iter().enumerate() {
                @if c > 0 {
                    @let h = (c as f64 / max * ph).max(1.0);
                    rect class=(class) x=(format!("{:.1}", LEFT + k as f64 * bw + bw * 0.1))
                        y=(format!("{:.1}", TOP + ph - h)) width=(format!("{:.1}", (bw * 0.8).max(1.0)))
                        height=(format!("{h:.1}")) {
                        title { (label(at(k), step.min(3599))) "–" (label(at(k + 1), step.min(3599))) " UTC: " (c) " " (noun) }
                    }
                }
            }
            @for k in [0, n / 2, n] {
                text.tick x=(format!("{:.1}", LEFT + k as f64 * bw)) y=(H - 6.0)
                    text-anchor=(if k == 0 { "start" } else if k == n { "end" } else { "middle" }) {
                    (label(at(k), step))
                }
            }
            @if total == 0 {
                text.empty x=(LEFT + pw / 2.0) y=(TOP + ph / 2.0) text-anchor="middle" { "no " (noun) " in this range" }
            }
        }
    }
}

/// A line through `(time, value)` points between `from` and `to`.
pub fn line(
    id: &str,
    noun: &str,
    points: &[(DateTime<Utc>, f64)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Markup {
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let max = nice_max(points.iter().map(|p| p.1).fold(0.0, f64::max));
    let span = (to - from).num_seconds().max(1) as f64;
    let xy = |t: DateTime<Utc>, v: f64| {
        let x = LEFT + ((t - from).num_seconds() as f64 / span).clamp(0.0, 1.0) * pw;
        let y = TOP + ph - (v / max).clamp(0.0, 1.0) * ph;
        (x, y)
    };
    let path: Vec<String> = points
        .iter()
        .map(|&(t, v)| {
            let (x, y) = xy(t, v);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let step = (span as i64 / 2).max(1);
    html! {
        svg.chart id=(id) viewBox=(format!("0 0 {W} {H}")) width="100%" role="img"
            aria-label=(format!("{noun} over time")) {
            title { (noun) " over time" }
            line.axis x1=(LEFT) y1=(TOP + ph) x2=(W - RIGHT) y2=(TOP + ph) {}
            line.grid x1=(LEFT) y1=(TOP) x2=(W - RIGHT) y2=(TOP) {}
            text.tick x=(LEFT - 4.0) y=(TOP + 4.0) text-anchor="end" { (max) }
            text.tick x=(LEFT - 4.0) y=(TOP + ph) text-anchor="end" { "0" }
            @if !path.is_empty() {
                polyline.series points=(path.join(" ")) {}
                @for &(t, v) in points.iter().rev().take(300) {
                    @let (x, y) = xy(t, v);
                    circle.dot cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="2.5" {
                        title { (t.format("%Y-%m-%d %H:%M")) " UTC: " (format!("{v:.1}")) }
                    }
                }
            } @else {
                text.empty x=(LEFT + pw / 2.0) y=(TOP + ph / 2.0) text-anchor="middle" { "no " (noun) " recorded in this range" }
            }
            text.tick x=(LEFT) y=(H - 6.0) text-anchor="start" { (label(from, step)) }
            text.tick x=(W - RIGHT) y=(H - 6.0) text-anchor="end" { (label(to, step)) }
        }
    }
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A 7 × 24 grid of an hour-of-week profile (168 shares, Monday 00:00 UTC first).
pub fn heat_map(id: &str, shares: &[f32]) -> Markup {
    let cell = 20.0;
    let left = 36.0;
    let top = 16.0;
    let max = shares.iter().copied().fold(0.0f32, f32::max);
    let w = left + 24.0 * cell + 2.0;
    let h = top + 7.0 * cell + 2.0;
    html! {
        svg.heat id=(id) viewBox=(format!("0 0 {w} {h}")) width="100%" role="img"
            aria-label="activity by hour of week (UTC)" {
            title { "Activity by hour of week (UTC)" }
            @for hour in (0..24).step_by(3) {
                text.tick x=(left + hour as f64 * cell + cell / 2.0) y=(top - 4.0) text-anchor="middle" { (format!("{hour:02}")) }
            }
            @for (d, day) in DAYS.iter().enumerate() {
                text.tick x=(left - 6.0) y=(top + d as f64 * cell + cell * 0.7) text-anchor="end" { (day) }
                @for hour in 0..24 {
                    @let v = shares.get(d * 24 + hour).copied().unwrap_or(0.0);
                    @let o = if max > 0.0 && v > 0.0 { 0.12 + 0.88 * f64::from(v / max) } else { 0.0 };
                    rect class=(if o > 0.0 { "cell on" } else { "cell" })
                        x=(left + hour as f64 * cell + 1.0) y=(top + d as f64 * cell + 1.0)
                        width=(cell - 2.0) height=(cell - 2.0) fill-opacity=(format!("{o:.2}")) {
                        title { (day) " " (format!("{hour:02}:00")) " UTC: " (format!("{:.1}", v * 100.0)) " % of activity" }
                    }
                }
            }
        }
    }
}

/// Horizontal bars with labels: `(label, value, css class)`.
pub fn hbars(id: &str, rows: &[(String, f64, String)]) -> Markup {
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-9);
    let row_h = 22.0;
    let label_w = 110.0;
    let w = 420.0;
    let h = row_h * rows.len().max(1) as f64;
    html! {
        svg.hbars id=(id) viewBox=(format!("0 0 {w} {h}")) width="100%" role="img" {
            @for (k, (name, v, class)) in rows.iter().enumerate() {
                @let y = k as f64 * row_h;
                @let bw = (v / max * (w - label_w - 50.0)).max(if *v > 0.0 { 2.0 } else { 0.0 });
                text.tick x=(label_w - 6.0) y=(y + 15.0) text-anchor="end" { (name) }
                rect class=(class) x=(label_w) y=(y + 4.0) width=(format!("{bw:.1}")) height=(row_h - 8.0) {
                    title { (name) ": " (v) }
                }
                text.value x=(label_w + bw + 6.0) y=(y + 15.0) { (v) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_points_in_range_only() {
        let since = DateTime::from_timestamp(60 * 16_667, 0).unwrap(); // on a bucket boundary
        let pts = vec![
            (since, 2),
            (since + Duration::seconds(59), 1),
            (since + Duration::seconds(61), 5),
            (since - Duration::seconds(120), 9),
            (since + Duration::seconds(600), 7),
        ];
        let b = bucketed(&pts, since, 60, 3);
        assert_eq!(b, vec![3, 5, 0]);
    }

    #[test]
    fn bars_escape_nothing_and_count() {
        let since = DateTime::from_timestamp(0, 0).unwrap();
        let svg = bars("x", "events", "ev", since, 60, &[0, 3, 1]).into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("4 in total"));
        let empty = bars("x", "alerts", "al", since, 60, &[0, 0]).into_string();
        assert!(empty.contains("no alerts in this range"));
    }

    #[test]
    fn heat_map_has_a_cell_per_hour_of_week() {
        let mut shares = vec![0.0f32; 168];
        shares[9] = 0.5; // Monday 09:00
        shares[24 + 10] = 0.25;
        let svg = heat_map("h", &shares).into_string();
        assert_eq!(svg.matches("<rect").count(), 168);
        assert_eq!(svg.matches("cell on").count(), 2);
        assert!(svg.contains("Mon 09:00 UTC: 50.0 % of activity"));
    }

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(450.0), 500.0);
    }
}
