//! `GET /api/docs`: the OpenAPI document, browsable.
//!
//! The page uses Swagger UI from the console's own static files
//! (`/static/swagger-ui/`, copied from the `swagger-ui-dist` npm package by
//! the web build), never from a CDN: consoles often run where the internet
//! is not. Without the built UI the page still links the raw document.
//! Its files have fixed names and are cached as immutable like every
//! `/static/` file, so the page asks for them with the version in the query:
//! a new binary's Swagger UI is fetched anew.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const PAGE: &str = concat!(
    r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Takhin Console API</title>
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css?v="##,
    env!("CARGO_PKG_VERSION"),
    r##"">
<style>body{margin:0;font-family:system-ui,sans-serif}#fallback{max-width:40rem;margin:3rem auto;padding:0 1rem}</style>
</head>
<body>
<div id="swagger-ui"></div>
<div id="fallback">
<h1>Takhin Console API</h1>
<p>The OpenAPI document is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.
The interactive browser needs the built web console (<code>make web</code>).</p>
</div>
<script src="/static/swagger-ui/swagger-ui-bundle.js?v="##,
    env!("CARGO_PKG_VERSION"),
    r##""></script>
<script>
if (window.SwaggerUIBundle) {
  document.getElementById("fallback").remove();
  window.SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
}
</script>
</body>
</html>
"##
);

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

/// `/api/docs`.
pub fn router() -> Router {
    Router::new().route("/api/docs", get(page))
}

#[cfg(test)]
mod tests {
    #[test]
    fn swagger_ui_files_are_asked_for_with_the_version() {
        let version = env!("CARGO_PKG_VERSION");
        assert!(super::PAGE.contains(&format!("swagger-ui-bundle.js?v={version}\"")));
        assert!(super::PAGE.contains(&format!("swagger-ui.css?v={version}\"")));
        assert!(super::PAGE.contains("/api/v1/openapi.json"));
    }
}
