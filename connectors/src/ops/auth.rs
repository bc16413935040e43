//! Access control of the operations listener: `/ops` and everything under `/ops/` (dead letters with
//! bodies that carry personal data, replay, purge, trace, send) need a bearer token; `/healthz`,
//! `/readyz` and `/metrics` stay open because probes and Prometheus scrape them without credentials
//! and they carry no personal data.
//!
//! The token comes from `SNODO_OPS_TOKEN` or the file named by `listeners.ops_token_file`. On a
//! loopback address a token is optional (the machine's users are the operators, as for the
//! development set-up); a listener bound anywhere else refuses to start without one, so that an
//! operator cannot expose replay and purge to a network by changing one address.
//!
//! Browsers cannot attach an `Authorization` header to a page they navigate to, so `/ops/login` takes
//! the token once (a form posting JSON) and sets it as an `HttpOnly`, `SameSite=Strict` cookie scoped
//! to `/ops`; the cookie is accepted wherever the header is. `SameSite=Strict` keeps other sites from
//! riding on it, and the state-changing endpoints only take `application/json` bodies, which a
//! cross-site form cannot send.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use openssl::hash::{MessageDigest, hash};

/// The environment variable holding the token (the CLI reads the same one).
pub const TOKEN_ENV: &str = "SNODO_OPS_TOKEN";
/// The cookie `/ops/login` sets.
pub const COOKIE_NAME: &str = "snodo_ops_token";
/// Shorter tokens are guessable over a network.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error(
        "the operations listener binds {addr}, beyond localhost, and no access token is configured: \
         set {TOKEN_ENV} or listeners.ops_token_file (at least {MIN_TOKEN_LEN} characters), \
         or bind 127.0.0.1"
    )]
    TokenRequired { addr: SocketAddr },
    #[error("the operations token file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "the operations token (from {source_name}) is {len} characters long; it must have at least \
         {MIN_TOKEN_LEN}, printable ASCII without spaces"
    )]
    Weak { source_name: String, len: usize },
}

/// Who may use `/ops`: anyone on the machine (no token, loopback only) or holders of the token.
#[derive(Clone, Default)]
pub struct OpsAccess {
    /// SHA-256 of the token: compared in constant time, never kept or logged in clear.
    token_digest: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for OpsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsAccess")
            .field("token", &self.token_digest.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl OpsAccess {
    /// No token: for listeners on loopback addresses only (see [`OpsAccess::resolve`]).
    pub fn open() -> OpsAccess {
        OpsAccess::default()
    }

    pub fn with_token(token: &str) -> Result<OpsAccess, AccessError> {
        check_strength(token, "the configuration")?;
        Ok(OpsAccess {
            token_digest: Some(digest(token.as_bytes()).into()),
        })
    }

    /// The access of a listener on `addr`: the token from `env_token` (`SNODO_OPS_TOKEN`) or else
    /// from `token_file`; none is refused unless `addr` is a loopback address.
    pub fn resolve(
        addr: SocketAddr,
        env_token: Option<&str>,
        token_file: Option<&Path>,
    ) -> Result<OpsAccess, AccessError> {
        let (token, source_name) = match (env_token.filter(|t| !t.is_empty()), token_file) {
            (Some(t), _) => (Some(t.to_owned()), TOKEN_ENV.to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| AccessError::Unreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                (
                    Some(text.trim().to_owned()),
                    format!("listeners.ops_token_file {}", path.display()),
                )
            }
            (None, None) => (None, String::new()),
        };
        match token {
            Some(t) => {
                check_strength(&t, &source_name)?;
                Ok(OpsAccess {
                    token_digest: Some(digest(t.as_bytes()).into()),
                })
            }
            None if addr.ip().is_loopback() => Ok(OpsAccess::open()),
            None => Err(AccessError::TokenRequired { addr }),
        }
    }

    pub fn requires_token(&self) -> bool {
        self.token_digest.is_some()
    }

    /// Whether `headers` carry the token, as `Authorization: Bearer` or as the `/ops/login` cookie.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        presented_tokens(headers).any(|t| openssl::memcmp::eq(&digest(t.as_bytes()), expected))
    }
}

fn check_strength(token: &str, source_name: &str) -> Result<(), AccessError> {
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AccessError::Weak {
            source_name: source_name.to_owned(),
            len: token.chars().count(),
        });
    }
    Ok(())
}

fn digest(bytes: &[u8]) -> Vec<u8> {
    hash(MessageDigest::sha256(), bytes)
        .expect("SHA-256 is always available in OpenSSL")
        .to_vec()
}

fn presented_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
        });
    let cookies = headers
        .get_all(header::COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME).then_some(value)
        });
    bearer.chain(cookies)
}

/// Whether `path` is under access control: `/ops` and `/ops/…`, except the login itself.
pub fn is_protected(path: &str) -> bool {
    (path == "/ops" || path.starts_with("/ops/")) && path != LOGIN_PATH
}

