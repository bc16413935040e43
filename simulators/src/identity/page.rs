//! The IdP's pages for people: the login page (pick a person of the population, the level, and what
//! the IdP should answer: success, a SPID error code or a catalogue case), the consent page (which
//! data goes to which SP; consent or refuse), the diagnostic page of a refused AuthnRequest, and
//! plain messages. Plain HTML with inline CSS, no build step.

use super::Profile;
use super::catalogue::CASES;
use super::request::{AcceptedRequest, Problem};
use super::response::Released;
use crate::population::person::Person;
use snodo_security::saml::SpidLevel;

/// The SPID error codes a tester can pick (messaggi-errore.rst, spid-and-cie-id.md §1.4).
pub const ERROR_CODES: [(u8, &str); 7] = [
    (19, "ripetuta sottomissione di credenziali errate"),
    (
        20,
        "utente privo di credenziali compatibili con il livello richiesto",
    ),
    (21, "timeout durante l'autenticazione"),
    (22, "l'utente nega il consenso all'invio dei dati"),
    (23, "identità sospesa, revocata o credenziali bloccate"),
    (25, "processo di autenticazione annullato dall'utente"),
    (30, "tipo di identità diverso da quello richiesto"),
];

pub fn escape(value: &str) -> String {
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

const STYLE: &str = "body{font-family:sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}\
h1{color:#0066cc;font-size:1.5rem}fieldset{margin:1rem 0;border:1px solid #ccc}label{display:block;margin:.25rem 0}\
button{background:#0066cc;color:#fff;border:0;padding:.5rem 1.25rem;font-size:1rem;margin-right:.5rem}\
button.secondary{background:#777}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"it\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        t = escape(title)
    )
}

/// The login page for a pending request.
pub fn login(
    profile: Profile,
    ticket: &str,
    sp_name: &str,
    request: &AcceptedRequest,
    people: &[Person],
) -> String {
    let mut body = format!(
        "<h1>{} — identity provider simulato</h1>\n<p><strong>{}</strong> chiede l'autenticazione al livello {} ({}).</p>\n",
        profile.label(),
        escape(sp_name),
        request.level,
        request.comparison,
    );
    if !request.attributes.is_empty() {
        body.push_str(&format!(
            "<p>Dati richiesti: {}.</p>\n",
            escape(&request.attributes.join(", "))
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/{}/login\">\n<input type=\"hidden\" name=\"ticket\" value=\"{}\"/>\n<fieldset><legend>Persona</legend>\n",
        profile.path(),
        escape(ticket)
    ));
    for (i, p) in people.iter().enumerate() {
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"fiscal_code\" value=\"{cf}\"{checked}/> {name} {surname} — {cf} — nato/a il {birth}</label>\n",
            cf = escape(p.codice_fiscale.as_str()),
            checked = if i == 0 { " checked" } else { "" },
            name = escape(p.given_name),
            surname = escape(p.surname),
            birth = p.birth_date.format("%d/%m/%Y"),
        ));
    }
    body.push_str(
        "<label>Oppure un altro codice fiscale della popolazione: <input name=\"other_fiscal_code\" size=\"16\" maxlength=\"16\"/></label>\n</fieldset>\n",
    );
    body.push_str("<fieldset><legend>Livello</legend>\n");
    // The level asked, for CIE ID as for SPID: both have SpidL1–L3.
    let default = request.level.to_string().trim_start_matches("SpidL").to_owned();
    for level in ["1", "2", "3"] {
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"level\" value=\"{level}\"{}/> SpidL{level}</label>\n",
            if level == default { " checked" } else { "" }
        ));
    }
    body.push_str("</fieldset>\n<fieldset><legend>Risposta dell'identity provider</legend>\n<select name=\"outcome\">\n<option value=\"success\" selected>Autenticazione riuscita</option>\n");
    for (code, text) in ERROR_CODES {
        body.push_str(&format!(
            "<option value=\"error:{code}\">Errore nr{code}: {text}</option>\n"
        ));
    }
    for case in CASES.iter().filter(|c| c.id != "1") {
        body.push_str(&format!(
            "<option value=\"case:{id}\">Caso di conformità {id}: {d}</option>\n",
            id = escape(case.id),
            d = escape(case.description)
        ));
    }
    body.push_str(
        "</select>\n</fieldset>\n<button type=\"submit\">Entra</button>\
         <button class=\"secondary\" type=\"submit\" name=\"outcome\" value=\"error:25\">Annulla</button>\n</form>\n",
    );
    document(&format!("{} — accesso", profile.label()), &body)
}

