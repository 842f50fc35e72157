//! Authentication, roles and the audit log, through the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::{Answer, TestConsole};
use serde_json::{Value, json};
use takhin_console::auth::{
    ApiKeyConfig, AuthConfig, LOGIN_FAILURES_MAX, ManualClock, Role, UserConfig, generate_api_key,
    hash_api_key, hash_password,
};

const ADMIN_PASSWORD: &str = "admin-Password-1";
const VIEWER_PASSWORD: &str = "viewer-Password-2";
const SESSION_TTL_SECS: u64 = 600;

/// A console with authentication enabled: users `admin` and `viewer`, API
/// keys `ci` (admin) and `dashboard` (read-only), a manual clock and,
/// when asked, an audit file.
struct AuthConsole {
    console: TestConsole,
    clock: Arc<ManualClock>,
    admin_key: String,
    viewer_key: String,
    audit_path: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

async fn start_auth(with_audit_file: bool) -> AuthConsole {
    let dir = tempfile::tempdir().unwrap();
    let audit_path = with_audit_file.then(|| dir.path().join("audit.log"));
    let clock = Arc::new(ManualClock::new());
    let admin_key = generate_api_key().unwrap();
    let viewer_key = generate_api_key().unwrap();
    let auth = AuthConfig {
        enabled: true,
        users: vec![
            UserConfig {
                username: "admin".into(),
                password_hash: hash_password(ADMIN_PASSWORD).unwrap(),
                role: Role::Admin,
            },
            UserConfig {
                username: "viewer".into(),
                password_hash: hash_password(VIEWER_PASSWORD).unwrap(),
                role: Role::ReadOnly,
            },
        ],
        api_keys: vec![
            ApiKeyConfig {
                name: "ci".into(),
                key_hash: hash_api_key(&admin_key),
                role: Role::Admin,
            },
            ApiKeyConfig {
                name: "dashboard".into(),
                // The bare hex form is accepted too.
                key_hash: hash_api_key(&viewer_key)
                    .trim_start_matches("sha256:")
                    .into(),
                role: Role::ReadOnly,
            },
        ],
        session_ttl_secs: SESSION_TTL_SECS,
        cookie_secure: false,
        clock: clock.clone().into(),
    };
    let config_audit_path = audit_path.clone();
    let console = common::start_with_console_config(&[], move |config| {
        config.auth = auth;
        config.audit_log = config_audit_path;
    })
    .await;
    AuthConsole {
        console,
        clock,
        admin_key,
        viewer_key,
        audit_path,
        _dir: dir,
    }
}

fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some(value) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(&value).unwrap())
        }
        None => Body::empty(),
    };
    builder.body(body).unwrap()
}

impl AuthConsole {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (Answer, HeaderMap) {
        self.console
            .request(request(method, uri, headers, body))
            .await
    }

    async fn login(&self, username: &str, password: &str) -> (Answer, HeaderMap) {
        self.send(
            Method::POST,
            "/api/v1/auth/login",
            &[],
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    /// Logs in and answers the `Cookie` header value of the session.
    async fn session(&self, username: &str, password: &str) -> String {
        let (answer, headers) = self.login(username, password).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let set_cookie = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_string()
    }

    async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, uri, headers, None).await.0
    }
}

fn assert_unauthorized(answer: &Answer, headers: &HeaderMap) -> Value {
    let problem = answer.problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers.get(header::WWW_AUTHENTICATE).unwrap(),
        "Bearer realm=\"takhin-console\""
    );
    problem
}

#[tokio::test]
async fn disabled_auth_lets_everyone_in_as_anonymous_admin() {
    let console = common::start().await;
    let me = console.get("/api/v1/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(
        me.json(),
        json!({"username": "anonymous", "role": "admin", "auth_enabled": false, "method": "none"})
    );
    assert_eq!(console.get("/api/v1/clusters").await.status, StatusCode::OK);
    let login = console
        .post(
            "/api/v1/auth/login",
            json!({"username": "a", "password": "b"}),
        )
        .await;
    login.problem(StatusCode::CONFLICT);
    // Mutating calls are audited even so, as the anonymous admin.
    let audit = console.get("/api/v1/audit").await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text());
    let entries = audit.json();
    assert_eq!(entries[0]["path"], "/api/v1/auth/login");
    assert_eq!(entries[0]["status"], 409);
    assert_eq!(entries[0]["principal"], "a");
    assert_eq!(
        console.delete("/api/v1/auth/logout").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let logout = console.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    console.stop().await;
}