pub const LOGIN_PATH: &str = "/ops/login";

/// The middleware of the operations router.
pub async fn require_token(State(access): State<OpsAccess>, request: Request, next: Next) -> Response {
    if !is_protected(request.uri().path()) || access.admits(request.headers()) {
        return next.run(request).await;
    }
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && request.method() == axum::http::Method::GET {
        // A person at a browser: the login form, which comes back to this page.
        return (StatusCode::UNAUTHORIZED, Html(LOGIN_PAGE)).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"snodo-ops\"")],
        axum::Json(serde_json::json!({
            "error": format!("this path needs the operations token ({TOKEN_ENV}) as `Authorization: Bearer`")
        })),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub token: String,
}

/// `POST /ops/login` with `{"token": …}`: sets the cookie when the token is right.
pub async fn login(State(access): State<OpsAccess>, axum::Json(login): axum::Json<Login>) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = format!("Bearer {}", login.token).parse() {
        headers.insert(header::AUTHORIZATION, v);
    }
    if !access.requires_token() || !access.admits(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "wrong operations token"})),
        )
            .into_response();
    }
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/ops; HttpOnly; SameSite=Strict; Max-Age=43200",
        login.token
    );
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie)],
        axum::body::Body::empty(),
    )
        .into_response()
}

const LOGIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Snodo operations — sign in</title>
<style>body{font-family:system-ui,sans-serif;margin:4em auto;max-width:28em}input{width:100%;padding:.4em}
button{margin-top:.6em;padding:.4em 1.2em}#error{color:#b00}</style></head>
<body><h1>Snodo operations</h1>
<form id="login"><label for="token">Operations token (SNODO_OPS_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
<button id="sign-in" type="submit">Sign in</button><p id="error"></p></form>
<script>
document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/ops/login', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({token: document.getElementById('token').value})});
  if (r.ok) { location.reload(); } else { document.getElementById('error').textContent = 'Wrong token.'; }
});
</script></body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-ops";

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn a_listener_beyond_localhost_needs_a_token() {
        let public: SocketAddr = "0.0.0.0:9400".parse().unwrap();
        assert_eq!(
            OpsAccess::resolve(public, None, None).unwrap_err(),
            AccessError::TokenRequired { addr: public }
        );
        assert!(
            OpsAccess::resolve(public, Some(TOKEN), None)
                .unwrap()
                .requires_token()
        );
        let local: SocketAddr = "127.0.0.1:9400".parse().unwrap();
        assert!(!OpsAccess::resolve(local, None, None).unwrap().requires_token());
        let v6: SocketAddr = "[::1]:9400".parse().unwrap();
        assert!(!OpsAccess::resolve(v6, None, None).unwrap().requires_token());
    }

    #[test]
    fn short_or_blank_tokens_are_refused() {
        let local: SocketAddr = "127.0.0.1:9400".parse().unwrap();
        assert!(matches!(
            OpsAccess::resolve(local, Some("short"), None),
            Err(AccessError::Weak { len: 5, .. })
        ));
        assert!(OpsAccess::with_token("sixteen chars ok").is_err(), "spaces");
    }

    #[test]
    fn the_token_file_is_read_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("snodo-ops-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        let public: SocketAddr = "192.0.2.1:9400".parse().unwrap();
        let access = OpsAccess::resolve(public, None, Some(&file)).unwrap();
        assert!(access.admits(&with(header::AUTHORIZATION, &format!("Bearer {TOKEN}"))));
        let missing = dir.join("absent");
        assert!(matches!(
            OpsAccess::resolve(public, None, Some(&missing)),
            Err(AccessError::Unreadable { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bearer_header_or_cookie_admit_and_nothing_else_does() {
        let access = OpsAccess::with_token(TOKEN).unwrap();
        assert!(access.admits(&with(header::AUTHORIZATION, &format!("bearer {TOKEN}"))));
        assert!(access.admits(&with(header::COOKIE, &format!("a=b; {COOKIE_NAME}={TOKEN}"))));
        assert!(!access.admits(&HeaderMap::new()));
        assert!(!access.admits(&with(header::AUTHORIZATION, &format!("Basic {TOKEN}"))));
        assert!(!access.admits(&with(header::AUTHORIZATION, &format!("Bearer {TOKEN}x"))));
        assert!(!access.admits(&with(header::COOKIE, &format!("other={TOKEN}"))));
        assert!(OpsAccess::open().admits(&HeaderMap::new()));
    }

    #[test]
    fn only_ops_paths_are_protected() {
        for p in ["/ops", "/ops/", "/ops/dlq", "/ops/trace/x", "/ops/send"] {
            assert!(is_protected(p), "{p}");
        }
        for p in ["/healthz", "/readyz", "/metrics", "/demo", "/opsx", LOGIN_PATH] {
            assert!(!is_protected(p), "{p}");
        }
    }
}
