//! ANPR's REST e-services on PDND (platform notes §2): one JSON operation (`anpr-service-e002`,
//! body `RichiestaE002`, answers `RispostaE002OK` / `RispostaKO` / GovWay's problem+json) shared by
//! C030 (codice fiscale → idANPR), C020 (residence), C021 (family), C001 (data for serving an act),
//! which differ in `casoUso` and in the sections they fill. Snodo's command is `anpr.pdnd.lookup`.
//! The wire types keep ANPR's field names; sections this mapping does not model are kept as JSON.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contract::{SchemaV1, optional_date_schema};
use super::{AnprError, AnprMessage, rules};

pub const COMMAND: &str = "anpr.pdnd.lookup";

/// The e-services Snodo calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EService {
    /// servizioAccertamentoIdUnicoNazionale: codice fiscale → idANPR.
    C030,
    /// servizioAccertamentoResidenza.
    C020,
    /// servizioAccertamentoStatoFamiglia.
    C021,
    /// servizioNotifica: data for serving an act.
    C001,
}

impl EService {
    /// `casoUso`: must equal the e-service code (a typo such as `CO20` is EN148).
    pub fn case_code(self) -> &'static str {
        match self {
            EService::C030 => "C030",
            EService::C020 => "C020",
            EService::C021 => "C021",
            EService::C001 => "C001",
        }
    }

    /// The e-service's name in the catalogue and in its URL path.
    pub fn name(self) -> &'static str {
        match self {
            EService::C030 => "C030-servizioAccertamentoIdUnicoNazionale",
            EService::C020 => "C020-servizioAccertamentoResidenza",
            EService::C021 => "C021-servizioAccertamentoStatoFamiglia",
            EService::C001 => "C001-servizioNotifica",
        }
    }
}

/// Command `anpr.pdnd.lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdndLookup {
    pub schema: SchemaV1,
    pub service: EService,
    pub by: PdndKey,
    /// Mandatory for ANPR: the case file reference (protocol, fascicolo, verbale).
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub reference_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PdndKey {
    CodiceFiscale(String),
    IdAnpr(String),
}

/// Event `anpr.pdnd.lookup.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdndLookupCompleted {
    pub schema: SchemaV1,
    pub service: EService,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_operazione_anpr: Option<String>,
    pub subjects: Vec<SoggettoEnte>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<AnprMessage>,
}

/// `RichiestaE002`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RichiestaE002 {
    pub id_operazione_client: String,
    pub criteri_ricerca: CriteriRicercaE002,
    pub dati_richiesta: DatiRichiestaE002,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CriteriRicercaE002 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codice_fiscale: Option<String>,
    #[serde(default, rename = "idANPR", skip_serializing_if = "Option::is_none")]
    pub id_anpr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatiRichiestaE002 {
    /// YYYY-MM-DD.
    pub data_riferimento_richiesta: String,
    pub motivo_richiesta: String,
    pub caso_uso: String,
}

/// `RispostaE002OK`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RispostaE002Ok {
    #[serde(default, rename = "idOperazioneANPR", skip_serializing_if = "Option::is_none")]
    pub id_operazione_anpr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lista_soggetti: Option<ListaSoggetti>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lista_anomalie: Vec<ErroreAnomalia>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListaSoggetti {
    #[serde(default)]
    pub dati_soggetto: Vec<SoggettoEnte>,
}

/// `TipoDatiSoggettiEnte`: the sections every one of the four services may fill are typed loosely
/// as JSON (their shapes follow `E000Vocabolario.xsd`); everything else is kept in `other`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoggettoEnte {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identificativi: Option<Identificativi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generalita: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residenza: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legame_soggetto: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dati_decesso: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_soggetto_ente: Option<Value>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Identificativi {
    #[serde(default, rename = "idANPR", skip_serializing_if = "Option::is_none")]
    pub id_anpr: Option<String>,
}

/// `TipoErroriAnomalia` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErroreAnomalia {
    pub codice_errore_anomalia: String,
    #[serde(default)]
    pub tipo_errore_anomalia: String,
    #[serde(default)]
    pub testo_errore_anomalia: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oggetto_errore_anomalia: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campo_errore_anomalia: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valore_errore_anomalia: Option<String>,
}

