//! Login, logout, the current principal and the audit list; and [`guard`],
//! the layer in front of every `/api/v1` route that authenticates the
//! caller, checks its role and audits mutating calls.
//!
//! What [`guard`] lets through without a principal (when authentication
//! is enabled): `POST /auth/login`, `POST /auth/logout` (it only ends the
//! session the cookie names, so anyone may call it, and an expired session
//! can still clear its cookie), `GET /auth/me` (which answers 401 itself
//! when nobody is logged in) and `GET /openapi.json`. Everything else needs
//! an API key or a session, or answers 401 with `WWW-Authenticate`; a
//! read-only principal calling anything but `GET`/`HEAD` gets 403.
//!
//! The session cookie is `HttpOnly` (no script reads it), `SameSite=Strict`
//! (no other site's page sends it, which is what protects the mutating
//! endpoints from cross-site request forgery) and `Secure` when
//! configured. Login insists on `Content-Type: application/json` so a
//! plain cross-site form cannot post to it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::AppState;
use super::extract::{Json, Query};
use super::problem::{ApiResult, Problem};
use crate::audit::{AUDIT_RECENT_MAX, AuditEntry, rfc3339_utc};
use crate::auth::{
    AuthMethod, Authenticator, LoginError, PASSWORD_MAX_BYTES, Principal, Role, SESSION_COOKIE,
    check_name, session_cookie,
};

/// Where the API is mounted; [`guard`] sees paths without it.
pub const API_PREFIX: &str = "/api/v1";
/// Largest login body.
pub const LOGIN_BODY_MAX_BYTES: usize = 4096;
/// Largest problem body [`guard`] reads to copy its detail into the audit.
const PROBLEM_BODY_MAX_BYTES: usize = 64 * 1024;
/// Entries `GET /audit` answers by default.
pub const AUDIT_LIMIT_DEFAULT: usize = 100;
const WWW_AUTHENTICATE: &str = "Bearer realm=\"takhin-console\"";
const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    paths(login, logout, me, audit_entries),
    components(schemas(LoginRequest, LoginResponse, Me, Role, AuthMethod, AuditEntry, crate::audit::AuditResult)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Login, logout and the current principal"),
        (name = "audit", description = "The audit log of mutating calls")
    )
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/audit", get(audit_entries))
}

/// Adds the security schemes (API key header, bearer, session cookie) and
/// the global requirement: any one of them, or none when authentication is
/// disabled.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key configured for the console.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key as `Authorization: Bearer <key>`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by POST /api/v1/auth/login.",
            ))),
        );
        components.responses.insert(
            "Unauthorized".to_string(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(
                        "Authentication is enabled and the request has no valid API key or session.",
                    )
                    .header(
                        "WWW-Authenticate",
                        HeaderBuilder::new()
                            .schema(Object::with_type(Type::String))
                            .description(Some("`Bearer realm=\"takhin-console\"`"))
                            .build(),
                    )
                    .content(PROBLEM_JSON, problem_content())
                    .build(),
            ),
        );
        components.responses.insert(
            "Forbidden".to_string(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("The principal's role does not allow this call.")
                    .content(PROBLEM_JSON, problem_content())
                    .build(),
            ),
        );
        let no_scopes = Vec::<String>::new;
        openapi.security = Some(vec![
            SecurityRequirement::new("api_key", no_scopes()),
            SecurityRequirement::new("bearer", no_scopes()),
            SecurityRequirement::new("session", no_scopes()),
            // Authentication is off unless configured.
            SecurityRequirement::default(),
        ]);
    }
}

fn problem_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

/// Documents, on every operation of the whole document that needs a
/// principal, the 401 it answers without one and, for the methods a
/// read-only principal may not call, the 403.
pub fn document_security(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let relative = path.strip_prefix(API_PREFIX).unwrap_or(path);
        let operations = [
            (Method::GET, &mut item.get),
            (Method::HEAD, &mut item.head),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::PATCH, &mut item.patch),
            (Method::DELETE, &mut item.delete),
            (Method::OPTIONS, &mut item.options),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            if !needs_principal(&method, relative) {
                continue;
            }
            let responses = &mut operation.responses.responses;
            responses
                .entry("401".to_string())
                .or_insert_with(|| Ref::from_response_name("Unauthorized").into());
            if !Role::ReadOnly.allows(&method) {
                responses
                    .entry("403".to_string())
                    .or_insert_with(|| Ref::from_response_name("Forbidden").into());
            }
        }
    }
}

