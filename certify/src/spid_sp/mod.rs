//! `snodo certify spid-sp`: judges a SPID or CIE ID Service Provider by playing its identity provider.
//!
//! 1. **Metadata** ([`metadata`]): the SP's metadata, fetched from `--metadata`, against the registry's
//!    rules, its signature by the IdP simulator's own registration rule.
//! 2. **AuthnRequest** ([`request_rules`]): a login is started at `--login`; the AuthnRequest is
//!    caught on its way to the IdP (the redirect's query or the auto-post form) and judged rule by
//!    rule, one case each — signature with the metadata's certificate, ID, Version, IssueInstant,
//!    Destination, Issuer, ForceAuthn, the ACS, the attribute set, NameIDPolicy,
//!    RequestedAuthnContext, the parts SPID forbids, RelayState, the SAML protocol schema (CIE ID's
//!    variant with its profile). Every later login's request must also pass the IdP simulator's
//!    [`request::judge`](snodo_simulators::identity::request::judge), as a real IdP would ask, before
//!    a Response is played against it.
//! 3. **Responses** ([`responses`]): for each case a fresh login, then the case's Response posted to
//!    the ACS the request named, judged by the HTTP status as spid-sp-test does (2xx/3xx accepted,
//!    4xx/5xx refused): the simulator's catalogue (spid-sp-test's numbered cases, the XML signature
//!    wrapping cases with namespaces kept, XSLT), then signed foreign elements, comment injection,
//!    algorithm downgrade and replay.
//!
//! The SP must trust the suite's IdP ([`idp`]): `--idp-metadata-out FILE` writes its signed metadata,
//! to be given to the SP as it is given any IdP's (for Snodo: `SNODO_IDENTITY_TRUSTED_IDP_METADATA`).
//! The login URL must choose that IdP (for Snodo: `idp=<entity ID>`, printed with the metadata).

pub mod idp;
pub mod metadata;
pub mod request_rules;
pub mod responses;
pub mod target;

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::Utc;
use snodo_security::saml::Comparison;
use snodo_simulators::identity::catalogue::{CASES, Case, Expected, find};
use snodo_simulators::identity::request::{Context, judge};
use snodo_simulators::identity::xsd::{ProtocolSchema, default_specs_dir};
use snodo_simulators::identity::{AcceptedRequest, Binding, Profile, ServiceProvider};

use self::idp::SuiteIdp;
use self::request_rules::ReadRequest;
use self::responses::{ATTACKS, Attack, AttackCase, attack, login};
use self::target::{AcsAnswer, CaughtRequest, Target};
use crate::case::CaseInfo;
use crate::outcome::Outcome;
use crate::runner::{Suite, SuiteError};

const AUTHN_REQUEST_FRESH: &str = "authn-request-fresh";

/// Where the SP is and how the suite's IdP presents itself.
#[derive(Debug, Clone)]
pub struct SpidSpOptions {
    pub metadata_url: String,
    pub login_url: String,
    pub profile: Profile,
    /// Extra CAs (PEM) to trust for the SP's HTTPS, beside the system's.
    pub ca_files: Vec<PathBuf>,
    pub idp_base_url: String,
    /// The IdP's key and certificate (PEM); else the pair kept in `idp_key_dir`.
    pub idp_key: Option<(PathBuf, PathBuf)>,
    pub idp_key_dir: PathBuf,
}

/// The profile's name on the command line (as spid-sp-test names it).
pub fn profile_name(profile: Profile) -> &'static str {
    match profile {
        Profile::Spid => "spid-sp-public",
        Profile::Cie => "cie-sp-public",
    }
}

/// The suite's IdP for `profile`, with the key `options` name (made and kept when missing).
pub fn suite_idp(
    profile: Profile,
    base_url: &str,
    key: Option<(PathBuf, PathBuf)>,
    key_dir: &std::path::Path,
) -> Result<SuiteIdp, SuiteError> {
    let files = key.as_ref().map(|(k, c)| (k.as_path(), c.as_path()));
    SuiteIdp::new(profile, base_url, idp::signing_key(files, key_dir)?)
}

pub struct SpidSp {
    options: SpidSpOptions,
    idp: SuiteIdp,
    target: Target,
    schema: ProtocolSchema,
    metadata: Vec<u8>,
    /// The SP as the IdP registers it, or why its metadata was refused.
    sp: Result<ServiceProvider, String>,
    /// The login whose AuthnRequest the rule cases judge, started by the first of them (`Err`: the
    /// login did not produce a request).
    rules_request: Option<Result<ReadRequest, String>>,
}

impl SpidSp {
    pub fn new(options: SpidSpOptions) -> Result<SpidSp, SuiteError> {
        let idp = suite_idp(
            options.profile,
            &options.idp_base_url,
            options.idp_key.clone(),
            &options.idp_key_dir,
        )?;
        let target = Target::new(&options.metadata_url, &options.login_url, &options.ca_files)?;
        Ok(SpidSp {
            idp,
            target,
            schema: ProtocolSchema::new(&default_specs_dir()),
            metadata: Vec::new(),
            sp: Err("the SP metadata was not fetched".into()),
            rules_request: None,
            options,
        })
    }

