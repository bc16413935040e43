//! The EC's application errors: `outcome` KO with a complete `ctFaultBean`, inside a normal HTTP 200
//! response (pagopa.md §1, §3). A KO without a fault is a malformed response to the node
//! (`PPT_STAZIONE_INT_PA_ERRORE_RESPONSE`), so a [`FaultBean`] always has its three required fields.

use std::fmt;

use super::xml::{SyntaxError, SyntaxKind, XmlOut};

/// The fault codes an EC answers with (official table "Nodo -> EC", pagopa.md §3.1), each with its
/// official `faultString`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaFaultCode {
    SintassiXsd,
    SintassiExtraXsd,
    IdDominioErrato,
    IdIntermediarioErrato,
    StazioneIntErrata,
    PagamentoSconosciuto,
    PagamentoDuplicato,
    PagamentoInCorso,
    PagamentoScaduto,
    PagamentoAnnullato,
    Semantica,
    ReceiptDuplicata,
    SystemError,
}

impl PaFaultCode {
    pub const ALL: [PaFaultCode; 13] = [
        PaFaultCode::SintassiXsd,
        PaFaultCode::SintassiExtraXsd,
        PaFaultCode::IdDominioErrato,
        PaFaultCode::IdIntermediarioErrato,
        PaFaultCode::StazioneIntErrata,
        PaFaultCode::PagamentoSconosciuto,
        PaFaultCode::PagamentoDuplicato,
        PaFaultCode::PagamentoInCorso,
        PaFaultCode::PagamentoScaduto,
        PaFaultCode::PagamentoAnnullato,
        PaFaultCode::Semantica,
        PaFaultCode::ReceiptDuplicata,
        PaFaultCode::SystemError,
    ];

    /// The wire code, e.g. `PAA_PAGAMENTO_SCONOSCIUTO`.
    pub fn code(self) -> &'static str {
        match self {
            PaFaultCode::SintassiXsd => "PAA_SINTASSI_XSD",
            PaFaultCode::SintassiExtraXsd => "PAA_SINTASSI_EXTRAXSD",
            PaFaultCode::IdDominioErrato => "PAA_ID_DOMINIO_ERRATO",
            PaFaultCode::IdIntermediarioErrato => "PAA_ID_INTERMEDIARIO_ERRATO",
            PaFaultCode::StazioneIntErrata => "PAA_STAZIONE_INT_ERRATA",
            PaFaultCode::PagamentoSconosciuto => "PAA_PAGAMENTO_SCONOSCIUTO",
            PaFaultCode::PagamentoDuplicato => "PAA_PAGAMENTO_DUPLICATO",
            PaFaultCode::PagamentoInCorso => "PAA_PAGAMENTO_IN_CORSO",
            PaFaultCode::PagamentoScaduto => "PAA_PAGAMENTO_SCADUTO",
            PaFaultCode::PagamentoAnnullato => "PAA_PAGAMENTO_ANNULLATO",
            PaFaultCode::Semantica => "PAA_SEMANTICA",
            PaFaultCode::ReceiptDuplicata => "PAA_RECEIPT_DUPLICATA",
            PaFaultCode::SystemError => "PAA_SYSTEM_ERROR",
        }
    }

    /// The official `faultString` (docs.pagopa.it gestionedeglierrori, "Dominio EC");
    /// `PAA_RECEIPT_DUPLICATA` is missing from that table and reads like its old-model twin
    /// `PAA_RT_DUPLICATA`.
    pub fn fault_string(self) -> &'static str {
        match self {
            PaFaultCode::SintassiXsd => "Errore di sintassi XSD",
            PaFaultCode::SintassiExtraXsd => "Errore di sintassi extra XSD",
            PaFaultCode::IdDominioErrato => "La PAA non corrisponde al Dominio indicato",
            PaFaultCode::IdIntermediarioErrato => "Identificativo intermediario non corrispondente",
            PaFaultCode::StazioneIntErrata => "Stazione intermediario non corrispondente",
            PaFaultCode::PagamentoSconosciuto => "Pagamento in attesa risulta sconosciuto all’Ente Creditore",
            PaFaultCode::PagamentoDuplicato => "Pagamento in attesa risulta concluso all’Ente Creditore",
            PaFaultCode::PagamentoInCorso => "Pagamento in attesa risulta in corso all’Ente Creditore",
            PaFaultCode::PagamentoScaduto => "Pagamento in attesa risulta scaduto all’Ente Creditore",
            PaFaultCode::PagamentoAnnullato => "Pagamento in attesa risulta annullato all’Ente Creditore",
            PaFaultCode::Semantica => "Errore semantico",
            PaFaultCode::ReceiptDuplicata => "La receipt è già stata accettata",
            PaFaultCode::SystemError => "Errore generico",
        }
    }

    pub fn from_code(code: &str) -> Option<PaFaultCode> {
        PaFaultCode::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for PaFaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A complete `ctFaultBean`: code, string and `id` (the EC answering, its fiscal code) always present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultBean {
    pub code: PaFaultCode,
    /// The EC's fiscal code (`idPA` of the request), which the node reports as the fault's origin.
    pub id: String,
    /// Optional detail. Never personal data: the node forwards it to PSPs and apps.
    pub description: Option<String>,
}

impl FaultBean {
    pub fn new(code: PaFaultCode, id: impl Into<String>) -> FaultBean {
        FaultBean {
            code,
            id: id.into(),
            description: None,
        }
    }

    pub fn with_description(mut self, description: impl Into<String>) -> FaultBean {
        self.description = Some(description.into());
        self
    }

    /// The fault for a request refused for its syntax; the description names the element and the rule
    /// (never a value).
    pub fn for_syntax(error: &SyntaxError, id: impl Into<String>) -> FaultBean {
        let code = match error.kind {
            SyntaxKind::Xsd => PaFaultCode::SintassiXsd,
            SyntaxKind::ExtraXsd => PaFaultCode::SintassiExtraXsd,
        };
        FaultBean::new(code, id).with_description(error.to_string())
    }

    pub(crate) fn write(&self, out: &mut XmlOut) {
        out.open("fault")
            .leaf("faultCode", self.code.code())
            .leaf("faultString", self.code.fault_string())
            .leaf("id", &self.id)
            .opt_leaf("description", self.description.as_deref())
            .close("fault");
    }
}
