//! The operations page (`GET /ops`): one server-rendered HTML page with a little JavaScript and no
//! build step — queue depths refreshing live, dead letters with their error and replay and purge
//! buttons, recent failures grouped by code, per-platform latency and error rate, and a trace search.
//! Each concern renders its own section (`queues`, `dead_letters`, `failures`, `platforms`); the
//! script and style are static files compiled in. Everything shown passes through [`escape`]: error
//! texts and message types come from outside.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::OpsState;

mod dead_letters;
mod failures;
mod platforms;
mod queues;

const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// HTML text and attribute escaping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /ops`.
pub async fn page(State(state): State<Arc<OpsState>>) -> Response {
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Snodo operations</title><style>{STYLE}</style></head><body>\
         <header><h1>Snodo operations</h1><form id=\"trace-form\" role=\"search\">\
         <input id=\"trace-id\" name=\"id\" placeholder=\"message id, codice fiscale, IUV, booking code…\" \
         autocomplete=\"off\"><button id=\"trace-button\" type=\"submit\">Trace</button></form></header>\
         <section id=\"trace-section\" hidden><h2>Trace</h2><div id=\"trace\"></div></section>"
    );
    queues::render(&mut html, &state).await;
    dead_letters::render(&mut html, &state).await;
    failures::render(&mut html, &state).await;
    platforms::render(&mut html, &state);
    let _ = write!(html, "<script>{SCRIPT}</script></body></html>");
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_texts_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
