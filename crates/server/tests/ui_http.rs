//! The web UI over plain HTTP against a running server: sign-in and cookies, redirects,
//! security headers, CSRF on every kind of form, roles, escaping of event content, and every
//! page rendering with real data.

mod ui_common;

use hyper::StatusCode;
use palisade_store::Store;
use ui_common::{Server, XSS, hidden};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sets_a_strict_session_cookie_and_pages_need_it() {
    let srv = Server::start().await;
    for path in [
        "/",
        "/incidents",
        "/incidents/1",
        "/rules",
        "/search?q=x",
        "/suppressions",
    ] {
        let r = srv.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path} without a session");
        let to = r.header("location").unwrap_or_default();
        assert!(to.starts_with("/login?next="), "{path} → {to}");
    }
    // A made-up session id is no session.
    let r = srv.get("/", Some("palisade_session=00ff")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // The login form sets its own CSRF cookie; without it (or with another value) sign-in is
    // refused even with a good token.
    let form = srv.get("/login", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let login_cookie = form.cookie("palisade_login").unwrap();
    let set = form.set_cookie("palisade_login").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let csrf = hidden(&form.body, "csrf").unwrap();
    let r = srv
        .post_form("/login", None, &[("csrf", &csrf), ("token", &srv.analyst)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no login cookie");
    assert!(r.cookie("palisade_session").is_none());
    let r = srv
        .post_form(
            "/login",
            Some(&login_cookie),
            &[("csrf", "0123"), ("token", &srv.analyst)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "wrong login csrf");

    // A wrong token: the form again, 401, no session.
    let r = srv
        .post_form(
            "/login",
            Some(&login_cookie),
            &[("csrf", &csrf), ("token", "pal_nope")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("unknown or revoked"));
    assert!(r.cookie("palisade_session").is_none());

    // The right one: a session cookie the browser keeps to itself and this site.
    let r = srv
        .post_form(
            "/login",
            Some(&login_cookie),
            &[("csrf", &csrf), ("token", &srv.analyst), ("next", "/rules")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/rules"));
    let set = r.set_cookie("palisade_session").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "no TLS configured: {set}");
    // `next` may not leave the site.
    let form = srv.get("/login", None).await;
    let (lc, csrf) = (
        form.cookie("palisade_login").unwrap(),
        hidden(&form.body, "csrf").unwrap(),
    );
    let r = srv
        .post_form(
            "/login",
            Some(&lc),
            &[
                ("csrf", &csrf),
                ("token", &srv.analyst),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.header("location"), Some("/"));

    let (session, csrf) = srv.sign_in(&srv.analyst).await;
    let r = srv.get("/", Some(&session)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("alice-analyst"));
    // Sign-out needs the CSRF token too, and ends the session.
    let r = srv.post_form("/logout", Some(&session), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(srv.get("/", Some(&session)).await.status, StatusCode::OK);
    let r = srv
        .post_form("/logout", Some(&session), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        srv.get("/", Some(&session)).await.status,
        StatusCode::SEE_OTHER
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_the_stylesheet_is_cached() {
    let srv = Server::start().await;
    let (session, _) = srv.sign_in(&srv.viewer).await;
    for (path, cookie) in [("/login", None), ("/", Some(session.as_str()))] {
        let r = srv.get(path, cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'none'"), "{path}: {csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(!r.body.contains("<script"), "{path} ships no script");
        assert!(!r.body.contains("style=\""), "{path} has no inline style");
    }
    let page = srv.get("/", Some(&session)).await.body;
    let at = page.find("/ui/static/app.css?v=").expect("stylesheet link");
    let href: String = page[at..].chars().take_while(|c| *c != '"').collect();
    let css = srv.get(&href, None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(
        css.header("cache-control")
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(css.body.contains("--bg"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_real_data_and_escapes_event_content() {
    let srv = Server::start().await;
    let incidents = srv.with_two_incidents().await;
    let (session, _) = srv.sign_in(&srv.viewer).await;
    let s = Some(session.as_str());

    let overview = srv.get("/", s).await;
    assert_eq!(overview.status, StatusCode::OK);
    for id in [
        "events-over-time",
        "alerts-over-time",
        "incidents-by-priority",
        "risky-entities",
    ] {
        assert!(overview.body.contains(id), "overview has {id}");
    }
    assert!(
        overview.body.contains("<rect class=\"ev\""),
        "event bars drawn"
    );
    assert!(
        overview.body.contains("<rect class=\"al\""),
        "alert bars drawn"
    );

    let queue = srv.get("/incidents", s).await;
    assert_eq!(queue.status, StatusCode::OK);
    for i in &incidents {
        assert!(queue.body.contains(&format!("/incidents/{}\"", i.id)));
    }
    // Rows in priority order.
    let prios: Vec<f64> = queue
        .body
        .split("data-priority=\"")
        .skip(1)
        .filter_map(|p| p.split('"').next()?.parse().ok())
        .collect();
    assert_eq!(prios.len(), incidents.len());
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    assert!(
        queue.body.contains("severity +"),
        "breakdown in words: {}",
        queue.body
    );

    // The incident whose command line carries markup: shown as text on every page.
    let xss = incidents
        .iter()
        .find(|i| i.body.to_string().to_lowercase().contains("ws07"))
        .expect("the WS07 incident");
    let page = srv.get(&format!("/incidents/{}", xss.id), s).await;
    assert_eq!(page.status, StatusCode::OK);
    for id in ["breakdown", "timeline", "entities", "evidence"] {
        assert!(
            page.body.contains(&format!("id=\"{id}\"")),
            "incident page has {id}"
        );
    }
    assert!(
        !page.body.contains(XSS),
        "markup from an event reached the page"
    );
    assert!(page.body.contains("&lt;script&gt;alert("), "shown escaped");
    assert!(page.body.contains("Read-only"), "a viewer gets no actions");
    let search = srv.get("/search?q=alert(%27xss", s).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(search.body.contains("&lt;script&gt;alert("));
    assert!(!search.body.contains("<script>"));
    // Markup in the query comes back escaped too.
    let search = srv.get("/search?q=%3Cscript%3Ex", s).await;
    assert!(search.body.contains("value=\"&lt;script&gt;x\""));
    assert!(!search.body.contains("<script>x"));

    // Entity pages: risk chart, baseline heat map, incidents.
    let host = srv.get("/entities/host/ws01.corp.example.com", s).await;
    assert_eq!(host.status, StatusCode::OK, "{}", host.body);
    assert!(host.body.contains("risk-over-time"));
    assert!(
        host.body.contains("id=\"hour-of-week\""),
        "WS01 has a baseline"
    );
    assert!(host.body.contains("id=\"entity-incidents\""));
    let user = srv.get("/entities/user/alice", s).await;
    assert_eq!(user.status, StatusCode::OK);
    assert!(
        user.body.contains("id=\"hour-of-week\""),
        "alice has a baseline"
    );
    assert!(user.body.contains("id=\"rel-country\""), "countries seen");
    assert!(user.body.contains(">DE<") && user.body.contains(">NL<"));
    assert!(user.body.contains("LAPTOP-ALICE"), "devices seen");
    // A host-scoped process: `|` and backslashes survive the link.
    let at = queue
        .body
        .find("href=\"/entities/process/")
        .expect("a process link")
        + 6;
    let href: String = queue.body[at..].chars().take_while(|c| *c != '"').collect();
    let process = srv.get(&href, s).await;
    assert_eq!(process.status, StatusCode::OK, "{href}");
    assert!(process.body.contains("|c:\\windows\\system32\\"), "{href}");
    let bad = srv.get("/entities/planet/mars", s).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let search = srv
        .get("/search?entity=WS01.corp.example.com&from=30d", s)
        .await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(search.body.matches("<tr class=\"event\"").count() >= 10);
    let bad = srv.get("/search?from=yesterday", s).await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains("bad time"));

    let rules = srv.get("/rules", s).await;
    assert!(
        rules
            .body
            .contains("PowerShell Started With an Encoded Command")
    );
    assert!(
        !rules.body.contains("name=\"enabled\""),
        "no toggles for a viewer"
    );
    let sup = srv.get("/suppressions", s).await;
    assert_eq!(sup.status, StatusCode::OK);
    assert_eq!(
        srv.get("/incidents/999999", s).await.status,
        StatusCode::NOT_FOUND
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_session_csrf_token_and_the_analyst_role() {
    let srv = Server::start().await;
    let incidents = srv.with_two_incidents().await;
    let id = incidents[0].id;
    let path = format!("/incidents/{id}");
    let (session, csrf) = srv.sign_in(&srv.analyst).await;
    let s = Some(session.as_str());

    // No token, a wrong one, one of another session: refused, nothing changes.
    let (_, other_csrf) = srv.sign_in(&srv.analyst).await;
    for bad in [None, Some("deadbeef"), Some(other_csrf.as_str())] {
        let mut fields = vec![("status", "resolved")];
        if let Some(b) = bad {
            fields.push(("csrf", b));
        }
        let r = srv.post_form(&path, s, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "csrf {bad:?}");
        assert!(r.body.contains("CSRF"));
    }
    let rule = "da1655cf-f834-45b6-b096-bb8fdaa6c064";
    let r = srv
        .post_form("/rules", s, &[("id", rule), ("enabled", "false")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = srv.post_form("/suppressions/1/revoke", s, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = srv.post_form(&format!("{path}/owner"), s, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(srv.incidents().await[0].status, "new");
    assert!(srv.running.state.disabled.read().unwrap().is_empty());

    // No session at all: to the sign-in page.
    let r = srv
        .post_form(&path, None, &[("csrf", &csrf), ("status", "resolved")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // A viewer with a valid token for its session: 403 for the role.
    let (vs, vcsrf) = srv.sign_in(&srv.viewer).await;
    let r = srv
        .post_form(
            &path,
            Some(&vs),
            &[("csrf", &vcsrf), ("status", "resolved")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("analyst role"));

    // The right token: the change happens and is audited under the token's name.
    let r = srv
        .post_form(
            &path,
            s,
            &[
                ("csrf", &csrf),
                ("status", "acknowledged"),
                ("note", "looking"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let after = srv.incidents().await;
    let inc = after.iter().find(|i| i.id == id).unwrap();
    assert_eq!(inc.status, "acknowledged");
    let r = srv
        .post_form(&format!("{path}/owner"), s, &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = srv
        .post_form(
            "/rules",
            s,
            &[("csrf", &csrf), ("id", rule), ("enabled", "false")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(srv.running.state.disabled.read().unwrap().contains(rule));
    let to = r.header("location").unwrap().to_string();
    let page = srv.get(&to, s).await;
    assert!(page.body.contains("Rule disabled"), "{to}");
    let audit = srv.running.state.db(|st| st.audit_log(50)).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.actor == "token:alice-analyst" && a.action == "rule.disable"),
        "{audit:?}"
    );
    let page = srv.get(&path, s).await;
    assert!(page.body.contains("looking"), "note shown");
    assert!(page.body.contains("Owner"), "owner row");
    assert!(page.body.contains(">alice-analyst<"), "owner set");
    srv.stop().await;
}

/// `n` failed SSH passwords from `ip` (RFC 3164, as sshd writes them), one second apart.
fn brute_force(ip: &str, n: usize) -> String {
    (0..n)
        .map(|k| {
            format!(
                "<38>Nov 28 03:10:{:02} web-1 sshd[4242]: Failed password for invalid user admin{k} from {ip} port {} ssh2\n",
                10 + k,
                40000 + k
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respond_page_approves_and_reverts_with_csrf_and_only_for_analysts() {
    // An approve-mode playbook on SSH brute force (nftables off: a ban decision only).
    let srv = Server::start_with(|cfg, dir| {
        let book = dir.join("approve.yml");
        std::fs::write(
            &book,
            "id: ssh-ban-after-approval\ntitle: Ban after approval\ntrigger:\n  tags: [attack.t1110.001]\nactions:\n  - decision:\n      target: source.ip\nmode: approve\nttl: 1h\n",
        )
        .unwrap();
        cfg.pipeline.rules = vec![ui_common::repo_root().join("examples/rules/linux")];
        cfg.respond.builtin_playbooks = false;
        cfg.respond.nftables = false;
        cfg.respond.playbooks = vec![book];
    })
    .await;
    srv.ingest_syslog(brute_force("198.51.100.44", 5)).await;
    let (session, csrf) = srv.sign_in(&srv.analyst).await;
    // The responder runs after the batch commit: wait for the pending action.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let id = loop {
        let r = srv.get("/respond", Some(&session)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if let Some(at) = r.body.find("action=\"/respond/") {
            let rest = &r.body[at + "action=\"/respond/".len()..];
            let id: i64 = rest[..rest.find('/').unwrap()].parse().unwrap();
            assert!(r.body.contains("Pending approvals (1)"), "{}", r.body);
            assert!(r.body.contains("198.51.100.44"));
            assert!(r.body.contains("ssh-ban-after-approval"));
            assert!(r.body.contains(&format!("/respond/{id}/deny")));
            assert!(r.body.contains("href=\"/respond\""), "nav entry");
            break id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pending action: {}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    // A viewer sees the action but no buttons, and may not post.
    let (vsession, vcsrf) = srv.sign_in(&srv.viewer).await;
    let r = srv.get("/respond", Some(&vsession)).await;
    assert!(r.body.contains("198.51.100.44"));
    assert!(
        !r.body.contains("action=\"/respond/"),
        "no forms for a viewer"
    );
    let r = srv
        .post_form(
            &format!("/respond/{id}/approve"),
            Some(&vsession),
            &[("csrf", &vcsrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Without the CSRF token, neither may an analyst.
    let r = srv
        .post_form(&format!("/respond/{id}/approve"), Some(&session), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Approve through the form: active, with a flash.
    let r = srv
        .post_form(
            &format!("/respond/{id}/approve"),
            Some(&session),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.header("location").unwrap().to_string();
    let r = srv.get(&to, Some(&session)).await;
    assert!(
        r.body.contains(&format!("Response action #{id} approved.")),
        "{}",
        r.body
    );
    assert!(r.body.contains("Active actions (1)"), "{}", r.body);
    assert!(r.body.contains(&format!("/respond/{id}/revert")));
    let st = srv.running.state.clone();
    let state = move |id: i64| {
        let st = st.clone();
        async move {
            st.db(move |s| palisade_store::ResponseStore::response_action(s, id))
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert_eq!(state(id).await, "active");
    // Approving again: the page again, with the reason as an error.
    let r = srv
        .post_form(
            &format!("/respond/{id}/approve"),
            Some(&session),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.body.contains("not pending") && r.body.contains("flash error"),
        "{}",
        r.body
    );

    // Revert: reverted, the log shows both steps by the analyst.
    let r = srv
        .post_form(
            &format!("/respond/{id}/revert"),
            Some(&session),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(id).await, "reverted");
    let r = srv.get("/respond", Some(&session)).await;
    assert!(r.body.contains("Pending approvals (0)") && r.body.contains("Active actions (0)"));
    assert!(
        r.body.contains("state-reverted") && r.body.contains("state-approved"),
        "{}",
        r.body
    );
    assert!(r.body.contains("alice-analyst"));
    let r = srv
        .post_form("/respond/999999/deny", Some(&session), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The closure holds a handle on the service's state (and so its ingress): drop it, or the
    // write-ahead log writer waits for it and stop never returns.
    drop(state);
    srv.stop().await;
}

/// `[vuln]` on: the scheduled scan's findings are listed on the Weaknesses page (a fixture
/// package-lock with vulnerable lodash/minimist versions against fixture OSV advisories).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weaknesses_page_lists_the_scheduled_scan() {
    let fixtures = ui_common::repo_root().join("crates/vuln/tests/fixtures");
    let srv = Server::start_with(|cfg, _| {
        cfg.vuln.enabled = true;
        cfg.vuln.host = false;
        cfg.vuln.paths = vec![fixtures.join("lockfiles/node/package-lock.json")];
        cfg.vuln.db = vec![fixtures.join("osv")];
    })
    .await;
    let (session, _) = srv.sign_in(&srv.viewer).await;
    let started = std::time::Instant::now();
    let page = loop {
        let page = srv.get("/vuln", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK);
        if !page.body.contains("No scan yet") {
            break page;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no scan shown"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for id in ["GHSA-p6mc-m468-83gw", "GHSA-vh95-rmgr-6w4m"] {
        assert!(
            page.body.contains(id),
            "{id} not on the page:\n{}",
            page.body
        );
    }
    assert!(page.body.contains("lodash"), "{}", page.body);
    // Without a session the page is not shown.
    let r = srv.get("/vuln", None).await;
    assert_ne!(r.status, StatusCode::OK);
    srv.stop().await;
}