/// Whether `method` on `path` (relative to [`API_PREFIX`]) needs a
/// principal when authentication is enabled.
fn needs_principal(method: &Method, path: &str) -> bool {
    let read = method == Method::GET || method == Method::HEAD;
    let open = match path {
        "/auth/login" | "/auth/logout" => method == Method::POST,
        "/auth/me" | "/openapi.json" => read,
        _ => false,
    };
    !open
}

/// Whether a call with `method` may change something and is audited.
fn is_mutating(method: &Method) -> bool {
    !(method == Method::GET
        || method == Method::HEAD
        || method == Method::OPTIONS
        || method == Method::TRACE)
}

/// Why credentials sent to an open endpoint were refused, for `/auth/me`.
#[derive(Clone)]
struct RefusedCredentials(String);

/// Who an audit entry names when the handler knows better than the
/// request's principal (a login attempt names the username tried).
#[derive(Clone)]
struct AuditSubject {
    name: String,
    role: Option<Role>,
}

/// The layer in front of `/api/v1`: authenticates, authorizes, puts the
/// [`Principal`] in the request's extensions and audits mutating calls.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let relative_path = request.uri().path().to_string();
    let client_addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string());
    let admitted = admit(state.auth(), &method, &relative_path, request.headers());
    let (response, principal) = match admitted {
        Admission::Admitted { principal, refused } => {
            if let Some(principal) = &principal {
                request.extensions_mut().insert(principal.clone());
            }
            if let Some(refused) = refused {
                request.extensions_mut().insert(RefusedCredentials(refused));
            }
            (next.run(request).await, principal)
        }
        Admission::Refused {
            response,
            principal,
        } => (response, principal),
    };
    if !is_mutating(&method) {
        return response;
    }
    let (response, detail) = problem_detail(response).await;
    let subject = response.extensions().get::<AuditSubject>().cloned();
    let (name, role, auth_method) = match (subject, principal) {
        (Some(subject), _) => (Some(subject.name), subject.role, Some(AuthMethod::Session)),
        (None, Some(principal)) => (
            Some(principal.name),
            Some(principal.role),
            Some(principal.method),
        ),
        (None, None) => (None, None, None),
    };
    let status = response.status().as_u16();
    let entry = AuditEntry {
        time: rfc3339_utc(SystemTime::now()),
        principal: name,
        role,
        auth_method,
        method: method.to_string(),
        path: format!("{API_PREFIX}{relative_path}"),
        status,
        result: AuditEntry::result_for(status),
        detail: detail.map(|detail| AuditEntry::bounded_detail(&detail)),
        client_addr,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    state.audit().record(entry).await;
    response
}

/// What [`admit`] decided.
enum Admission {
    /// On to the handler.
    Admitted {
        principal: Option<Principal>,
        /// Why credentials were refused on an open endpoint.
        refused: Option<String>,
    },
    /// Answered here.
    Refused {
        response: Response,
        principal: Option<Principal>,
    },
}

fn admit(auth: &Authenticator, method: &Method, path: &str, headers: &HeaderMap) -> Admission {
    let needed = needs_principal(method, path);
    if needed && auth.misconfigured().is_some() {
        return Admission::Refused {
            response: misconfigured().into_response(),
            principal: None,
        };
    }
    let principal = match auth.authenticate(headers) {
        Ok(principal) => principal,
        Err(error) if needed => {
            return Admission::Refused {
                response: unauthorized(error.to_string()),
                principal: None,
            };
        }
        Err(error) => {
            return Admission::Admitted {
                principal: None,
                refused: Some(error.to_string()),
            };
        }
    };
    if !needed {
        return Admission::Admitted {
            principal,
            refused: None,
        };
    }
    let Some(principal) = principal else {
        return Admission::Refused {
            response: unauthorized(
                "authentication required: send an API key (X-API-Key or Authorization: Bearer) \
                 or log in with POST /api/v1/auth/login",
            ),
            principal: None,
        };
    };
    if !principal.role.allows(method) {
        return Admission::Refused {
            response: Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "the {} role may only read (GET); {method} needs the admin role",
                    principal.role.as_str()
                ),
            )
            .into_response(),
            principal: Some(principal),
        };
    }
    Admission::Admitted {
        principal: Some(principal),
        refused: None,
    }
}

