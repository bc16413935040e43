//! Talking to the SP under test over HTTP(S), as a browser between it and the IdP would: fetch its
//! metadata, start a login and catch the AuthnRequest on its way to the IdP (a redirect's query, or
//! the auto-submitting form of the HTTP-POST binding), and post a Response to the ACS.
//!
//! Redirects are never followed: the login's redirect *is* the AuthnRequest, and the ACS's answer is
//! judged as it comes (2xx or 3xx: accepted; 4xx or 5xx: refused), as spid-sp-test judges it.
//! Cookies are kept across the run, for SPs that tie a login to a session cookie.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use snodo_security::saml::redirect::url_encode;
use snodo_simulators::identity::Binding;

use crate::runner::SuiteError;

const TIMEOUT: Duration = Duration::from_secs(20);
/// How much of an ACS answer's body goes into a report.
const EXCERPT: usize = 160;

/// An AuthnRequest caught on its way to the IdP.
#[derive(Debug, Clone)]
pub enum CaughtRequest {
    /// The raw query string of the redirect's Location (signature included).
    Redirect { query: String },
    /// The form's `SAMLRequest` (base64) and `RelayState`.
    Post {
        saml_request: String,
        relay_state: Option<String>,
    },
}

impl CaughtRequest {
    pub fn binding(&self) -> Binding {
        match self {
            CaughtRequest::Redirect { .. } => Binding::Redirect,
            CaughtRequest::Post { .. } => Binding::Post,
        }
    }
}

/// What the ACS answered.
#[derive(Debug, Clone)]
pub struct AcsAnswer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub excerpt: String,
}

impl AcsAnswer {
    /// 2xx or 3xx: the SP took the Response.
    pub fn accepted(&self) -> bool {
        self.status.is_success() || self.status.is_redirection()
    }

    /// `HTTP 303 to …` or `HTTP 400: <body excerpt>`.
    pub fn describe(&self) -> String {
        match (&self.location, self.excerpt.is_empty()) {
            (Some(location), _) => format!("HTTP {} to {location}", self.status.as_u16()),
            (None, true) => format!("HTTP {}", self.status.as_u16()),
            (None, false) => format!("HTTP {}: {}", self.status.as_u16(), self.excerpt),
        }
    }
}

/// The SP under test.
pub struct Target {
    client: reqwest::Client,
    pub metadata_url: String,
    pub login_url: String,
}

impl Target {
    /// A client trusting the system's CAs plus `ca_files` (PEM), following no redirect.
    pub fn new(metadata_url: &str, login_url: &str, ca_files: &[PathBuf]) -> Result<Target, SuiteError> {
        let mut roots = Vec::new();
        for path in ca_files {
            let pem = std::fs::read(path)
                .map_err(|e| SuiteError::new(format!("cannot read the CA file {}: {e}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                SuiteError::new(format!("{} is not a PEM certificate bundle: {e}", path.display()))
            })?;
            roots.extend(certificates);
        }
        let client = reqwest::Client::builder()
            .tls_backend_native()
            .tls_certs_merge(roots)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| SuiteError::new(format!("building the HTTP client: {e}")))?;
        Ok(Target {
            client,
            metadata_url: metadata_url.to_owned(),
            login_url: login_url.to_owned(),
        })
    }

    /// The SP metadata document.
    pub async fn metadata(&self) -> Result<Vec<u8>, SuiteError> {
        let fail = |e: &dyn std::fmt::Display| {
            SuiteError::new(format!("fetching the SP metadata {}: {e}", self.metadata_url))
        };
        let answer = self
            .client
            .get(&self.metadata_url)
            .send()
            .await
            .map_err(|e| fail(&causes(&e)))?;
        if !answer.status().is_success() {
            return Err(fail(&format!("HTTP {}", answer.status())));
        }
        Ok(answer.bytes().await.map_err(|e| fail(&e))?.to_vec())
    }