    /// Starts a login and judges its AuthnRequest; `Err` carries why no Response can be played.
    async fn login(&self) -> Result<AcceptedRequest, String> {
        let caught = self.target.start_login().await?;
        self.judge_request(&caught).map_err(|problems| {
            format!("the SP's AuthnRequest is refused by the IdP (see the authn-request-* cases): {problems}")
        })
    }

    fn judge_request(&self, caught: &CaughtRequest) -> Result<AcceptedRequest, String> {
        let sp = self
            .sp
            .as_ref()
            .map_err(|e| format!("the SP metadata was refused, so its requests cannot be verified: {e}"))?;
        let find = |entity: &str| (entity == sp.entity_id).then(|| sp.clone());
        let entity_id = self.idp.entity_id();
        let sso_url = self.idp.sso_url();
        let context = Context {
            profile: self.options.profile,
            binding: caught.binding(),
            idp_entity_id: &entity_id,
            sso_url: &sso_url,
            now: Utc::now(),
            find_sp: &find,
            schema: &self.schema,
        };
        let judged = match caught {
            CaughtRequest::Redirect { query } => judge(&context, Some(query), None),
            CaughtRequest::Post {
                saml_request,
                relay_state,
            } => judge(&context, None, Some((saml_request, relay_state.as_deref()))),
        };
        judged.map_err(|problems| {
            problems
                .iter()
                .map(|p| format!("{}: {}", p.rule, p.detail))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// A rule case over the AuthnRequest of one login, the same for every rule case of the run.
    async fn rule_case(&mut self, id: &str) -> Outcome {
        if self.rules_request.is_none() {
            let sp = self.sp.as_ref().map_err(String::as_str);
            let read = self
                .target
                .start_login()
                .await
                .map(|caught| ReadRequest::read(&caught, sp));
            self.rules_request = Some(read);
        }
        let read = match self.rules_request.as_ref().expect("read above") {
            Ok(read) => read,
            Err(e) => return Outcome::error(e.clone()),
        };
        let entity_id = self.idp.entity_id();
        let sso_url = self.idp.sso_url();
        let judging = request_rules::Judging {
            profile: self.options.profile,
            idp_entity_id: &entity_id,
            sso_url: &sso_url,
            now: Utc::now(),
            sp: self.sp.as_ref().map_err(String::as_str),
            schema: &self.schema,
        };
        match read.judge(id, &judging) {
            Outcome::Pass { observed } => {
                Outcome::pass(format!("{}: {observed}", binding_name(read.binding())))
            }
            other => other,
        }
    }

    /// Judged on the IDs alone, so that a request breaking another rule does not hide a reused ID.
    async fn authn_request_fresh(&self) -> Outcome {
        let sp = self.sp.as_ref().map_err(String::as_str);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let read = match self.target.start_login().await {
                Ok(caught) => ReadRequest::read(&caught, sp),
                Err(e) => return Outcome::error(e),
            };
            match read.id() {
                Some(id) => ids.push(id),
                None => {
                    return Outcome::error(format!(
                        "a login's AuthnRequest carries no readable ID (see {})",
                        request_rules::ID
                    ));
                }
            }
        }
        let (first, second) = (&ids[0], &ids[1]);
        if first == second {
            return Outcome::fail(format!(
                "two logins sent the same AuthnRequest ID {first}: IDs must be unique so that InResponseTo binds a Response to one login"
            ));
        }
        Outcome::pass(format!("IDs {first} and {second}"))
    }

    async fn catalogue_case(&self, case: &Case) -> Outcome {
        let request = match self.login().await {
            Ok(r) => r,
            Err(e) => return Outcome::error(e),
        };
        let login = login(&self.idp, &request);
        let response = match case.build(&request, &login, &self.idp.keys()) {
            Ok(xml) => xml,
            Err(e) => return Outcome::error(format!("building the Response: {e}")),
        };
        let expected = case.expected(
            self.options.profile,
            request.level,
            request.comparison,
            login.level,
        );
        self.post_and_judge(&request, &response, expected).await
    }

    async fn attack_case(&self, case: &AttackCase) -> Outcome {
        let request = match self.login().await {
            Ok(r) => r,
            Err(e) => return Outcome::error(e),
        };
        let login = login(&self.idp, &request);
        let other = if case.attack == Attack::ForeignAssertionOtherLogin {
            match self.login().await {
                Ok(other_request) => {
                    let other_login = responses::login(&self.idp, &other_request);
                    Some((other_request, other_login))
                }
                Err(e) => return Outcome::error(e),
            }
        } else {
            None
        };
        let response = match responses::build(
            case.attack,
            &self.idp,
            &request,
            &login,
            other.as_ref().map(|(r, l)| (r, l)),
        ) {
            Ok(xml) => xml,
            Err(e) => return Outcome::error(format!("building the Response: {e}")),
        };
        if case.attack == Attack::Replay {
            let first = match self.post(&request, &response).await {
                Ok(answer) => answer,
                Err(e) => return Outcome::error(e),
            };
            if !first.accepted() {
                return Outcome::error(format!(
                    "the valid Response was refused the first time ({}), so its replay cannot be judged (see case 1)",
                    first.describe()
                ));
            }
        }
        self.post_and_judge(&request, &response, case.expected).await
    }

    async fn post(&self, request: &AcceptedRequest, response: &str) -> Result<AcsAnswer, String> {
        self.target
            .post_response(&request.acs_url, response, request.relay_state.as_deref())
            .await
    }

    async fn post_and_judge(&self, request: &AcceptedRequest, response: &str, expected: Expected) -> Outcome {
        let answer = match self.post(request, response).await {
            Ok(a) => a,
            Err(e) => return Outcome::error(e),
        };
        let seen = answer.describe();
        match (expected, answer.accepted()) {
            (Expected::Accept, true) => Outcome::pass(format!("accepted: {seen}")),
            (Expected::Reject, false) => Outcome::pass(format!("refused: {seen}")),
            (Expected::Either, _) => Outcome::pass(format!("either outcome is allowed; {seen}")),
            (Expected::Accept, false) => {
                Outcome::fail(format!("the ACS refused a Response it must accept: {seen}"))
            }
            (Expected::Reject, true) => {
                Outcome::fail(format!("the ACS accepted a Response it must refuse: {seen}"))
            }
        }
    }
}

fn binding_name(binding: Binding) -> &'static str {
    match binding {
        Binding::Redirect => "HTTP-Redirect",
        Binding::Post => "HTTP-POST",
    }
}

/// The rule and source of a simulator catalogue case.
fn catalogue_info(case: &Case) -> CaseInfo {
    let rule = match case.id {
        "94" | "95" | "96" => {
            "accepted only when the returned level satisfies the requested level and Comparison, refused otherwise".to_owned()
        }
        _ => match case.expected(Profile::Spid, snodo_security::saml::SpidLevel::L2, Comparison::Minimum, snodo_security::saml::SpidLevel::L2) {
            Expected::Accept => "the ACS accepts it (HTTP 2xx or 3xx)".to_owned(),
            Expected::Reject => "the ACS refuses it (HTTP 4xx or 5xx)".to_owned(),
            Expected::Either => "either outcome is allowed".to_owned(),
        },
    };
    let source = if case.id.starts_with("xsw") {
        "spid-sp-test XSW cases, here with namespaces kept (spid-and-cie-id.md §2.2, §5)".to_owned()
    } else if case.id == "xslt" {
        "spid-sp-test case xslt (spid-and-cie-id.md §2.2, §5 transform injection)".to_owned()
    } else {
        format!("spid-sp-test case {} (spid-and-cie-id.md §2.2)", case.id)
    };
    CaseInfo::new(format!("response-{}", case.id), case.description, rule, source)
}

#[async_trait(?Send)]
impl Suite for SpidSp {
    const NAME: &'static str = "spid-sp";