fn misconfigured() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the console's authentication is misconfigured; see the server log",
    )
}

/// A 401 problem with `WWW-Authenticate`.
fn unauthorized(detail: impl Into<String>) -> Response {
    let mut response = Problem::new(StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(WWW_AUTHENTICATE),
    );
    response
}

/// The problem detail of an error answer, read from its (small) body; the
/// body is put back. Answers that are not problems pass untouched.
async fn problem_detail(response: Response) -> (Response, Option<String>) {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return (response, None);
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(PROBLEM_JSON));
    if !is_problem {
        let reason = status.canonical_reason().unwrap_or("error").to_string();
        return (response, Some(reason));
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, PROBLEM_BODY_MAX_BYTES).await {
        Ok(bytes) => {
            let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|problem| problem.get("detail")?.as_str().map(str::to_string));
            (Response::from_parts(parts, Body::from(bytes)), detail)
        }
        Err(_) => {
            let detail = "the error's details could not be read";
            (
                Problem::new(status, detail).into_response(),
                Some(detail.to_string()),
            )
        }
    }
}

/// The principal [`guard`] found, if any.
pub struct CurrentPrincipal(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentPrincipal {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CurrentPrincipal(
            parts.extensions.get::<Principal>().cloned(),
        ))
    }
}

/// Credentials to log in with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
}

/// The principal of a new session.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub username: String,
    pub role: Role,
}

/// Logs in with a username and password and sets the session cookie.
///
/// An unknown user and a wrong password get the same 401. After 5 failures
/// for one username within a minute, logins for it answer 429 until the
/// minute is over.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = LoginRequest, content_type = "application/json"),
    security(()),
    responses(
        (status = 200, body = LoginResponse, description = "Logged in",
            headers(("Set-Cookie" = String, description = "`takhin_session=...; HttpOnly; SameSite=Strict; Path=/; Max-Age=...` (and `Secure` when configured)"))),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not a JSON object with username and password"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Unknown user or wrong password",
            headers(("WWW-Authenticate" = String))),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Authentication is disabled"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "The body is over 4 KiB"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "The body is not application/json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Username or password too long or empty"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Too many failed logins for this username",
            headers(("Retry-After" = u64, description = "Seconds until logins are accepted again"))),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Too many logins being checked, or authentication misconfigured"),
    ))]
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let credentials = match read_login(request).await {
        Ok(credentials) => credentials,
        Err(problem) => return problem.into_response(),
    };
    let auth = state.auth();
    let mut response = match auth
        .login(&credentials.username, &credentials.password)
        .await
    {
        Ok(login) => {
            let cookie = session_cookie_header(
                &login.token,
                auth.session_ttl().as_secs(),
                auth.cookie_secure(),
            );
            let body = LoginResponse {
                username: login.principal.name,
                role: login.principal.role,
            };
            let mut response = Json(body).into_response();
            response.extensions_mut().insert(AuditSubject {
                name: credentials.username.clone(),
                role: Some(login.principal.role),
            });
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => login_error(error),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if response.extensions().get::<AuditSubject>().is_none() {
        response.extensions_mut().insert(AuditSubject {
            name: credentials.username,
            role: None,
        });
    }
    response
}

fn login_error(error: LoginError) -> Response {
    match error {
        LoginError::InvalidCredentials => unauthorized(error.to_string()),
        LoginError::Throttled { retry_after } => {
            let mut response =
                Problem::new(StatusCode::TOO_MANY_REQUESTS, error.to_string()).into_response();
            // Round up: retrying early would be refused again.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            response
        }
        LoginError::Busy => {
            let mut response =
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            response
        }
        LoginError::Disabled => Problem::conflict(error.to_string()).into_response(),
        // The reason names users; it is in the server log, not for callers.
        LoginError::Misconfigured(_) => misconfigured().into_response(),
        LoginError::Internal(reason) => {
            tracing::error!(%reason, "login failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the password could not be checked",
            )
            .into_response()
        }
    }
}

/// Reads and checks a login body without ever echoing it (it holds a
/// password) in an error.
async fn read_login(request: Request) -> Result<LoginRequest, Problem> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the login body must be sent as Content-Type: application/json",
        ));
    }
    let body = axum::body::to_bytes(request.into_body(), LOGIN_BODY_MAX_BYTES)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the login body is larger than {LOGIN_BODY_MAX_BYTES} bytes"),
            )
        })?;
    let credentials: LoginRequest = serde_json::from_slice(&body).map_err(|_| {
        Problem::bad_request(
            "the login body must be a JSON object {\"username\": string, \"password\": string}",
        )
    })?;
    if let Err(reason) = check_name(&credentials.username) {
        return Err(Problem::unprocessable(format!("username: {reason}")));
    }
    if credentials.password.is_empty() || credentials.password.len() > PASSWORD_MAX_BYTES {
        return Err(Problem::unprocessable(format!(
            "password: must be between 1 and {PASSWORD_MAX_BYTES} bytes"
        )));
    }
    Ok(credentials)
}

