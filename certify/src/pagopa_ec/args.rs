//! What `snodo certify pagopa-ec` is told about the EC station it plays the node against: where it
//! is, the ids the node addresses it with, the notices it may pay, how the node's TLS client is set
//! up, where `paForNode.xsd` is and the node's timeouts (pagopa.md §5; shorter ones only for tests
//! and impatient integrators — the node itself waits 7 s and 15 s).

use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;
use snodo_mappings::pagopa::NoticeNumber;
use snodo_simulators::pagopa::settings::{
    DEMO_FISCAL_CODE, DEMO_STATION, EcTarget, EcTls, Timeouts, default_pki_dir, default_specs_dir,
};

use crate::runner::SuiteError;

#[derive(Debug, Clone, clap::Args)]
pub struct PagopaEcArgs {
    /// The EC station's SOAP endpoint, as registered with the node
    /// (Snodo: `https://<inbound>/pagopa/<station id>`).
    #[arg(long, required_unless_present = "list")]
    pub url: Option<String>,
    /// A payable notice number (18 digits) of the EC; repeat it. The run pays them: the first by
    /// paGetPaymentV2 and paSendRTV2, the second by paGetPayment and paSendRT, the third with a
    /// Stand-In receipt. Give three.
    #[arg(long = "notice", value_name = "NAV", required_unless_present = "list")]
    pub notices: Vec<String>,
    /// A notice number the EC does not know (default: one derived from the first notice).
    #[arg(long, value_name = "NAV")]
    pub unknown_notice: Option<String>,
    /// `idServizio` of a catalogue service the EC creates notices for on demand (paDemandPaymentNotice,
    /// "modello 4"); the demand cases need it, with `--demand-subject` and `--demand-data`.
    #[arg(long, value_name = "ID", requires_all = ["demand_subject", "demand_data"])]
    pub demand_service: Option<String>,
    /// `idSoggettoServizio`: a subject of that service the EC knows (it creates a notice for it).
    #[arg(long, value_name = "ID", requires = "demand_service")]
    pub demand_subject: Option<String>,
    /// The service's data for that subject: an XML document per the service's catalogue XSD, sent
    /// base64 as `datiSpecificiServizioRequest`.
    #[arg(long, value_name = "FILE", requires = "demand_service")]
    pub demand_data: Option<PathBuf>,
    /// An `idSoggettoServizio` the EC does not know for that service (default: `99999`, or `99998`).
    #[arg(long, value_name = "ID", requires = "demand_service")]
    pub unknown_subject: Option<String>,
    /// `idPA`: the EC's fiscal code (default: the demo tenant's).
    #[arg(long, default_value = DEMO_FISCAL_CODE)]
    pub id_pa: String,
    /// `idBrokerPA`: the intermediary's fiscal code (default: the EC's own).
    #[arg(long)]
    pub id_broker_pa: Option<String>,
    /// `idStation` (default: the demo tenant's station).
    #[arg(long, default_value = DEMO_STATION)]
    pub id_station: String,
    /// CA certificate (PEM) the EC's server certificate chains to; repeat it. Without it, the
    /// development PKI (`--pki-dir`) is trusted and its client certificate presented.
    #[arg(long = "ca", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Client certificate (PEM) the node presents, with `--ca`.
    #[arg(long, value_name = "FILE", requires = "ca_files")]
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM), when not in the certificate file.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The development PKI directory (default: `snodo up`'s, `SNODO_DEV_PKI_DIR` or
    /// `~/.cache/snodo/devpki`).
    #[arg(long, value_name = "DIR")]
    pub pki_dir: Option<PathBuf>,
    /// The pagoPA specs directory holding `wsdl/xsd/paForNode.xsd` (default: `SNODO_PAGOPA_SPECS`
    /// or the specs beside the source tree).
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
    /// The node's timeout for paVerifyPaymentNotice.
    #[arg(long, value_name = "DURATION", default_value = "7s", value_parser = humantime::parse_duration)]
    pub verify_timeout: Duration,
    /// The node's timeout for paGetPayment and paGetPaymentV2.
    #[arg(long, value_name = "DURATION", default_value = "7s", value_parser = humantime::parse_duration)]
    pub get_payment_timeout: Duration,
    /// The node's timeout for paSendRT and paSendRTV2.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub send_rt_timeout: Duration,
}

/// The checked settings a run works with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: EcTarget,
    pub notices: Vec<NoticeNumber>,
    pub unknown_notice: NoticeNumber,
    pub dev_pki_dir: PathBuf,
    pub specs_dir: PathBuf,
    pub timeouts: Timeouts,
    /// The catalogue service the demand cases ask about, when one was given.
    pub demand: Option<DemandSettings>,
}

/// What the demand cases send: a service, a subject the EC knows and one it does not, the data.
#[derive(Debug, Clone)]
pub struct DemandSettings {
    pub service_id: String,
    pub subject_id: String,
    pub unknown_subject_id: String,
    pub service_data_xml: String,
}

