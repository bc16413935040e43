//! Shared set-up of the WS-Security tests: a comune and a workstation identity generated for the test
//! run, an ANPR request to sign (the example client's 3002 sample inside a SOAP 1.1 envelope), a
//! fixed clock, and the signer and verifier built from them.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use snodo_security::dsig::SignaturePolicy;
use snodo_security::wssec::{AnprIdentity, RequestSigner, RequestVerifier};

use super::{TestIdentity, rsa_identity};

pub const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const SAML2: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const CONSULTAZIONE: &str = "http://sogei.it/ANPR/3000consultazione";

/// A fictitious operator's codice fiscale (valid check character): personal data in real life, so
/// the tests check it never appears in an error message.
pub const OPERATOR: &str = "RSSMRA80A01F205X";

/// The comune's key and certificate (signs the message and the assertion).
pub fn comune() -> &'static TestIdentity {
    static ID: OnceLock<TestIdentity> = OnceLock::new();
    ID.get_or_init(|| rsa_identity("015146-CO-9999", 2048))
}

/// The workstation's key and certificate (signs IdPostazioneFirmato).
pub fn workstation() -> &'static TestIdentity {
    static ID: OnceLock<TestIdentity> = OnceLock::new();
    ID.get_or_init(|| rsa_identity("015146-CO-0001", 2048))
}

pub fn identity() -> AnprIdentity {
    AnprIdentity {
        id_sede: "015146".to_owned(),
        id_operatore: OPERATOR.to_owned(),
        id_postazione: "015146-CO-0001".to_owned(),
        id_applicazione: "SNODO".to_owned(),
        ip_address: "10.1.2.3".to_owned(),
    }
}

/// 2026-03-02T10:15:30.123Z.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_772_446_530_123)
}

pub const NOW_TEXT: &str = "2026-03-02T10:15:30.123Z";
pub const NOW_PLUS_5_MIN_TEXT: &str = "2026-03-02T10:20:30.123Z";

/// An ANPR 3002 request (`soap-client-example/requests/3002_888002_FREE.xml`, tipoInvio TEST,
/// codDestinatario ANPR05 as the platform notes require today) in a SOAP 1.1 envelope with an empty
/// Header.
pub fn envelope() -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Header/><soapenv:Body><ns2:Richiesta3002 xmlns:ns2="{CONSULTAZIONE}">
	<testataRichiesta>
		<idOperazioneComune>999997</idOperazioneComune>
		<codMittente>015146</codMittente>
		<codDestinatario>ANPR05</codDestinatario>
		<operazioneRichiesta>3002</operazioneRichiesta>
		<dataOraRichiesta>2026-03-02T11:15:30.123+01:00</dataOraRichiesta>
		<tipoOperazione>C</tipoOperazione>
		<tipoInvio>TEST</tipoInvio>
	</testataRichiesta>
	<criteriRicerca>
		<cognome>ROSSI</cognome>
		<nome>MARIO</nome>
	</criteriRicerca>
	<datiRichiesta>
		<schedaAnagraficaRichiesta>1</schedaAnagraficaRichiesta>
		<dataRiferimentoRichiesta>2026-03-02+01:00</dataRiferimentoRichiesta>
		<datiAnagraficiRichiesti>2</datiAnagraficiRichiesti>
	</datiRichiesta>
</ns2:Richiesta3002></soapenv:Body></soapenv:Envelope>"#
    )
}

pub fn signer_with(policy: &SignaturePolicy) -> RequestSigner {
    RequestSigner::new(
        policy,
        comune().signing_key(),
        workstation().signing_key(),
        identity(),
    )
    .expect("signer configuration")
}

pub fn signer() -> RequestSigner {
    signer_with(&SignaturePolicy::anpr_ws_security())
}

pub fn verifier_with(policy: SignaturePolicy) -> RequestVerifier {
    RequestVerifier::new(policy, comune().trusted(), comune().trusted())
        .with_workstations(vec![workstation().certificate.clone()])
}

pub fn verifier() -> RequestVerifier {
    verifier_with(SignaturePolicy::anpr_ws_security())
}

/// The envelope signed at [`now`].
pub fn signed() -> String {
    signer().sign(envelope().as_bytes(), now()).expect("signs")
}
