//! The web UI: server-rendered HTML pages over the same functions the REST API uses.
//!
//! Pages are `maud` templates (escaped by default), charts are SVG drawn here, and the only
//! asset is one embedded stylesheet: no JavaScript and no build step. Sign-in exchanges an API
//! token for a session cookie (`HttpOnly; SameSite=Strict`), and every form carries the
//! session's CSRF token. Every response gets a strict Content-Security-Policy (no script at
//! all, no inline style) and may not be framed.
//!
//! | path | what |
//! | --- | --- |
//! | `/` | overview: events and alerts over time, open incidents by priority, riskiest entities |
//! | `/login`, `/logout` | sign-in with a token, sign-out |
//! | `/incidents`, `/incidents/{id}` | the queue with score breakdowns; one incident and its status actions |
//! | `/entities/{kind}/{value}` | risk over time, hour-of-week baseline, related values |
//! | `/rules` | rules with enable/disable |
//! | `/search` | stored events by text, entity, field and time |
//! | `/suppressions` | suppressions with revoke |
//! | `/respond`, `/respond/{id}/{approve,deny,revert}` | response actions: approvals, active ones with revert, recent, the response log, playbooks |
//! | `/vuln` | the latest weakness scan: vulnerable packages by priority, host weaknesses |

mod charts;
mod entities;
mod incidents;
mod layout;
mod overview;
mod respond;
mod rules;
mod search;
mod session;
mod suppressions;
mod vuln;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

pub use session::SignedIn;

/// The stylesheet, embedded so the binary is the whole deployment.
const CSS: &str = include_str!("app.css");

/// Path of the stylesheet; the query changes with its content, so it can be cached forever.
fn css_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        // FNV-1a: a version tag, not a security measure.
        let h = CSS.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        format!("/ui/static/app.css?v={:08x}", h as u32)
    })
}

/// The UI's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/incidents", get(incidents::queue))
        .route(
            "/incidents/{id}",
            get(incidents::page).post(incidents::update),
        )
        .route("/incidents/{id}/owner", post(incidents::take))
        .route("/entities/{kind}/{*value}", get(entities::page))
        .route("/rules", get(rules::page).post(rules::toggle))
        .route("/search", get(search::page))
        .route("/suppressions", get(suppressions::page))
        .route("/suppressions/{id}/revoke", post(suppressions::revoke))
        .route("/respond", get(respond::page))
        .route("/respond/{id}/{step}", post(respond::step))
        .route("/vuln", get(vuln::page))
        .route("/ui/static/app.css", get(stylesheet))
        .layer(middleware::from_fn(security_headers))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        CSS,
    )
        .into_response()
}

/// The policy every UI response carries: nothing but this origin's stylesheet and forms; no
/// script, no inline style, no framing, no referrer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Pages show incident and event data: keep them out of shared and back-button caches.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A page that failed: rendered as HTML with its status.
#[derive(Debug)]
pub enum PageError {
    /// The role is too low, or the CSRF check failed.
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    Internal(String),
}

impl From<crate::api::ApiError> for PageError {
    fn from(e: crate::api::ApiError) -> Self {
        use crate::api::ApiError as A;
        match e {
            A::Unauthorized => PageError::Forbidden("a valid token is required".into()),
            A::Forbidden(r) => PageError::Forbidden(format!("this needs the {r} role or higher")),
            A::NotFound(m) => PageError::NotFound(m),
            A::BadRequest(m) | A::TooLarge(m) => PageError::BadRequest(m),
            A::Busy { retry_after_secs } => {
                PageError::Internal(format!("busy; retry in {retry_after_secs} s"))
            }
            A::Unavailable(m) | A::Internal(m) => PageError::Internal(m),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, msg) = match self {
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            PageError::Internal(m) => {
                tracing::error!("web UI: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "internal error (see the server log)".to_string(),
                )
            }
        };
        (status, layout::error_page(status, title, &msg)).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;
