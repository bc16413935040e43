//! What a 6001 certificate says: its title from `tab_tipo_di_certificato.csv`, the error-table rules
//! that forbid a type for a holder (EN054 existence for the deceased, EN061 death for the living,
//! EN110 citizenship for a foreigner, EN044 residence for someone not resident), and the text of the
//! PDF.

use chrono::NaiveDate;
use snodo_mappings::anpr::certificate::IssueCertificate;
use snodo_mappings::anpr::contract::Place;

use super::pdf::CertificateText;
use super::registry::Record;

/// `tab_tipo_di_certificato.csv`.
pub fn certificate_title(kind: u32) -> Option<&'static str> {
    const TITLES: [&str; 20] = [
        "Certificato Anagrafico di nascita",
        "Certificato Anagrafico di morte",
        "Certificato Anagrafico di matrimonio",
        "Certificato di Cancellazione anagrafica",
        "Certificato di Cittadinanza",
        "Certificato storico di Cittadinanza",
        "Certificato di Esistenza in vita",
        "Certificato di Residenza",
        "Certificato storico di Residenza",
        "Certificato di Residenza AIRE",
        "Certificato di Stato civile",
        "Certificato di Stato di famiglia",
        "Certificato di Stato di famiglia e di stato civile",
        "Certificato di Residenza in convivenza",
        "Certificato di Stato di famiglia AIRE",
        "Certificato di Stato di famiglia con rapporti di parentela",
        "Certificato di Stato Libero",
        "Certificato Anagrafico di Unione Civile",
        "Certificato di Contratto di Convivenza",
        "Certificato Storico di Residenza alla data",
    ];
    TITLES.get(usize::try_from(kind).ok()?.checked_sub(1)?).copied()
}

/// The rule of the error table that forbids certificate `kind` for this holder, if any.
pub fn certificate_refusal(kind: u32, holder: &Record) -> Option<(&'static str, &'static str)> {
    let dead = holder.death_date.is_some();
    match kind {
        2 if !dead => Some((
            "EN061",
            "Il Certificato di decesso non puo' essere emesso perche' il soggetto non risulta deceduto",
        )),
        7 if dead => Some((
            "EN054",
            "Impossibile emettere il certificato di esistenza in vita in quanto il soggetto e' deceduto",
        )),
        5 if holder.citizenship.country_code != "100" => Some((
            "EN110",
            "Impossibile emettere il certificato perche' il soggetto non ha cittadinanza italiana",
        )),
        8 | 12 | 13 | 16 if dead || holder.residence.is_none() => Some((
            "EN044",
            "Il certificato non puo' essere emesso in quanto il soggetto e' iscritto all'AIRE",
        )),
        _ => None,
    }
}

pub fn certificate_text(
    r: &IssueCertificate,
    holder: &Record,
    protocol: &str,
    today: NaiveDate,
) -> CertificateText {
    let p = &holder.person;
    let mut lines = vec![
        "ANAGRAFE NAZIONALE DELLA POPOLAZIONE RESIDENTE (simulatore Snodo)".to_owned(),
        format!("Protocollo ANPR n. {protocol} del {today}"),
        String::new(),
        format!(
            "Cognome e nome: {} {}",
            p.surname.as_deref().unwrap_or("-"),
            p.given_name.as_deref().unwrap_or("-")
        ),
        format!("Codice fiscale: {}", p.codice_fiscale.as_deref().unwrap_or("-")),
        format!(
            "Nato/a il {} a {}",
            p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            match &p.birth_place {
                Some(Place::Comune(c)) => format!("{} ({})", c.name, c.province),
                Some(Place::Abroad(f)) => f.country_name.clone(),
                None => "-".into(),
            }
        ),
        format!("Cittadinanza: {}", holder.citizenship.country_name),
    ];
    if let Some(a) = &holder.residence {
        lines.push(format!(
            "Residenza: {} {} {}, {} {} ({})",
            a.street_kind.as_deref().unwrap_or(""),
            a.street_name,
            a.house_number.as_deref().unwrap_or(""),
            a.postal_code,
            a.comune.name,
            a.comune.province
        ));
    }
    if let Some(d) = holder.death_date {
        lines.push(format!("Deceduto/a il {d}"));
    }
    lines.push(String::new());
    for &kind in &r.certificate_types {
        lines.push(certificate_title(kind).unwrap_or("Certificato").to_owned());
    }
    lines.push(String::new());
    lines.push(format!(
        "L'ufficiale d'anagrafe: {} {}",
        r.officer.surname, r.officer.given_name
    ));
    lines.push(format!(
        "Bollo: {} centesimi; diritti: {} centesimi",
        r.stamp_duty_cents, r.fees_cents
    ));
    CertificateText {
        title: certificate_title(r.certificate_types.first().copied().unwrap_or(8))
            .unwrap_or("Certificato")
            .to_owned(),
        lines,
    }
}
