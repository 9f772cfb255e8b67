//! The web UI (server-rendered).

use axum::Router;

use crate::state::AppState;

/// The UI's routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
