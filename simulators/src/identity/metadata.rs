//! The IdP's own metadata, signed: what an SP (Snodo's connector, an integrator's, spid-sp-test's
//! counterpart) loads to trust this IdP. One document per federation, as the real registries publish
//! them: SPID's lists the SPID attributes the IdP can release; CIE ID's is shorter (its IdP is a
//! Shibboleth deployment and lists no attributes, spid-and-cie-id.md §4.1).

use snodo_security::dsig::{SignaturePlacement, SignaturePolicy, SigningKey, sign_enveloped};
use snodo_security::saml::{ASSERTION_NAMESPACE, TRANSIENT_FORMAT, new_message_id};
use snodo_security::xml::{Limits, parse_str};

use super::Profile;
use super::request::Binding;
use super::response::BuildError;
use super::sp::METADATA_NAMESPACE;
use super::tree::El;

const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";
const BASIC_NAME_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";

/// Where this IdP answers, for one federation.
pub struct Endpoints<'a> {
    pub entity_id: &'a str,
    pub sso: &'a str,
    pub slo: &'a str,
}

/// The signed metadata document.
pub fn render(profile: Profile, endpoints: &Endpoints<'_>, key: &SigningKey) -> Result<String, BuildError> {
    let certificate = key
        .certificate()
        .and_then(|c| c.to_der().ok())
        .map(|der| openssl::base64::encode_block(&der))
        .unwrap_or_default();
    let mut descriptor = El::new("md:IDPSSODescriptor")
        .attr(
            "protocolSupportEnumeration",
            "urn:oasis:names:tc:SAML:2.0:protocol",
        )
        .attr("WantAuthnRequestsSigned", "true")
        .child(
            El::new("md:KeyDescriptor").attr("use", "signing").child(
                El::new("ds:KeyInfo")
                    .attr("xmlns:ds", DSIG_NAMESPACE)
                    .child(El::new("ds:X509Data").child(El::new("ds:X509Certificate").text(certificate))),
            ),
        );
    for binding in [Binding::Redirect, Binding::Post] {
        descriptor = descriptor.child(
            El::new("md:SingleLogoutService")
                .attr("Binding", binding.uri())
                .attr("Location", endpoints.slo),
        );
    }
    descriptor = descriptor.child(El::new("md:NameIDFormat").text(TRANSIENT_FORMAT));
    for binding in [Binding::Redirect, Binding::Post] {
        descriptor = descriptor.child(
            El::new("md:SingleSignOnService")
                .attr("Binding", binding.uri())
                .attr("Location", endpoints.sso),
        );
    }
    if profile == Profile::Spid {
        for name in snodo_security::saml::SpidAttribute::ALL {
            descriptor = descriptor.child(
                El::new("saml:Attribute")
                    .attr("xmlns:saml", ASSERTION_NAMESPACE)
                    .attr("Name", name.name())
                    .attr("NameFormat", BASIC_NAME_FORMAT),
            );
        }
    }
    let organization = El::new("md:Organization")
        .child(
            El::new("md:OrganizationName")
                .attr("xml:lang", "it")
                .text("Snodo — IdP simulato (sviluppo)"),
        )
        .child(
            El::new("md:OrganizationDisplayName")
                .attr("xml:lang", "it")
                .text(format!("{} simulato", profile.label())),
        )
        .child(
            El::new("md:OrganizationURL")
                .attr("xml:lang", "it")
                .text(endpoints.entity_id),
        );
    let entity = El::new("md:EntityDescriptor")
        .attr("xmlns:md", METADATA_NAMESPACE)
        .attr("ID", new_message_id())
        .attr("entityID", endpoints.entity_id)
        .child(descriptor)
        .child(organization);
    let text = entity.render();
    let doc = parse_str(&text, &Limits::default())?;
    let options = SignaturePolicy::spid()
        .signing_options()
        .expect("the SPID policy allows signing");
    Ok(sign_enveloped(
        &doc,
        doc.document_element(),
        SignaturePlacement::FirstChild,
        &options,
        key,
    )?)
}