    fn catalogue() -> Vec<CaseInfo> {
        let mut cases: Vec<CaseInfo> = metadata::CASES
            .iter()
            .map(|(id, description, rule, source)| CaseInfo::new(*id, *description, *rule, *source))
            .collect();
        cases.extend(request_rules::cases());
        cases.push(CaseInfo::new(
            AUTHN_REQUEST_FRESH,
            "Two logins send AuthnRequests with different IDs",
            "every AuthnRequest has its own ID (InResponseTo binds a Response to one login)",
            "SAML core 1.3.4 (ID uniqueness); SPID technical rules, single-sign-on",
        ));
        cases.extend(CASES.iter().map(catalogue_info));
        cases.extend(ATTACKS.iter().map(|a| {
            let rule = match a.expected {
                Expected::Accept => "the ACS accepts it (HTTP 2xx or 3xx)",
                _ => "the ACS refuses it (HTTP 4xx or 5xx)",
            };
            CaseInfo::new(a.id, a.description, rule, a.source)
        }));
        cases
    }

    fn target(&self) -> String {
        format!(
            "SP metadata {}, login {}, profile {}, IdP {}",
            self.options.metadata_url,
            self.options.login_url,
            profile_name(self.options.profile),
            self.idp.entity_id()
        )
    }

    async fn prepare(&mut self) -> Result<(), SuiteError> {
        self.metadata = self.target.metadata().await?;
        self.sp = ServiceProvider::from_metadata(&self.metadata).map_err(|e| e.to_string());
        Ok(())
    }

    async fn run_case(&mut self, case: &CaseInfo) -> Outcome {
        let id = case.id.as_str();
        if id.starts_with("metadata-") {
            return metadata::judge(id, &self.metadata, self.options.profile);
        }
        if id == AUTHN_REQUEST_FRESH {
            return self.authn_request_fresh().await;
        }
        if id.starts_with("authn-request-") {
            return self.rule_case(id).await;
        }
        if let Some(case) = id.strip_prefix("response-").and_then(find) {
            return self.catalogue_case(case).await;
        }
        match attack(id) {
            Some(attack) => self.attack_case(attack).await,
            None => Outcome::error(format!("no spid-sp case is named {id}")),
        }
    }
}
