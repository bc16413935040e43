//! The JSON building blocks shared by the `anpr.*` commands and events — the schema version, a
//! person's generalità, places, addresses, citizenship — and their mapping to and from the
//! `tipoDato.xsd` types they stand for (`tipoGeneralita`, `tipoLuogoEvento`, `tipoResidenza`, …).

use chrono::NaiveDate;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::xml::{El, XmlOut, date_text};
use super::{AnprError, rules};

pub use crate::json_contract::SchemaV1;
pub(crate) use crate::json_contract::date_schema;

pub(crate) fn optional_date_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "null"], "format": "date" })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Sex {
    M,
    F,
}

/// A comune as ANPR names it (`tipoComune`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comune {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istat_code: Option<String>,
    /// Province abbreviation, e.g. `MI`.
    pub province: String,
}

/// A place abroad (`tipoLocalita`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForeignPlace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    pub country_name: String,
    /// ISTAT country code, three digits (`tab_stati_esteri.csv`).
    pub country_code: String,
}

/// Where an event (a birth, a death) happened: an Italian comune or a place abroad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Place {
    Comune(Comune),
    Abroad(ForeignPlace),
}

/// A person's generalità (`tipoGeneralita`). An absent surname or given name is sent as ANPR's
/// `senzaCognome`/`senzaNome` (people registered without one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codice_fiscale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub birth_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_place: Option<Place>,
}

/// A citizenship (`tipoCittadinanza`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Citizenship {
    /// ISTAT country code, three digits (`100` = Italy).
    pub country_code: String,
    pub country_name: String,
}

/// A residence address in Italy (`tipoResidenza` with `indirizzo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// `tipoIndirizzo`: 1 = residence (`tab_tipo_indirizzo`), the only kind Snodo sends.
    #[serde(default = "residence_kind")]
    pub kind: u32,
    pub postal_code: String,
    pub comune: Comune,
    /// The street's kind (`specie`: VIA, PIAZZA, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_kind: Option<String>,
    pub street_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub since: Option<NaiveDate>,
}

fn residence_kind() -> u32 {
    1
}

pub(crate) fn write_comune(out: &mut XmlOut, tag: &str, c: &Comune, field: &str) -> Result<(), AnprError> {
    rules::text(&format!("{field}.name"), &c.name, 80, true)?;
    if let Some(code) = &c.istat_code {
        rules::digits(&format!("{field}.istat_code"), code, 6, 6)?;
    }
    rules::province(&format!("{field}.province"), &c.province)?;
    out.open(tag);
    out.leaf("nomeComune", &c.name);
    out.opt_leaf("codiceIstat", c.istat_code.as_deref());
    out.leaf("siglaProvinciaIstat", &c.province);
    out.close(tag);
    Ok(())
}

pub(crate) fn read_comune(e: &El<'_>) -> Result<Comune, AnprError> {
    Ok(Comune {
        name: e.req_text("nomeComune")?,
        istat_code: e.opt_text("codiceIstat"),
        province: e.req_text("siglaProvinciaIstat")?,
    })
}

fn write_foreign(out: &mut XmlOut, tag: &str, p: &ForeignPlace, field: &str) -> Result<(), AnprError> {
    if let Some(l) = &p.locality {
        rules::text(&format!("{field}.locality"), l, 120, true)?;
    }
    rules::text(&format!("{field}.country_name"), &p.country_name, 120, false)?;
    rules::digits(&format!("{field}.country_code"), &p.country_code, 3, 3)?;
    out.open(tag);
    out.opt_leaf("descrizioneLocalita", p.locality.as_deref());
    out.leaf("descrizioneStato", &p.country_name);
    out.leaf("codiceStato", &p.country_code);
    out.close(tag);
    Ok(())
}

fn read_foreign(e: &El<'_>) -> Result<ForeignPlace, AnprError> {
    Ok(ForeignPlace {
        locality: e.opt_text("descrizioneLocalita"),
        country_name: e.req_text("descrizioneStato")?,
        country_code: e.req_text("codiceStato")?,
    })
}

/// `tipoLuogoEvento` (and `tipoLuogoNascita3000`, whose comune/località choice has the same names).
pub(crate) fn write_place(out: &mut XmlOut, tag: &str, p: &Place, field: &str) -> Result<(), AnprError> {
    out.open(tag);
    match p {
        Place::Comune(c) => write_comune(out, "comune", c, &format!("{field}.comune"))?,
        Place::Abroad(f) => write_foreign(out, "localita", f, &format!("{field}.abroad"))?,
    }
    out.close(tag);
    Ok(())
}

pub(crate) fn read_place(e: &El<'_>) -> Result<Option<Place>, AnprError> {
    if let Some(c) = e.child("comune") {
        return Ok(Some(Place::Comune(read_comune(&c)?)));
    }
    if let Some(l) = e.child("localita") {
        return Ok(Some(Place::Abroad(read_foreign(&l)?)));
    }
    Ok(None)
}

/// Checks a person's fields against the XSD facets, naming them under `field`.
pub(crate) fn check_person(p: &Person, field: &str) -> Result<(), AnprError> {
    if let Some(cf) = &p.codice_fiscale {
        rules::codice_fiscale(&format!("{field}.codice_fiscale"), cf)?;
    }
    if let Some(s) = &p.surname {
        rules::name(&format!("{field}.surname"), s)?;
    }
    if let Some(n) = &p.given_name {
        rules::name(&format!("{field}.given_name"), n)?;
    }
    Ok(())
}