impl From<&ErroreAnomalia> for AnprMessage {
    fn from(e: &ErroreAnomalia) -> AnprMessage {
        AnprMessage {
            code: e.codice_errore_anomalia.clone(),
            severity: e.tipo_errore_anomalia.clone(),
            text: e.testo_errore_anomalia.clone(),
            object: e.oggetto_errore_anomalia.clone(),
            field: e.campo_errore_anomalia.clone(),
            value: e.valore_errore_anomalia.clone(),
        }
    }
}

/// `RispostaKO` (HTTP 400, 404 or 500).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RispostaKo {
    #[serde(default, rename = "idOperazioneANPR", skip_serializing_if = "Option::is_none")]
    pub id_operazione_anpr: Option<String>,
    #[serde(default)]
    pub lista_errori: Vec<ErroreAnomalia>,
}

/// GovWay's own refusal (`application/problem+json`): schema or ModI failures before ANPR.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct GovWayProblem {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub govway_id: Option<String>,
}

/// What an e-service call came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdndReply {
    Completed(PdndLookupCompleted),
    /// ANPR's business refusal: `rejected` with the first error's code (e.g. EN122).
    Rejected(RispostaKo),
    /// GovWay refused before ANPR (or answered 429/5xx without a RispostaKO).
    Problem(GovWayProblem),
}

/// `idOperazioneClient` for a command: derived from its `message_id`, so a retry reuses it.
pub fn id_operazione_client(message_id: &str) -> String {
    message_id.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

impl PdndLookup {
    pub fn check(&self) -> Result<(), AnprError> {
        match &self.by {
            PdndKey::CodiceFiscale(cf) => rules::codice_fiscale("by.codice_fiscale", cf)?,
            PdndKey::IdAnpr(id) => rules::alphanumeric("by.id_anpr", id, 1, 30)?,
        }
        if self.reason.trim().is_empty() {
            return Err(AnprError::field(
                "reason",
                "ANPR requires the case file reference",
            ));
        }
        Ok(())
    }
}

/// The `RichiestaE002` body for `cmd`.
pub fn request(cmd: &PdndLookup, message_id: &str, today: NaiveDate) -> Result<RichiestaE002, AnprError> {
    cmd.check()?;
    let mut criteri = CriteriRicercaE002::default();
    match &cmd.by {
        PdndKey::CodiceFiscale(cf) => criteri.codice_fiscale = Some(cf.clone()),
        PdndKey::IdAnpr(id) => criteri.id_anpr = Some(id.clone()),
    }
    Ok(RichiestaE002 {
        id_operazione_client: id_operazione_client(message_id),
        criteri_ricerca: criteri,
        dati_richiesta: DatiRichiestaE002 {
            data_riferimento_richiesta: cmd.reference_date.unwrap_or(today).format("%Y-%m-%d").to_string(),
            motivo_richiesta: cmd.reason.clone(),
            caso_uso: cmd.service.case_code().to_owned(),
        },
    })
}

/// Reads an e-service answer by HTTP status, content type and body.
pub fn read_response(
    service: EService,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<PdndReply, AnprError> {
    let bad = |e: serde_json::Error| {
        AnprError::invalid("e-service answer", format!("is not the JSON expected: {e}"))
    };
    if content_type.starts_with("application/problem+json") {
        return Ok(PdndReply::Problem(serde_json::from_slice(body).map_err(bad)?));
    }
    if status == 200 {
        let ok: RispostaE002Ok = serde_json::from_slice(body).map_err(bad)?;
        return Ok(PdndReply::Completed(PdndLookupCompleted {
            schema: SchemaV1,
            service,
            id_operazione_anpr: ok.id_operazione_anpr,
            subjects: ok.lista_soggetti.map(|l| l.dati_soggetto).unwrap_or_default(),
            warnings: ok.lista_anomalie.iter().map(AnprMessage::from).collect(),
        }));
    }
    match serde_json::from_slice::<RispostaKo>(body) {
        Ok(ko) if !ko.lista_errori.is_empty() => Ok(PdndReply::Rejected(ko)),
        // GovWay does not always label its problem+json; without a RispostaKO it is GovWay's.
        _ => {
            let mut problem = serde_json::from_slice::<GovWayProblem>(body).unwrap_or_default();
            problem.status = problem.status.or(Some(status));
            Ok(PdndReply::Problem(problem))
        }
    }
}
