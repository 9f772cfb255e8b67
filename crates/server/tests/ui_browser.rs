//! The web UI end to end in a real headless Chromium (driven through chromedriver over
//! WebDriver): sign-in → overview → queue → incident → false positive with a note, then the
//! store and the API confirm the verdict, the suppression it created and the audit trail.
//! Screenshots of every page land in `target/ui-screenshots/` for review.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`PALISADE_CHROMIUM` and
//! `PALISADE_CHROMEDRIVER` override the paths). Without them the test fails, never skips: a
//! UI that no browser ever ran is not tested.

mod ui_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper::{Method, StatusCode};
use palisade_store::Store;
use serde_json::{Value, json};
use ui_common::{Server, XSS, http};

fn executable(var: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    for c in candidates {
        if Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    panic!(
        "{} not found (looked at {candidates:?}; set {var} to override). Install it with \
         `apt-get install -y chromium chromium-driver`{}",
        candidates[0],
        if std::env::var("CI").as_deref() == Ok("true") {
            " — CI must provide it (scripts/test.sh installs it)"
        } else {
            ""
        }
    );
}

/// chromedriver on a free loopback port, ended when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    let bin = executable(
        "PALISADE_CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            let r = http(
                Method::GET,
                &format!("{}/status", driver.url),
                &[],
                String::new(),
            )
            .await;
            if r.status == StatusCode::OK {
                return driver;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let chromium = executable(
        "PALISADE_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1366,900",
                "--hide-scrollbars",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session through chromedriver")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ui_common::repo_root().join("target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// A full-page screenshot (the window grows to the page's height, then shrinks back).
async fn shot(c: &Client, name: &str) {
    let height = c
        .execute(
            "return Math.min(document.documentElement.scrollHeight \
             + window.outerHeight - window.innerHeight, 8000);",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(900) as u32;
    c.set_window_size(1366, height.max(900)).await.ok();
    let png = c.screenshot().await.expect("screenshot");
    c.set_window_size(1366, 900).await.ok();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn path_of(c: &Client) -> String {
    let u = c.current_url().await.expect("url");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// Waits (up to 20 s) for the browser to arrive at a path starting with `prefix`: a click on a
/// form button returns before the POST and its redirect finish, slower on a loaded machine.
async fn wait_path(c: &Client, prefix: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let p = path_of(c).await;
        if p.starts_with(prefix) || start.elapsed() > std::time::Duration::from_secs(20) {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits (up to 20 s) for the browser to arrive exactly at `want`.
async fn wait_eq(c: &Client, want: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let p = path_of(c).await;
        if p == want || start.elapsed() > std::time::Duration::from_secs(20) {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css))
        .await
        .expect("find")
        .is_empty()
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_marks_the_top_incident_false_positive_in_chromium() {
    let started = Instant::now();
    let srv = Server::start().await;
    let incidents = srv.with_two_incidents().await;
    assert!(incidents.len() >= 2);
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let c = browser(&driver, profile.path()).await;
    let base = srv.base.clone();

    // Not signed in: the overview sends the browser to the sign-in page.
    c.goto(&format!("{base}/")).await.expect("open /");
    assert!(
        path_of(&c).await.starts_with("/login"),
        "redirected to sign-in"
    );
    shot(&c, "01-login").await;
    c.find(Locator::Css("#token"))
        .await
        .expect("token field")
        .send_keys(&srv.analyst)
        .await
        .expect("type token");
    c.find(Locator::Css("main.login button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("sign in");

    // Overview: both charts drawn, incidents by priority, riskiest entities.
    assert_eq!(wait_eq(&c, "/").await, "/", "back on the overview");
    for id in [
        "#events-over-time",
        "#alerts-over-time",
        "#incidents-by-priority",
        "#risky-entities",
        "#top-incidents",
    ] {
        assert!(exists(&c, id).await, "overview shows {id}");
    }
    assert!(exists(&c, "#events-over-time rect.ev").await, "event bars");
    assert!(exists(&c, "#alerts-over-time rect.al").await, "alert bars");
    assert!(
        text(&c, "#risky-entities").await.contains("ws01"),
        "WS01 among the riskiest"
    );
    shot(&c, "02-overview").await;

    // The queue: highest priority first, each with its breakdown.
    c.find(Locator::LinkText("Incidents"))
        .await
        .expect("nav link")
        .click()
        .await
        .expect("open queue");
    assert_eq!(wait_eq(&c, "/incidents").await, "/incidents");
    let rows = c
        .find_all(Locator::Css("#queue tr.incident"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), incidents.len(), "every open incident listed");
    let mut prios = Vec::new();
    for r in &rows {
        let p: f64 = r
            .attr("data-priority")
            .await
            .expect("attr")
            .and_then(|p| p.parse().ok())
            .expect("priority");
        prios.push(p);
    }
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "sorted: {prios:?}");
    let breakdown = rows[0]
        .find(Locator::Css("td.breakdown"))
        .await
        .expect("breakdown cell");
    assert!(
        breakdown.find(Locator::Css("svg.stack rect")).await.is_ok(),
        "breakdown bar"
    );
    let words = breakdown.text().await.expect("breakdown text");
    assert!(words.contains("severity +"), "factors in words: {words}");
    shot(&c, "03-queue").await;

    // The top incident: timeline, entities, evidence.
    let top = rows[0]
        .find(Locator::Css("a.title"))
        .await
        .expect("title link");
    let href = top.attr("href").await.expect("href").expect("href");
    top.click().await.expect("open incident");
    assert_eq!(wait_eq(&c, &href).await, href);
    let id: i64 = href
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert_eq!(id, incidents[0].id, "the highest-priority incident");
    assert!(
        !c.find_all(Locator::Css("#timeline tbody tr"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(exists(&c, "#entities a.entity").await);
    assert!(
        c.find_all(Locator::Css("#evidence tbody tr"))
            .await
            .unwrap()
            .len()
            >= 3,
        "the stored alerts as evidence"
    );
    assert!(text(&c, "#timeline").await.contains("LSASS"));
    assert!(text(&c, "#breakdown").await.contains("severity"));
    assert_eq!(text(&c, "#status").await, "new");
    shot(&c, "04-incident").await;

    // False positive, scoped to the entity, with a note.
    let note = "Red-team exercise <b>announced</b> on the change calendar";
    c.find(Locator::Css("#note"))
        .await
        .expect("note")
        .send_keys(note)
        .await
        .expect("type note");
    c.find(Locator::Css("#scope"))
        .await
        .expect("scope")
        .select_by_value("entity")
        .await
        .expect("choose scope");
    c.find(Locator::Css("button.fp"))
        .await
        .expect("false-positive button")
        .click()
        .await
        .expect("submit");
    let want = format!("/incidents/{id}?updated=false-positive");
    let at = wait_path(&c, &want).await;
    assert!(at.starts_with(&want), "back on the incident, not at {at}");
    assert_eq!(text(&c, "#status").await, "false-positive");
    assert!(text(&c, "p.flash").await.contains("suppression"));
    assert!(text(&c, "#notes").await.contains(note), "the note, as text");
    shot(&c, "05-incident-false-positive").await;

    // The store and the API agree, and the audit log names the token.
    let rec = srv
        .incidents()
        .await
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert_eq!(rec.status, "false-positive");
    let sups: Vec<_> = {
        let t = srv.running.state.triage.lock().unwrap();
        t.suppressions()
            .iter()
            .filter(|s| s.incident == Some(id))
            .cloned()
            .collect()
    };
    assert!(!sups.is_empty(), "the verdict created a suppression");
    assert!(sups.iter().all(|s| s.author == "token:alice-analyst"));
    assert!(
        sups.iter().all(|s| s.entity.is_some()),
        "entity scope: {sups:?}"
    );
    let audit = srv.running.state.db(|s| s.audit_log(100)).await.unwrap();
    let target = format!("incident:{id}");
    assert!(
        audit.iter().any(|a| a.actor == "token:alice-analyst"
            && a.action == "incident.update"
            && a.target == target),
        "audited: {audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|a| a.actor == "token:alice-analyst" && a.action == "suppression.add")
    );
    let api = http(
        Method::GET,
        &format!("{base}/api/v1/incidents/{id}"),
        &[("authorization", format!("Bearer {}", srv.analyst))],
        String::new(),
    )
    .await;
    let v: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(v["incident"]["status"], "false-positive");
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["text"] == note)
    );

    // The rest of the UI, for review: the entity, suppressions, the other incident (its
    // markup-laden command line shown as text), search, rules.
    c.find(Locator::Css("#entities a.entity[href^='/entities/host/']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        wait_path(&c, "/entities/host/")
            .await
            .starts_with("/entities/host/")
    );
    assert!(exists(&c, "#risk-over-time").await);
    shot(&c, "06-entity").await;
    c.goto(&format!("{base}/entities/user/alice"))
        .await
        .unwrap();
    assert!(exists(&c, "#hour-of-week rect.cell.on").await, "heat map");
    assert!(text(&c, "#rel-country").await.contains("DE"));
    shot(&c, "07-entity-user").await;
    c.find(Locator::LinkText("Suppressions"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text(&c, "#suppressions").await.contains("alice-analyst"));
    shot(&c, "08-suppressions").await;
    let other = incidents.iter().find(|i| i.id != id).unwrap();
    c.goto(&format!("{base}/incidents/{}", other.id))
        .await
        .unwrap();
    c.find(Locator::Css("#evidence details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        text(&c, "#evidence pre").await.contains(XSS),
        "markup shown literally"
    );
    shot(&c, "09-incident-escaped").await;
    c.goto(&format!(
        "{base}/search?entity=WS01.corp.example.com&from=30d"
    ))
    .await
    .unwrap();
    assert!(
        c.find_all(Locator::Css("#results tr.event"))
            .await
            .unwrap()
            .len()
            >= 10
    );
    shot(&c, "10-search").await;
    c.goto(&format!("{base}/rules")).await.unwrap();
    assert!(exists(&c, "#rules tr.rule").await);
    shot(&c, "11-rules").await;
    c.goto(&format!("{base}/respond")).await.unwrap();
    assert!(text(&c, "h1").await.contains("Respond"));
    shot(&c, "12-respond").await;

    c.close().await.expect("close browser");
    drop(driver);
    srv.stop().await;
    eprintln!(
        "browser test: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        screenshot_dir().display()
    );
}
