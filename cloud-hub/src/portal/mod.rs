//! The analytics portal, served by the hub on its public listener: one page, its script and
//! styles, all ours and embedded in the binary (nothing is loaded from elsewhere at run time).
//! It logs in with `POST /auth/login` and then uses the same API as any client, with the
//! person's token: plant data, FoodGraph, forecasts and the audit trail.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const PAGE: &str = include_str!("assets/portal.html");
const SCRIPT: &str = include_str!("assets/portal.js");
const STYLE: &str = include_str!("assets/portal.css");

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'",
            ),
        ],
        body,
    )
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::temporary("/portal") }),
        )
        .route(
            "/portal",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/portal/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/portal/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}