    /// Starts a login at the SP and catches its AuthnRequest.
    pub async fn start_login(&self) -> Result<CaughtRequest, String> {
        let answer = self
            .client
            .get(&self.login_url)
            .send()
            .await
            .map_err(|e| format!("the login URL {} did not answer: {}", self.login_url, causes(&e)))?;
        let status = answer.status();
        if status.is_redirection() {
            let location = answer
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| format!("the login answered HTTP {status} without a Location"))?;
            let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
            let query = query.split('#').next().unwrap_or_default().to_owned();
            if !query.split('&').any(|p| p.starts_with("SAMLRequest=")) {
                return Err(format!(
                    "the login redirected to {location:?}, which carries no SAMLRequest"
                ));
            }
            return Ok(CaughtRequest::Redirect { query });
        }
        let html = answer
            .text()
            .await
            .map_err(|e| format!("reading the login page: {e}"))?;
        if !status.is_success() {
            return Err(format!("the login answered HTTP {status}: {}", excerpt(&html)));
        }
        let saml_request = form_value(&html, "SAMLRequest").ok_or_else(|| {
            format!(
                "the login answered HTTP {status} with neither a redirect to the IdP nor a form carrying SAMLRequest"
            )
        })?;
        Ok(CaughtRequest::Post {
            saml_request,
            relay_state: form_value(&html, "RelayState"),
        })
    }

    /// Posts `response` (XML) to the ACS with `relay_state`, as the IdP's auto-submitting form does.
    pub async fn post_response(
        &self,
        acs_url: &str,
        response: &str,
        relay_state: Option<&str>,
    ) -> Result<AcsAnswer, String> {
        let mut body = format!(
            "SAMLResponse={}",
            url_encode(&openssl::base64::encode_block(response.as_bytes()))
        );
        if let Some(relay) = relay_state {
            body.push_str(&format!("&RelayState={}", url_encode(relay)));
        }
        let answer = self
            .client
            .post(acs_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("the ACS {acs_url} did not answer: {}", causes(&e)))?;
        let status = answer.status();
        let location = answer
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let text = answer.text().await.unwrap_or_default();
        Ok(AcsAnswer {
            status,
            location,
            excerpt: excerpt(&text),
        })
    }
}

/// An error with its causes (reqwest's own message hides why a connection failed: TLS, refused, …).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of a body, markup removed and whitespace collapsed, for a report.
fn excerpt(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let collapsed: Vec<&str> = text.split_whitespace().collect();
    let joined = collapsed.join(" ");
    match joined.char_indices().nth(EXCERPT) {
        Some((at, _)) => format!("{}…", &joined[..at]),
        None => joined,
    }
}

/// The `value` of the `<input name="{name}" …>` of an HTML page, HTML entities decoded.
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let mut rest = html;
    while let Some(start) = rest.find("<input") {
        let tag_end = rest[start..].find('>')? + start;
        let tag = &rest[start..tag_end];
        if attribute(tag, "name").as_deref() == Some(name) {
            return attribute(tag, "value");
        }
        rest = &rest[tag_end..];
    }
    None
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    for quote in ['"', '\''] {
        let needle = format!("{name}={quote}");
        let mut search = tag;
        while let Some(at) = search.find(&needle) {
            let preceded_by_space = search[..at].ends_with(|c: char| c.is_whitespace());
            let value_start = at + needle.len();
            if preceded_by_space {
                let len = search[value_start..].find(quote)?;
                return Some(unescape_html(&search[value_start..value_start + len]));
            }
            search = &search[value_start..];
        }
    }
    None
}

fn unescape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::form_value;

    #[test]
    fn form_values_are_found_by_name_and_unescaped() {
        let html = r#"<form><input type="hidden" name="RelayState" value="a&amp;b&#x2F;c"/>
            <input type='hidden' name='SAMLRequest' value='PHNhbWw+'/></form>"#;
        assert_eq!(form_value(html, "RelayState").as_deref(), Some("a&b/c"));
        assert_eq!(form_value(html, "SAMLRequest").as_deref(), Some("PHNhbWw+"));
        assert_eq!(form_value(html, "Missing"), None);
    }
}
