//! The page shell (head, navigation, account menu) and small pieces every page uses.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use palisade_triage::entity::Entity;

use super::SignedIn;

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Incidents,
    Search,
    Rules,
    Suppressions,
    Respond,
    Vuln,
    None,
}

const NAV: [(Nav, &str, &str); 7] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::Incidents, "/incidents", "Incidents"),
    (Nav::Search, "/search", "Search"),
    (Nav::Rules, "/rules", "Rules"),
    (Nav::Suppressions, "/suppressions", "Suppressions"),
    (Nav::Respond, "/respond", "Respond"),
    (Nav::Vuln, "/vuln", "Weaknesses"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · Palisade" }
            link rel="stylesheet" href=(super::css_path());
        }
    }
}

/// A signed-in page.
pub fn page(title: &str, who: &SignedIn, nav: Nav, body: Markup) -> Response {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/" { "Palisade" }
                    nav {
                        @for (n, href, label) in NAV {
                            @if n == nav { a.current href=(href) aria-current="page" { (label) } }
                            @else { a href=(href) { (label) } }
                        }
                    }
                    form.search method="get" action="/search" {
                        input type="search" name="q" placeholder="Search events" aria-label="Search events";
                    }
                    div.account {
                        span.who { (who.principal.name) " · " (who.principal.role) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(who.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(doc.into_string()).into_response()
}

/// A page without navigation (sign-in).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" { (head(title)) body.bare { (body) } }
        }
        .into_string(),
    )
}

pub fn error_page(status: StatusCode, title: &str, msg: &str) -> Html<String> {
    bare(
        title,
        html! {
            main.login {
                h1 { (status.as_u16()) " · " (title) }
                p.flash.error role="alert" { (msg) }
                p { a href="/" { "Back to the overview" } }
            }
        },
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters (a path segment or a query
/// value).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

pub fn time_tag(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        Some(t) => html! { time datetime=(t.to_rfc3339()) { (time(Some(t))) } },
        None => html! { "—" },
    }
}

/// Priority as a coloured badge with its band.
pub fn priority(p: f64) -> Markup {
    let band = palisade_triage::engine::priority_band(p).as_str();
    html! { span class={"prio band-" (band)} title=(band) { (format!("{p:.0}")) } }
}

pub fn band_badge(band: &str) -> Markup {
    html! { span class={"badge band-" (band)} { (band) } }
}

pub fn status(s: &str) -> Markup {
    html! { span class={"badge status-" (s)} { (s) } }
}

pub fn entity_href(e: &Entity) -> String {
    format!("/entities/{}/{}", e.kind.as_str(), enc(&e.value))
}

pub fn entity_link(e: &Entity) -> Markup {
    html! {
        a.entity href=(entity_href(e)) {
            span.kind { (e.kind.as_str()) } " " (e.value)
        }
    }
}

/// A flash message from a redirect's query.
pub fn flash(msg: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg { p.flash role="status" { (m) } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_unreserved_only() {
        assert_eq!(enc("ws-01.corp_x~"), "ws-01.corp_x~");
        assert_eq!(enc("a/b c?&<"), "a%2Fb%20c%3F%26%3C");
        assert_eq!(enc("é"), "%C3%A9");
    }
}