#[tokio::test]
async fn enabled_auth_refuses_requests_without_credentials() {
    let auth = start_auth(false).await;
    for uri in [
        TestConsole::path("/overview"),
        TestConsole::path("/storage-health"),
        "/api/v1/clusters".to_string(),
        "/api/v1/no-such-endpoint".to_string(),
        "/api/v1/audit".to_string(),
    ] {
        let (answer, headers) = auth.send(Method::GET, &uri, &[], None).await;
        let problem = assert_unauthorized(&answer, &headers);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("authentication required"),
            "{problem}"
        );
    }
    let (answer, headers) = auth
        .send(
            Method::POST,
            &TestConsole::path("/topics"),
            &[],
            Some(json!({})),
        )
        .await;
    assert_unauthorized(&answer, &headers);

    // Open: the OpenAPI document, login, logout, and /auth/me (which says 401 itself).
    assert_eq!(
        auth.get_with("/api/v1/openapi.json", &[]).await.status,
        StatusCode::OK
    );
    let (me, headers) = auth.send(Method::GET, "/api/v1/auth/me", &[], None).await;
    assert_unauthorized(&me, &headers);

    // Wrong credentials are refused, with a reason.
    let (answer, headers) = auth
        .send(
            Method::GET,
            "/api/v1/clusters",
            &[("x-api-key", "takhin_nope")],
            None,
        )
        .await;
    let problem = assert_unauthorized(&answer, &headers);
    assert_eq!(problem["detail"], "the API key is not valid");
    let (answer, headers) = auth
        .send(
            Method::GET,
            "/api/v1/clusters",
            &[("authorization", "Basic YWRtaW46eA==")],
            None,
        )
        .await;
    assert_unauthorized(&answer, &headers);
    let forged = format!("takhin_session={}", "ab".repeat(32));
    let (answer, headers) = auth
        .send(
            Method::GET,
            "/api/v1/clusters",
            &[("cookie", forged.as_str())],
            None,
        )
        .await;
    let problem = assert_unauthorized(&answer, &headers);
    assert!(
        problem["detail"].as_str().unwrap().contains("session"),
        "{problem}"
    );
    let (me, headers) = auth
        .send(
            Method::GET,
            "/api/v1/auth/me",
            &[("cookie", forged.as_str())],
            None,
        )
        .await;
    assert_unauthorized(&me, &headers);
    auth.console.stop().await;
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie() {
    let auth = start_auth(false).await;
    let (wrong, headers) = auth.login("admin", "not-the-password").await;
    let wrong_problem = assert_unauthorized(&wrong, &headers);
    assert!(headers.get(header::SET_COOKIE).is_none());
    let (unknown, headers) = auth.login("nobody", ADMIN_PASSWORD).await;
    let unknown_problem = assert_unauthorized(&unknown, &headers);
    assert_eq!(
        wrong_problem, unknown_problem,
        "unknown user and wrong password look the same"
    );
    assert_eq!(wrong_problem["detail"], "invalid username or password");

    let (answer, headers) = auth.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json(), json!({"username": "admin", "role": "admin"}));
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let set_cookie = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    let attributes: Vec<&str> = set_cookie.split("; ").collect();
    assert!(attributes[0].starts_with("takhin_session="), "{set_cookie}");
    assert_eq!(
        attributes[0].len(),
        "takhin_session=".len() + 64,
        "{set_cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&attribute), "{set_cookie}");
    }
    assert!(
        attributes.contains(&format!("Max-Age={SESSION_TTL_SECS}").as_str()),
        "{set_cookie}"
    );
    assert!(
        !attributes.contains(&"Secure"),
        "not configured: {set_cookie}"
    );

    let cookie = attributes[0];
    let me = auth
        .get_with("/api/v1/auth/me", &[("cookie", cookie)])
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(
        me.json(),
        json!({"username": "admin", "role": "admin", "auth_enabled": true, "method": "session"})
    );
    let overview = auth
        .get_with(&TestConsole::path("/overview"), &[("cookie", cookie)])
        .await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text());
    // Other cookies beside it do not matter.
    let mixed = format!("theme=dark; {cookie}; lang=en");
    let me = auth
        .get_with("/api/v1/auth/me", &[("cookie", mixed.as_str())])
        .await;
    assert_eq!(me.status, StatusCode::OK);
    auth.console.stop().await;
}