/// `tipoGeneralita`.
pub(crate) fn write_person(out: &mut XmlOut, tag: &str, p: &Person, field: &str) -> Result<(), AnprError> {
    check_person(p, field)?;
    out.open(tag);
    if let Some(cf) = &p.codice_fiscale {
        out.open("codiceFiscale");
        out.leaf("codFiscale", cf);
        out.close("codiceFiscale");
    }
    match &p.surname {
        Some(s) => out.leaf("cognome", s),
        None => out.leaf("senzaCognome", "1"),
    };
    match &p.given_name {
        Some(n) => out.leaf("nome", n),
        None => out.leaf("senzaNome", "1"),
    };
    out.opt_leaf("sesso", p.sex.map(sex_code));
    out.opt_leaf("dataNascita", p.birth_date.map(date_text).as_deref());
    if let Some(place) = &p.birth_place {
        write_place(out, "luogoNascita", place, &format!("{field}.birth_place"))?;
    }
    out.close(tag);
    Ok(())
}

pub(crate) fn read_person(e: &El<'_>) -> Result<Person, AnprError> {
    let codice_fiscale = match e.child("codiceFiscale") {
        Some(cf) => Some(cf.req_text("codFiscale")?),
        None => None,
    };
    Ok(Person {
        codice_fiscale,
        surname: e.opt_text("cognome"),
        given_name: e.opt_text("nome"),
        sex: e
            .opt_text("sesso")
            .as_deref()
            .map(read_sex)
            .transpose()
            .map_err(|_| AnprError::invalid(format!("{}/sesso", e.path()), "is not M, F or N"))?
            .flatten(),
        birth_date: e.opt_date("dataNascita")?,
        birth_place: match e.child("luogoNascita") {
            Some(l) => read_place(&l)?,
            None => None,
        },
    })
}

pub(crate) fn sex_code(s: Sex) -> &'static str {
    match s {
        Sex::M => "M",
        Sex::F => "F",
    }
}

/// `tipoSesso` allows `N` (not stated) and lower case; `N` maps to no sex.
fn read_sex(code: &str) -> Result<Option<Sex>, ()> {
    match code {
        "M" | "m" => Ok(Some(Sex::M)),
        "F" | "f" => Ok(Some(Sex::F)),
        "N" | "n" => Ok(None),
        _ => Err(()),
    }
}

pub(crate) fn write_citizenship(
    out: &mut XmlOut,
    tag: &str,
    c: &Citizenship,
    field: &str,
) -> Result<(), AnprError> {
    rules::text(&format!("{field}.country_name"), &c.country_name, 120, false)?;
    rules::digits(&format!("{field}.country_code"), &c.country_code, 3, 3)?;
    out.open(tag);
    out.leaf("descrizioneStato", &c.country_name);
    out.leaf("codiceStato", &c.country_code);
    out.close(tag);
    Ok(())
}

pub(crate) fn read_citizenship(e: &El<'_>) -> Result<Citizenship, AnprError> {
    Ok(Citizenship {
        country_name: e.req_text("descrizioneStato")?,
        country_code: e.req_text("codiceStato")?,
    })
}

/// `tipoResidenza` with an Italian `indirizzo`.
pub(crate) fn write_address(out: &mut XmlOut, tag: &str, a: &Address, field: &str) -> Result<(), AnprError> {
    rules::range(&format!("{field}.kind"), a.kind, 0, 99)?;
    rules::digits(&format!("{field}.postal_code"), &a.postal_code, 1, 5)?;
    if let Some(k) = &a.street_kind {
        rules::text(&format!("{field}.street_kind"), k, 30, true)?;
    }
    rules::text(&format!("{field}.street_name"), &a.street_name, 100, true)?;
    if let Some(n) = &a.house_number {
        rules::digits(&format!("{field}.house_number"), n, 1, 20)?;
    }
    out.open(tag);
    out.leaf("tipoIndirizzo", a.kind.to_string());
    out.open("indirizzo");
    out.leaf("cap", &a.postal_code);
    write_comune(out, "comune", &a.comune, &format!("{field}.comune"))?;
    out.open("toponimo");
    out.opt_leaf("specie", a.street_kind.as_deref());
    out.leaf("denominazioneToponimo", &a.street_name);
    out.close("toponimo");
    if let Some(n) = &a.house_number {
        out.open("numeroCivico");
        out.leaf("numero", n);
        out.close("numeroCivico");
    }
    out.close("indirizzo");
    out.opt_leaf("dataDecorrenzaResidenza", a.since.map(date_text).as_deref());
    out.close(tag);
    Ok(())
}

/// Reads a `tipoResidenza`; `None` for a residence abroad (`localitaEstera`), which Snodo's address
/// does not model.
pub(crate) fn read_address(e: &El<'_>) -> Result<Option<Address>, AnprError> {
    let Some(i) = e.child("indirizzo") else {
        return Ok(None);
    };
    let toponimo = i.req("toponimo")?;
    Ok(Some(Address {
        kind: e.req_u32("tipoIndirizzo")?,
        postal_code: i.req_text("cap")?,
        comune: read_comune(&i.req("comune")?)?,
        street_kind: toponimo.opt_text("specie"),
        street_name: toponimo.req_text("denominazioneToponimo")?,
        house_number: i.child("numeroCivico").and_then(|n| n.opt_text("numero")),
        since: e.opt_date("dataDecorrenzaResidenza")?,
    }))
}