/// How the consent page names a SPID attribute (attributi.rst).
fn attribute_label(name: &str) -> &str {
    match name {
        "spidCode" => "Codice identificativo SPID",
        "name" => "Nome",
        "familyName" => "Cognome",
        "placeOfBirth" => "Luogo di nascita",
        "countyOfBirth" => "Provincia di nascita",
        "dateOfBirth" => "Data di nascita",
        "gender" => "Sesso",
        "fiscalNumber" => "Codice fiscale",
        "idCard" => "Documento d'identità",
        "mobilePhone" => "Numero di telefono mobile",
        "email" => "Indirizzo di posta elettronica",
        "address" => "Domicilio fisico",
        "domicileStreetAddress" => "Domicilio: via",
        "domicilePostalCode" => "Domicilio: CAP",
        "domicileMunicipality" => "Domicilio: comune",
        "domicileProvince" => "Domicilio: provincia",
        "domicileNation" => "Domicilio: nazione",
        "expirationDate" => "Scadenza dell'identità",
        other => other,
    }
}

/// The consent page: after the credentials, the person sees which data the IdP would send to which
/// SP, and consents (the Response goes to the SP) or refuses (the SP gets `ErrorCode nr22`).
pub fn consent(
    profile: Profile,
    ticket: &str,
    sp_name: &str,
    sp_entity_id: &str,
    level: SpidLevel,
    released: &[Released],
) -> String {
    let sp = if sp_name.is_empty() { sp_entity_id } else { sp_name };
    let mut body = format!(
        "<h1>{} — consenso all'invio dei dati</h1>\n<p>Autenticazione riuscita al livello {level}. Il servizio <strong id=\"sp-name\">{}</strong> (<code>{}</code>) riceverà questi dati:</p>\n",
        profile.label(),
        escape(sp),
        escape(sp_entity_id),
    );
    if released.is_empty() {
        body.push_str("<p id=\"released\">Nessun dato oltre all'esito dell'autenticazione.</p>\n");
    } else {
        body.push_str("<table id=\"released\"><tr><th>Dato</th><th>Valore</th></tr>\n");
        for r in released {
            body.push_str(&format!(
                "<tr><td title=\"{name}\">{label}</td><td>{value}</td></tr>\n",
                name = escape(r.name),
                label = escape(attribute_label(r.name)),
                value = escape(&r.value),
            ));
        }
        body.push_str("</table>\n");
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/{}/consent\">\n<input type=\"hidden\" name=\"ticket\" value=\"{}\"/>\n\
         <p><button id=\"consent\" type=\"submit\" name=\"decision\" value=\"consent\">Acconsento</button>\
         <button id=\"refuse\" class=\"secondary\" type=\"submit\" name=\"decision\" value=\"refuse\">Non acconsento</button></p>\n\
         <p><small>Se non acconsenti, il servizio riceve l'esito «consenso negato» (ErrorCode nr22) e nessun dato.</small></p>\n</form>\n",
        profile.path(),
        escape(ticket)
    ));
    document(&format!("{} — consenso", profile.label()), &body)
}

/// The page of a refused AuthnRequest: every rule broken, as the national validators list them.
pub fn diagnostics(profile: Profile, problems: &[Problem]) -> String {
    let mut body = format!(
        "<h1>{} — richiesta di autenticazione rifiutata</h1>\n<p>La AuthnRequest non rispetta le regole tecniche:</p>\n<table><tr><th>Elemento</th><th>Problema</th></tr>\n",
        profile.label()
    );
    for p in problems {
        body.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td></tr>\n",
            escape(p.rule),
            escape(&p.detail)
        ));
    }
    body.push_str("</table>\n");
    document("Richiesta rifiutata", &body)
}

/// A page with one message.
pub fn message(title: &str, text: &str) -> String {
    document(
        title,
        &format!("<h1>{}</h1>\n<p>{}</p>\n", escape(title), escape(text)),
    )
}