#[tokio::test]
async fn login_rejects_bad_bodies_without_echoing_them() {
    let auth = start_auth(false).await;
    let form = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "username=admin&password={ADMIN_PASSWORD}"
        )))
        .unwrap();
    let (answer, _) = auth.console.request(form).await;
    answer.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let secret = "secret-9876";
    let (answer, _) = auth
        .send(
            Method::POST,
            "/api/v1/auth/login",
            &[],
            Some(json!({"username": "admin", "password": 9876, "note": secret})),
        )
        .await;
    answer.problem(StatusCode::BAD_REQUEST);
    assert!(!answer.text().contains("9876"), "{}", answer.text());

    let (answer, _) = auth.login("", "x").await;
    answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let (answer, _) = auth.login("admin", &"x".repeat(1025)).await;
    answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let huge = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(vec![b' '; 10_000]))
        .unwrap();
    let (answer, _) = auth.console.request(huge).await;
    answer.problem(StatusCode::PAYLOAD_TOO_LARGE);
    auth.console.stop().await;
}

#[tokio::test]
async fn read_only_principals_may_only_read() {
    let auth = start_auth(false).await;
    let viewer = auth.session("viewer", VIEWER_PASSWORD).await;
    let dashboard = auth.viewer_key.clone();
    for headers in [
        [("cookie", viewer.as_str())],
        [("x-api-key", dashboard.as_str())],
    ] {
        let answer = auth.get_with("/api/v1/clusters", &headers).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let answer = auth
            .get_with(&TestConsole::path("/storage-health"), &headers)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let (answer, _) = auth
            .send(
                Method::POST,
                &TestConsole::path("/topics"),
                &headers,
                Some(
                    json!({"name": common::unique("ro"), "partitions": 1, "replication_factor": 1}),
                ),
            )
            .await;
        let problem = answer.problem(StatusCode::FORBIDDEN);
        assert!(
            problem["detail"].as_str().unwrap().contains("read-only"),
            "{problem}"
        );
        let (answer, _) = auth
            .send(
                Method::DELETE,
                &TestConsole::path("/topics/anything"),
                &headers,
                None,
            )
            .await;
        answer.problem(StatusCode::FORBIDDEN);
        let (answer, _) = auth
            .send(
                Method::PATCH,
                &TestConsole::path("/topics/anything/configs"),
                &headers,
                Some(json!({})),
            )
            .await;
        answer.problem(StatusCode::FORBIDDEN);
        // The audit log is for admins.
        auth.get_with("/api/v1/audit", &headers)
            .await
            .problem(StatusCode::FORBIDDEN);
    }
    let me = auth
        .get_with("/api/v1/auth/me", &[("cookie", viewer.as_str())])
        .await;
    assert_eq!(me.json()["role"], "read-only");
    // A read-only user may still log out.
    let (answer, _) = auth
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            &[("cookie", viewer.as_str())],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    auth.console.stop().await;
}