impl PagopaEcArgs {
    pub fn settings(&self) -> Result<Settings, SuiteError> {
        let url = self
            .url
            .clone()
            .ok_or_else(|| SuiteError::new("give the EC station's URL with --url"))?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(SuiteError::new(format!(
                "--url {url}: an http:// or https:// URL"
            )));
        }
        if self.notices.is_empty() {
            return Err(SuiteError::new("give at least one payable notice with --notice"));
        }
        let notices = self
            .notices
            .iter()
            .map(|n| parse_notice("--notice", n))
            .collect::<Result<Vec<_>, _>>()?;
        let unknown_notice = match &self.unknown_notice {
            Some(n) => parse_notice("--unknown-notice", n)?,
            None => derive_unknown(&notices)?,
        };
        if notices.contains(&unknown_notice) {
            return Err(SuiteError::new(
                "--unknown-notice is one of the payable notices given with --notice",
            ));
        }
        let tls = if self.ca_files.is_empty() {
            EcTls::DevelopmentPki
        } else {
            EcTls::Files {
                ca_files: self.ca_files.clone(),
                client_certificate_file: self.client_cert.clone(),
                client_key_file: self.client_key.clone(),
            }
        };
        let demand = self.demand_settings()?;
        let delta = |d: Duration| {
            TimeDelta::from_std(d).map_err(|_| SuiteError::new(format!("timeout {d:?} is too long")))
        };
        Ok(Settings {
            target: EcTarget {
                url,
                id_pa: self.id_pa.clone(),
                id_broker_pa: self.id_broker_pa.clone().unwrap_or_else(|| self.id_pa.clone()),
                id_station: self.id_station.clone(),
                tls,
            },
            notices,
            unknown_notice,
            dev_pki_dir: self.pki_dir.clone().unwrap_or_else(default_pki_dir),
            specs_dir: self.specs.clone().unwrap_or_else(default_specs_dir),
            timeouts: Timeouts {
                verify: delta(self.verify_timeout)?,
                get_payment: delta(self.get_payment_timeout)?,
                send_rt: delta(self.send_rt_timeout)?,
            },
            demand,
        })
    }

    fn demand_settings(&self) -> Result<Option<DemandSettings>, SuiteError> {
        let Some(service_id) = self.demand_service.clone() else {
            return Ok(None);
        };
        let (Some(subject_id), Some(data_file)) = (self.demand_subject.clone(), self.demand_data.as_ref())
        else {
            return Err(SuiteError::new(
                "--demand-service needs --demand-subject and --demand-data",
            ));
        };
        let unknown_subject_id = self
            .unknown_subject
            .clone()
            .unwrap_or_else(|| if subject_id == "99999" { "99998" } else { "99999" }.to_owned());
        // paForNode.xsd: both ids are exactly five characters; a wrong one would be the run's fault.
        for (option, value) in [
            ("--demand-service", &service_id),
            ("--demand-subject", &subject_id),
            ("--unknown-subject", &unknown_subject_id),
        ] {
            if value.chars().count() != 5 {
                return Err(SuiteError::new(format!(
                    "{option} {value}: exactly 5 characters (paForNode.xsd)"
                )));
            }
        }
        if unknown_subject_id == subject_id {
            return Err(SuiteError::new(
                "--unknown-subject is the same as --demand-subject",
            ));
        }
        let service_data_xml = std::fs::read_to_string(data_file)
            .map_err(|e| SuiteError::new(format!("--demand-data {}: {e}", data_file.display())))?;
        if service_data_xml.trim().is_empty() {
            return Err(SuiteError::new(format!(
                "--demand-data {}: the file is empty",
                data_file.display()
            )));
        }
        // Data that are no XML document would be refused for the run's mistake, not the EC's.
        snodo_security::xml::parse(
            service_data_xml.as_bytes(),
            &snodo_security::xml::Limits::default(),
        )
        .map_err(|e| {
            SuiteError::new(format!(
                "--demand-data {}: not an XML document: {e}",
                data_file.display()
            ))
        })?;
        Ok(Some(DemandSettings {
            service_id,
            subject_id,
            unknown_subject_id,
            service_data_xml,
        }))
    }
}

fn parse_notice(option: &str, text: &str) -> Result<NoticeNumber, SuiteError> {
    NoticeNumber::parse(text).map_err(|e| SuiteError::new(format!("{option} {text}: {e}")))
}

/// A notice of the first one's segregation code with the largest IUV base not among the given
/// notices: an EC numbering its IUVs upwards will not have issued it.
fn derive_unknown(notices: &[NoticeNumber]) -> Result<NoticeNumber, SuiteError> {
    let segregation = notices.first().and_then(|n| n.segregation_code()).unwrap_or(0);
    (0..100u64)
        .map(|i| 9_999_999_999_999 - i)
        .filter_map(|base| NoticeNumber::aux3(segregation, base).ok())
        .find(|candidate| !notices.contains(candidate))
        .ok_or_else(|| SuiteError::new("cannot derive an unknown notice number: give --unknown-notice"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_unknown_notice_is_valid_and_not_among_the_given_ones() {
        let given = NoticeNumber::aux3(1, 9_999_999_999_999).unwrap();
        let unknown = derive_unknown(std::slice::from_ref(&given)).unwrap();
        assert_ne!(unknown, given);
        assert_eq!(unknown.segregation_code(), Some(1));
        assert!(unknown.verify_check_digits().is_ok());
    }
}
