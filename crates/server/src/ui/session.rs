//! Sign-in, sign-out, the signed-in extractor and the CSRF check.
//!
//! The login form itself is protected by a double-submit token: `GET /login` sets a random
//! value in a short-lived `HttpOnly; SameSite=Strict` cookie and in a hidden field, and the
//! `POST` must bring both, equal (so another site cannot sign a browser in to its own token).

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{self, enc};
use super::{PageError, PageResult};
use crate::auth::{Principal, Role, random_hex, secrets_equal};
use crate::session::COOKIE;
use crate::state::AppState;

/// Cookie holding the login form's CSRF value.
const LOGIN_COOKIE: &str = "palisade_login";

/// A request from a signed-in browser.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
}

impl SignedIn {
    /// Fails with a 403 page unless the role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        if self.principal.role >= role {
            Ok(())
        } else {
            Err(PageError::Forbidden(format!(
                "this needs the {role} role or higher; you are signed in as {} ({})",
                self.principal.name, self.principal.role
            )))
        }
    }

    /// Fails with a 403 page unless a form brought this session's CSRF token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if !sent.is_empty() && secrets_equal(sent, &self.csrf) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "the form's security token did not match this session (CSRF check); \
                 reload the page and try again"
                    .into(),
            ))
        }
    }

    /// An analyst form: the role and the CSRF token.
    pub fn may_change(&self, sent: &str) -> Result<(), PageError> {
        self.check_csrf(sent)?;
        self.require(Role::Analyst)
    }

    pub fn is_analyst(&self) -> bool {
        self.principal.role >= Role::Analyst
    }
}

/// A cookie's value from the request headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = cookie(&parts.headers, COOKIE).and_then(|id| state.sessions.get(&id));
        match session {
            Some(s) => Ok(SignedIn {
                principal: s.principal,
                csrf: s.csrf,
            }),
            None => {
                // Come back to the page after signing in (forms: to the page they were on is
                // unknown, so to the overview).
                let next = if parts.method == Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_string()
                } else {
                    "/".to_string()
                };
                Err(Redirect::to(&format!("/login?next={}", enc(&next))).into_response())
            }
        }
    }
}

/// Only a path on this site (no `//host` or scheme), so the login cannot redirect elsewhere.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn secure(state: &AppState) -> &'static str {
    if state.cfg.server.tls_cert.is_some() {
        "; Secure"
    } else {
        ""
    }
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_form(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    login_page(&state, q.next.as_deref(), None)
}

fn login_page(state: &AppState, next: Option<&str>, error: Option<&str>) -> Response {
    let csrf = random_hex(16);
    let next = local_path(next);
    let body = html! {
        main.login {
            h1 { "Palisade" }
            p.muted { "Sign in with an API token (" code { "palisade token create --role analyst" } ")." }
            @if let Some(e) = error { p.flash.error role="alert" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="off" required autofocus;
                button type="submit" { "Sign in" }
            }
        }
    };
    let status = if error.is_some() {
        axum::http::StatusCode::UNAUTHORIZED
    } else {
        axum::http::StatusCode::OK
    };
    let mut resp = (status, layout::bare("Sign in", body)).into_response();
    set_cookie(
        &mut resp,
        format!(
            "{LOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}",
            secure(state)
        ),
    );
    resp
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !secrets_equal(&expected, &f.csrf) {
        return Err(PageError::Forbidden(
            "the sign-in form was stale or not from this site (CSRF check); open /login again"
                .into(),
        ));
    }
    let Some(principal) = state.principal(f.token.trim()).await? else {
        tracing::info!("web UI: sign-in with an unknown or revoked token");
        return Ok(login_page(
            &state,
            f.next.as_deref(),
            Some("That token is unknown or revoked."),
        ));
    };
    let name = principal.name.clone();
    let (id, _) = state.sessions.create(principal.clone());
    state
        .audit(
            &principal,
            "ui.sign-in",
            format!("token:{}", principal.token_id),
            serde_json::json!({}),
        )
        .await?;
    tracing::info!("web UI: {name} signed in");
    let mut resp = Redirect::to(&local_path(f.next.as_deref())).into_response();
    set_cookie(
        &mut resp,
        format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            state.cfg.server.session_minutes * 60,
            secure(&state)
        ),
    );
    set_cookie(
        &mut resp,
        format!("{LOGIN_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    who.check_csrf(&f.csrf)?;
    if let Some(id) = cookie(&headers, COOKIE) {
        state.sessions.remove(&id);
    }
    let mut resp = Redirect::to("/login").into_response();
    set_cookie(
        &mut resp,
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            secure(&state)
        ),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path(Some("/incidents?x=1")), "/incidents?x=1");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; palisade_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