#[tokio::test]
async fn api_keys_work_in_either_header() {
    let auth = start_auth(false).await;
    let bearer = format!("Bearer {}", auth.admin_key);
    for headers in [
        [("x-api-key", auth.admin_key.as_str())],
        [("authorization", bearer.as_str())],
    ] {
        let overview = auth
            .get_with(&TestConsole::path("/overview"), &headers)
            .await;
        assert_eq!(overview.status, StatusCode::OK, "{}", overview.text());
        let me = auth.get_with("/api/v1/auth/me", &headers).await;
        assert_eq!(
            me.json(),
            json!({"username": "ci", "role": "admin", "auth_enabled": true, "method": "api_key"})
        );
        let audit = auth.get_with("/api/v1/audit", &headers).await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.text());
    }
    let me = auth
        .get_with(
            "/api/v1/auth/me",
            &[("x-api-key", auth.viewer_key.as_str())],
        )
        .await;
    assert_eq!(me.json()["username"], "dashboard");
    assert_eq!(me.json()["role"], "read-only");
    auth.console.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let auth = start_auth(false).await;
    let cookie = auth.session("admin", ADMIN_PASSWORD).await;
    let other = auth.session("admin", ADMIN_PASSWORD).await;
    assert_ne!(cookie, other, "every login gets its own session");
    let (answer, headers) = auth
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    let cleared = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.starts_with("takhin_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (me, headers) = auth
        .send(
            Method::GET,
            "/api/v1/auth/me",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_unauthorized(&me, &headers);
    let (answer, headers) = auth
        .send(
            Method::GET,
            "/api/v1/clusters",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_unauthorized(&answer, &headers);
    // The other session lives on; logging out twice is fine.
    let answer = auth
        .get_with("/api/v1/clusters", &[("cookie", other.as_str())])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let (answer, _) = auth
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    auth.console.stop().await;
}

#[tokio::test]
async fn repeated_login_failures_are_throttled() {
    let auth = start_auth(false).await;
    for _ in 0..LOGIN_FAILURES_MAX {
        let (answer, _) = auth.login("admin", "guess").await;
        answer.problem(StatusCode::UNAUTHORIZED);
    }
    auth.clock.advance(Duration::from_secs(10));
    // Even the right password is refused until the window is over.
    for password in ["guess", ADMIN_PASSWORD] {
        let (answer, headers) = auth.login("admin", password).await;
        answer.problem(StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = headers
            .get(header::RETRY_AFTER)
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(retry_after, 50);
    }
    // Unknown usernames are throttled alike, and other users are unaffected.
    for _ in 0..LOGIN_FAILURES_MAX {
        auth.login("ghost", "guess")
            .await
            .0
            .problem(StatusCode::UNAUTHORIZED);
    }
    auth.login("ghost", "guess")
        .await
        .0
        .problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        auth.login("viewer", VIEWER_PASSWORD).await.0.status,
        StatusCode::OK
    );

    auth.clock.advance(Duration::from_secs(50));
    let (answer, _) = auth.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    auth.console.stop().await;
}

#[tokio::test]
async fn sessions_expire_after_their_lifetime() {
    let auth = start_auth(false).await;
    let cookie = auth.session("admin", ADMIN_PASSWORD).await;
    auth.clock
        .advance(Duration::from_secs(SESSION_TTL_SECS - 1));
    let me = auth
        .get_with("/api/v1/auth/me", &[("cookie", cookie.as_str())])
        .await;
    assert_eq!(me.status, StatusCode::OK);
    auth.clock.advance(Duration::from_secs(1));
    let (me, headers) = auth
        .send(
            Method::GET,
            "/api/v1/auth/me",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    let problem = assert_unauthorized(&me, &headers);
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
    let (answer, headers) = auth
        .send(
            Method::GET,
            "/api/v1/clusters",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_unauthorized(&answer, &headers);
    auth.console.stop().await;
}

/// Waits until the audit file has `count` lines and parses them.
async fn audit_lines(path: &Path, count: usize) -> (String, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count {
            let lines = text
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect();
            return (text, lines);
        }
        assert!(tokio::time::Instant::now() < deadline, "audit file: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn mutating_calls_are_audited() {
    let auth = start_auth(true).await;
    let path = auth.audit_path.clone().unwrap();
    let admin_key = auth.admin_key.clone();

    // 1. A failed login, 2. a successful one.
    auth.login("admin", "wrong-Password-3")
        .await
        .0
        .problem(StatusCode::UNAUTHORIZED);
    let cookie = auth.session("admin", ADMIN_PASSWORD).await;
    // 3. A read-only principal refused.
    let viewer = auth.session("viewer", VIEWER_PASSWORD).await;
    let (refused, _) = auth
        .send(
            Method::DELETE,
            &TestConsole::path("/topics/x"),
            &[("cookie", viewer.as_str())],
            None,
        )
        .await;
    refused.problem(StatusCode::FORBIDDEN);
    // 5. An admin call the console refuses as invalid, by API key.
    let (invalid, _) = auth
        .send(
            Method::POST,
            &TestConsole::path("/topics"),
            &[("x-api-key", admin_key.as_str())],
            Some(json!({"name": "", "partitions": 0})),
        )
        .await;
    assert!(invalid.status.is_client_error(), "{}", invalid.text());
    // 6. A call without credentials, from an address the server knows.
    let mut from_afar = request(
        Method::POST,
        &TestConsole::path("/topics"),
        &[],
        Some(json!({})),
    );
    let client: std::net::SocketAddr = "203.0.113.7:50123".parse().unwrap();
    from_afar
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(client));
    let (anonymous, _) = auth.console.request(from_afar).await;
    anonymous.problem(StatusCode::UNAUTHORIZED);
    // 7. Logout. Reads are not audited.
    auth.get_with("/api/v1/clusters", &[("cookie", cookie.as_str())])
        .await;
    let (logout, _) = auth
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    let (text, lines) = audit_lines(&path, 7).await;
    assert_eq!(lines.len(), 7, "{text}");
    let expected = [
        ("admin", "POST", "/api/v1/auth/login", 401),
        ("admin", "POST", "/api/v1/auth/login", 200),
        ("viewer", "POST", "/api/v1/auth/login", 200),
        ("viewer", "DELETE", "/api/v1/clusters/local/topics/x", 403),
        (
            "ci",
            "POST",
            "/api/v1/clusters/local/topics",
            invalid.status.as_u16(),
        ),
        ("", "POST", "/api/v1/clusters/local/topics", 401),
        ("admin", "POST", "/api/v1/auth/logout", 204),
    ];
    for (line, (principal, method, path, status)) in lines.iter().zip(expected) {
        let principal = if principal.is_empty() {
            Value::Null
        } else {
            json!(principal)
        };
        assert_eq!(line["principal"], principal, "{line}");
        assert_eq!(line["method"], method, "{line}");
        assert_eq!(line["path"], path, "{line}");
        assert_eq!(line["status"], status, "{line}");
        let result = if status >= 400 { "error" } else { "ok" };
        assert_eq!(line["result"], result, "{line}");
        assert_eq!(line["detail"].is_string(), status >= 400, "{line}");
        assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(line["duration_ms"].is_u64(), "{line}");
        assert!(line.get("client_addr").is_some(), "{line}");
    }
    assert_eq!(lines[0]["detail"], "invalid username or password");
    assert_eq!(lines[0]["role"], Value::Null);
    assert_eq!(lines[1]["role"], "admin");
    assert_eq!(lines[3]["role"], "read-only");
    assert_eq!(lines[3]["auth_method"], "session");
    assert_eq!(lines[4]["auth_method"], "api_key");
    assert_eq!(lines[5]["client_addr"], "203.0.113.7:50123");
    let detail = lines[5]["detail"].as_str().unwrap();
    assert!(detail.contains("authentication required"), "{detail}");
    assert_eq!(lines[4]["client_addr"], Value::Null);
    // No secret reaches the log.
    for secret in [
        ADMIN_PASSWORD,
        VIEWER_PASSWORD,
        "wrong-Password-3",
        admin_key.as_str(),
        cookie.trim_start_matches("takhin_session="),
        viewer.trim_start_matches("takhin_session="),
    ] {
        assert!(
            !text.contains(secret),
            "the audit log holds a secret: {text}"
        );
    }

    // The same entries, newest first, from the API; admins only.
    let admin = [("x-api-key", admin_key.as_str())];
    let recent = auth.get_with("/api/v1/audit", &admin).await;
    assert_eq!(recent.status, StatusCode::OK, "{}", recent.text());
    let recent: Vec<Value> = serde_json::from_value(recent.json()).unwrap();
    let mut oldest_first = recent.clone();
    oldest_first.reverse();
    assert_eq!(oldest_first, lines);
    let two = auth.get_with("/api/v1/audit?limit=2", &admin).await.json();
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert_eq!(two[0]["path"], "/api/v1/auth/logout");
    auth.get_with("/api/v1/audit?limit=0", &admin)
        .await
        .problem(StatusCode::BAD_REQUEST);
    auth.get_with("/api/v1/audit?limit=1001", &admin)
        .await
        .problem(StatusCode::BAD_REQUEST);
    auth.get_with("/api/v1/audit?limit=x", &admin)
        .await
        .problem(StatusCode::BAD_REQUEST);
    auth.get_with("/api/v1/audit", &[("x-api-key", auth.viewer_key.as_str())])
        .await
        .problem(StatusCode::FORBIDDEN);
    auth.console.stop().await;
}

#[tokio::test]
async fn invalid_auth_configuration_fails_closed() {
    let console = common::start_with_console_config(&[], |config| {
        config.auth = AuthConfig {
            enabled: true,
            ..AuthConfig::default()
        };
        assert!(config.validate().is_err());
    })
    .await;
    let answer = console.get("/api/v1/clusters").await;
    let problem = answer.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("misconfigured")
    );
    console
        .post(
            "/api/v1/auth/login",
            json!({"username": "a", "password": "b"}),
        )
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE);
    console.stop().await;
}

#[tokio::test]
async fn openapi_documents_the_security_schemes() {
    let console = common::start().await;
    let doc = console.get("/api/v1/openapi.json").await.json();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "takhin_session");
    let security = doc["security"].as_array().unwrap();
    assert!(
        security.contains(&json!({})),
        "authentication is optional: {security:?}"
    );
    let paths = &doc["paths"];
    let overview = &paths["/api/v1/clusters/{cluster}/overview"]["get"]["responses"];
    assert!(overview.get("401").is_some());
    assert!(
        overview.get("403").is_none(),
        "read-only principals may read"
    );
    let create = &paths["/api/v1/clusters/{cluster}/topics"]["post"]["responses"];
    assert!(create.get("401").is_some() && create.get("403").is_some());
    let login = &paths["/api/v1/auth/login"]["post"];
    assert_eq!(login["security"], json!([{}]));
    assert!(login["responses"].get("403").is_none());
    console.stop().await;
}