fn session_cookie_header(value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
    )
}

/// Ends the session of the cookie, if any, and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(()),
    responses((status = 204, description = "Logged out; the cookie is cleared",
        headers(("Set-Cookie" = String, description = "`takhin_session=; ...; Max-Age=0`")))))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let auth = state.auth();
    if let Some(token) = session_cookie(&headers) {
        auth.logout(token);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie_header("", 0, auth.cookie_secure())) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Who the caller is.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// The username, API key name, or `anonymous` when authentication is
    /// disabled.
    pub username: String,
    pub role: Role,
    pub auth_enabled: bool,
    pub method: AuthMethod,
}

/// The caller's principal; 401 when authentication is enabled and the
/// caller has not logged in.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Not logged in",
            headers(("WWW-Authenticate" = String))),
    ))]
pub async fn me(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    request: Request,
) -> Response {
    match principal {
        Some(principal) => Json(Me {
            username: principal.name,
            role: principal.role,
            auth_enabled: state.auth().enabled(),
            method: principal.method,
        })
        .into_response(),
        None => {
            let detail = match request.extensions().get::<RefusedCredentials>() {
                Some(RefusedCredentials(reason)) => reason.clone(),
                None => "not logged in".to_string(),
            };
            unauthorized(detail)
        }
    }
}

/// Query of the audit list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many of the most recent entries (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// The most recent mutating calls, newest first (admin only). The console
/// keeps the last 1000 in memory; the audit file has them all.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, body = [AuditEntry]),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "limit out of range"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    ))]
pub async fn audit_entries(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    match principal {
        Some(principal) if principal.role == Role::Admin => {}
        Some(principal) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "the audit log is for the admin role; '{}' is {}",
                    principal.name,
                    principal.role.as_str()
                ),
            ));
        }
        None => return Err(Problem::new(StatusCode::UNAUTHORIZED, "not logged in")),
    }
    let limit = query.limit.unwrap_or(AUDIT_LIMIT_DEFAULT);
    if limit == 0 || limit > AUDIT_RECENT_MAX {
        return Err(Problem::bad_request(format!(
            "limit must be between 1 and {AUDIT_RECENT_MAX}"
        )));
    }
    Ok(Json(state.audit().recent(limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_endpoints() {
        assert!(!needs_principal(&Method::POST, "/auth/login"));
        assert!(!needs_principal(&Method::POST, "/auth/logout"));
        assert!(!needs_principal(&Method::GET, "/auth/me"));
        assert!(!needs_principal(&Method::GET, "/openapi.json"));
        assert!(needs_principal(&Method::GET, "/auth/login"));
        assert!(needs_principal(&Method::DELETE, "/auth/me"));
        assert!(needs_principal(&Method::GET, "/clusters"));
        assert!(needs_principal(&Method::GET, "/audit"));
        assert!(needs_principal(&Method::POST, "/auth/login/"));
    }

    #[test]
    fn mutating_methods() {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_mutating(&method));
        }
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_mutating(&method));
        }
    }

    #[test]
    fn cookie_attributes() {
        assert_eq!(
            session_cookie_header("abc", 60, true),
            "takhin_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=60; Secure"
        );
        assert_eq!(
            session_cookie_header("", 0, false),
            "takhin_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
    }
}
