//! The web console's static files, built from `web/` into `web/dist` by
//! `make web` and embedded into the binary with `rust-embed` (a release build
//! carries the files; a debug build reads them from `web/dist` at run time,
//! so `make web` is seen without rebuilding Rust).
//!
//! Routing, for `GET` and `HEAD`:
//! - a file that exists is served with its content type; a `.gz` twin that
//!   the web build wrote beside it is sent instead when the client accepts
//!   gzip;
//! - `/static/...` holds the build's content-hashed assets: cached for a year
//!   and immutable. Everything else (`index.html`) is `no-cache`, so a new
//!   binary's UI is picked up on the next load; ETags make that revalidation
//!   cheap;
//! - `/api/...` that no API route answered is a problem+json 404, never the
//!   SPA page, so a client calling a missing endpoint sees a real error;
//! - a missing `/static/...` file is a 404 (a stale chunk must fail, not be
//!   parsed as HTML);
//! - any other path is a client-side route: `index.html` (SPA fallback).
//!
//! When the UI was not built (a fresh clone: `build.rs` left `web/dist`
//! empty) `/` answers a small built-in page that says how to build it.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::{EmbeddedFile, RustEmbed};

#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
struct Assets;

/// Where the build puts content-hashed files (Rsbuild's `static/js`, ...).
const HASHED_ASSETS_PREFIX: &str = "static/";
const INDEX_HTML: &str = "index.html";
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
const CACHE_REVALIDATE: &str = "no-cache";

const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Takhin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code{background:#8882;padding:.1rem .3rem;border-radius:.2rem}</style></head>
<body><h1>Takhin is running</h1>
<p>The web console was not built into this binary. From the repository root, run
<code>make web</code> and rebuild <code>takhin</code> (<code>make run</code> does both).</p>
<p>The Kafka API and <a href="/api/health">/api/health</a> work without it.</p>
</body></html>
"#;

/// The console's static files and the SPA fallback, to be merged into the
/// HTTP server's router after the API routes.
pub fn router() -> Router {
    Router::new().fallback(serve)
}

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    if path == "api" || path.starts_with("api/") {
        return api_not_found(uri.path());
    }
    let path = if path.is_empty() { INDEX_HTML } else { path };
    if let Some(file) = Assets::get(path) {
        return file_response(path, file, &headers);
    }
    if path.starts_with(HASHED_ASSETS_PREFIX) {
        return (StatusCode::NOT_FOUND, "asset not found\n").into_response();
    }
    match Assets::get(INDEX_HTML) {
        Some(index) => file_response(INDEX_HTML, index, &headers),
        None => not_built(),
    }
}

fn file_response(path: &str, file: EmbeddedFile, request_headers: &HeaderMap) -> Response {
    let etag = etag(&file);
    let cache_control = if path.starts_with(HASHED_ASSETS_PREFIX) {
        CACHE_IMMUTABLE
    } else {
        CACHE_REVALIDATE
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    if if_none_match(request_headers, &etag) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    if let Ok(value) = HeaderValue::from_str(&content_type(&file)) {
        response_headers.insert(header::CONTENT_TYPE, value);
    }
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // The web build writes `name.gz` beside large text assets; the identity
    // file stays the source of the content type and ETag.
    let gzipped = accepts_gzip(request_headers)
        .then(|| Assets::get(&format!("{path}.gz")))
        .flatten();
    let body = match gzipped {
        Some(gz) => {
            response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz.data
        }
        None => file.data,
    };
    (
        StatusCode::OK,
        response_headers,
        Body::from(body.into_owned()),
    )
        .into_response()
}

/// A strong ETag from the file's SHA-256 (the first 16 bytes are plenty).
fn etag(file: &EmbeddedFile) -> String {
    let hash = file.metadata.sha256_hash();
    let hex: String = hash[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("\"{hex}\"")
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        })
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.split(',').any(|coding| {
                let mut parts = coding.trim().split(';');
                let name = parts.next().unwrap_or_default().trim();
                let refused = parts.any(|param| param.trim().replace(' ', "") == "q=0");
                name.eq_ignore_ascii_case("gzip") && !refused
            })
        })
}

fn content_type(file: &EmbeddedFile) -> String {
    let mime = file.metadata.mimetype();
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml";
    if textual && !mime.contains("charset") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

fn api_not_found(path: &str) -> Response {
    let problem = serde_json::json!({
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": format!("no API endpoint at {path}"),
    });
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/problem+json")],
        problem.to_string(),
    )
        .into_response()
}

fn not_built() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE_REVALIDATE),
        ],
        NOT_BUILT_PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, headers: &[(header::HeaderName, &str)]) -> Response {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body_text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), 1 << 24).await.unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn header_of(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn unknown_api_paths_are_problem_json_not_the_spa() {
        let response = get("/api/v1/no-such-endpoint", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header_of(&response, header::CONTENT_TYPE),
            "application/problem+json"
        );
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(body["status"], 404);
        assert_eq!(
            body["detail"],
            "no API endpoint at /api/v1/no-such-endpoint"
        );
    }

    #[tokio::test]
    async fn client_side_routes_get_the_html_page_uncached() {
        for path in [
            "/",
            "/clusters/default/topics",
            "/clusters/default/topics/a.b",
        ] {
            let response = get(path, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(header_of(&response, header::CONTENT_TYPE).starts_with("text/html"));
            assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
            let body = body_text(response).await;
            assert!(
                body.contains("<html") || body.contains("<!doctype html"),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn missing_hashed_assets_are_404() {
        let response = get("/static/js/gone.0123abcd.js", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn writes_are_refused() {
        let request = Request::post("/").body(Body::empty()).unwrap();
        let response = router().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    /// Only meaningful once `make web` has run; on a fresh clone there is
    /// nothing hashed to check and the not-built page is covered above.
    #[tokio::test]
    async fn hashed_assets_are_immutable_typed_and_revalidate_by_etag() {
        let Some(asset) = Assets::iter()
            .find(|path| path.starts_with(HASHED_ASSETS_PREFIX) && path.ends_with(".js"))
        else {
            return;
        };
        let response = get(&format!("/{asset}"), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, header::CACHE_CONTROL), CACHE_IMMUTABLE);
        assert!(header_of(&response, header::CONTENT_TYPE).contains("javascript"));
        let etag = header_of(&response, header::ETAG).to_string();
        let again = get(&format!("/{asset}"), &[(header::IF_NONE_MATCH, &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn gzip_negotiation_honours_q_zero() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(!accepts_gzip(&headers));
    }
}
