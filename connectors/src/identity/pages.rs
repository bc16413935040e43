//! The few HTML pages the citizen may see: the auto-submitting form of the HTTP-POST binding and the
//! courtesy page of a failed login, in Italian, explaining the SPID error code (`messaggi-errore.rst`:
//! the SP must tell the user why access failed). Every value written into HTML is escaped: RelayState,
//! URLs and messages may carry what an attacker chose (spid-and-cie-id.md §5, output injection).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use snodo_security::saml::{ResponseError, SpidErrorCode};

/// Why a login or logout was refused.
#[derive(Debug)]
pub(crate) enum Problem {
    UnknownTenant,
    UnknownIdp,
    BadForm(&'static str),
    BadRequest(String),
    Unsolicited,
    RelayState,
    Replayed,
    BadAttribute(&'static str),
    /// The IdP authenticated at a level below the tenant's `minimum_level`.
    BelowMinimumLevel {
        returned: u8,
        minimum: u8,
    },
    Response(ResponseError),
    Unavailable(String),
    Internal,
}

impl Problem {
    /// What went wrong, for the event and the log (no personal data: `ResponseError` never has any).
    pub(crate) fn detail(&self) -> String {
        match self {
            Problem::UnknownTenant => "unknown tenant".into(),
            Problem::UnknownIdp => "the identity provider is not in the trusted metadata".into(),
            Problem::BadForm(why) => (*why).into(),
            Problem::BadRequest(why) => why.clone(),
            Problem::Unsolicited => {
                "the Response answers no pending AuthnRequest of this SP (unsolicited, expired or already used)".into()
            }
            Problem::RelayState => "RelayState differs from the one sent with the AuthnRequest".into(),
            Problem::Replayed => "the Assertion was already used".into(),
            Problem::BadAttribute(name) => format!("attribute {name} is not an ISO date"),
            Problem::BelowMinimumLevel { returned, minimum } => format!(
                "authenticated at SpidL{returned}, below this service's minimum SpidL{minimum}"
            ),
            Problem::Response(e) => e.to_string(),
            Problem::Unavailable(why) => format!("temporarily unavailable: {why}"),
            Problem::Internal => "internal error".into(),
        }
    }

    pub(crate) fn spid_error_code(&self) -> Option<u8> {
        match self {
            Problem::Response(ResponseError::Status(failure)) => {
                failure.spid_error.map(SpidErrorCode::number)
            }
            _ => None,
        }
    }

    /// The citizen's explanation.
    fn italian(&self) -> &'static str {
        match self {
            Problem::Response(ResponseError::Status(failure)) => match failure.spid_error {
                Some(SpidErrorCode::RepeatedWrongCredentials) => {
                    "Accesso non riuscito: le credenziali sono state inserite in modo errato più volte (codice 19)."
                }
                Some(SpidErrorCode::NoCredentialsForLevel) => {
                    "Accesso non riuscito: l'identità digitale non ha credenziali del livello di sicurezza richiesto dal servizio (codice 20)."
                }
                Some(SpidErrorCode::Timeout) => {
                    "Accesso non riuscito: è scaduto il tempo a disposizione per autenticarsi (codice 21)."
                }
                Some(SpidErrorCode::ConsentDenied) => {
                    "Accesso non riuscito: non è stato dato il consenso all'invio dei dati al servizio (codice 22)."
                }
                Some(SpidErrorCode::IdentitySuspendedOrRevoked) => {
                    "Accesso non riuscito: l'identità digitale è sospesa o revocata, o le credenziali sono bloccate (codice 23)."
                }
                Some(SpidErrorCode::Cancelled) => {
                    "Accesso annullato: l'autenticazione è stata interrotta (codice 25)."
                }
                Some(SpidErrorCode::WrongIdentityType) => {
                    "Accesso non riuscito: il tipo di identità digitale usato non è quello richiesto dal servizio (codice 30)."
                }
                _ => "Accesso non riuscito: il gestore dell'identità digitale ha segnalato un errore.",
            },
            Problem::BelowMinimumLevel { .. } => {
                "Accesso non riuscito: il servizio richiede un livello di sicurezza dell'identità digitale più alto di quello usato. Riprova con credenziali di livello adeguato."
            }
            Problem::Unavailable(_) => {
                "Il servizio è momentaneamente non disponibile: riprova tra qualche istante."
            }
            Problem::UnknownTenant => "Il servizio richiesto non esiste.",
            Problem::UnknownIdp => "Il gestore dell'identità digitale scelto non è riconosciuto.",
            Problem::BadForm(_) | Problem::BadRequest(_) => "La richiesta non è valida.",
            Problem::Unsolicited => {
                "La risposta di autenticazione non corrisponde a una richiesta in corso: l'accesso potrebbe essere scaduto o già concluso. Riprova dall'inizio."
            }
            Problem::Replayed => "Questa risposta di autenticazione è già stata usata. Riprova dall'inizio.",
            Problem::RelayState | Problem::BadAttribute(_) | Problem::Response(_) | Problem::Internal => {
                "Accesso non riuscito: la risposta di autenticazione non ha superato i controlli di sicurezza."
            }
        }
    }
}

/// The courtesy page, with `status` (never 200, DESIGN and spid-sp-test alike).
pub(crate) fn problem_page(status: StatusCode, problem: &Problem, back: Option<&str>) -> Response {
    html_page(status, problem_html(problem, back))
}

/// The courtesy page's HTML: the ACS keeps it as the answer it gave, so that a re-post of the same
/// Response is shown the very same page.
pub(crate) fn problem_html(problem: &Problem, back: Option<&str>) -> String {
    let mut link = back
        .map(|url| format!(r#"<p><a href="{}">Torna al servizio</a></p>"#, escape_html(url)))
        .unwrap_or_default();
    // A malformed login or logout link is the integrator's bug, not the citizen's: say which
    // parameter is wrong (these details name parameters and rules, never personal data).
    if let Problem::BadForm(_) | Problem::BadRequest(_) = problem {
        link.push_str(&format!(
            r#"<p><small>Dettaglio tecnico: {}</small></p>"#,
            escape_html(&problem.detail())
        ));
    }
    format!(
        concat!(
            "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>Accesso non riuscito</title></head>",
            "<body><h1>Accesso non riuscito</h1><p>{}</p>{}</body></html>"
        ),
        escape_html(problem.italian()),
        link
    )
}

/// An HTML page nobody may cache (it belongs to one login).
pub(crate) fn html_page(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The HTTP-POST binding: a form posting `field` (SAMLRequest or SAMLResponse) and RelayState to
/// `action`, submitted by script, with a button for browsers without it.
pub(crate) fn autopost_page(action: &str, field: &str, value: &str, relay_state: &str) -> Response {
    let body = format!(
        concat!(
            "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>Accesso</title></head>",
            "<body onload=\"document.forms[0].submit()\">",
            "<form method=\"post\" action=\"{action}\">",
            "<input type=\"hidden\" name=\"{field}\" value=\"{value}\"/>",
            "<input type=\"hidden\" name=\"RelayState\" value=\"{relay}\"/>",
            "<noscript><button type=\"submit\">Prosegui</button></noscript>",
            "</form></body></html>"
        ),
        action = escape_html(action),
        field = escape_html(field),
        value = escape_html(value),
        relay = escape_html(relay_state),
    );
    html_page(StatusCode::OK, body)
}

pub(crate) fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
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
