//! What one use of XML signatures accepts: algorithms, transforms, ID attributes, key sizes.
//!
//! A policy is an allowlist, empty unless filled: a message naming anything outside it is refused with
//! [`SignatureError::AlgorithmNotAllowed`](super::SignatureError::AlgorithmNotAllowed), whether or not
//! this crate could compute it. The presets are the uses Snodo has today; a connector with other
//! needs builds its own with [`SignaturePolicy::new`] and the `allow_*` methods.

use super::algorithms::{DigestMethod, SignatureMethod, Transform};
use super::sign::SigningOptions;
use crate::c14n::Algorithm;

/// The namespace of `wsu:Id` (OASIS WSS 1.0 utility schema).
pub const WSU_NAMESPACE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// An attribute that gives an element an ID a Reference may point at. XML-DSig leaves it to the
/// application (there is no DTD here to declare IDs); SAML uses `ID`, WS-Security `wsu:Id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdAttribute {
    namespace: Option<&'static str>,
    local_name: &'static str,
}

impl IdAttribute {
    /// SAML 2.0 `ID` (Response, Assertion), in no namespace.
    pub const SAML_ID: IdAttribute = IdAttribute::new(None, "ID");
    /// `Id`, in no namespace (XML-DSig's own elements, many SOAP stacks).
    pub const ID: IdAttribute = IdAttribute::new(None, "Id");
    /// WS-Security `wsu:Id` (Body, Timestamp, BinarySecurityToken).
    pub const WSU_ID: IdAttribute = IdAttribute::new(Some(WSU_NAMESPACE), "Id");

    pub const fn new(namespace: Option<&'static str>, local_name: &'static str) -> IdAttribute {
        IdAttribute {
            namespace,
            local_name,
        }
    }

    pub fn namespace(&self) -> Option<&'static str> {
        self.namespace
    }

    pub fn local_name(&self) -> &'static str {
        self.local_name
    }

    pub(crate) fn describe(&self) -> String {
        match self.namespace {
            Some(ns) => format!("{{{ns}}}{}", self.local_name),
            None => self.local_name.to_owned(),
        }
    }
}

/// The allowlists and limits of one use. Build one per use and share it (`Clone`, no interior state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePolicy {
    name: &'static str,
    signature_methods: Vec<SignatureMethod>,
    digest_methods: Vec<DigestMethod>,
    canonicalization_methods: Vec<Algorithm>,
    transforms: Vec<Transform>,
    id_attributes: Vec<IdAttribute>,
    max_references: usize,
    min_rsa_bits: u32,
}

impl SignaturePolicy {
    /// An empty policy named `name` (the name appears in error messages): it accepts nothing until
    /// algorithms are allowed. One Reference at most, RSA keys of 2048 bits or more.
    pub fn new(name: &'static str) -> SignaturePolicy {
        SignaturePolicy {
            name,
            signature_methods: Vec::new(),
            digest_methods: Vec::new(),
            canonicalization_methods: Vec::new(),
            transforms: Vec::new(),
            id_attributes: Vec::new(),
            max_references: 1,
            min_rsa_bits: 2048,
        }
    }

    /// SPID and CIE ID SAML Responses and Assertions (Regole Tecniche, spid-and-cie-id.md §1.3 and §5):
    /// RSA-SHA256/384/512 or ECDSA-SHA256, SHA-256/384/512 digests, exclusive c14n, transforms
    /// enveloped-signature + exclusive c14n only, references by SAML `ID`, RSA keys ≥ 2048 bits.
    /// Never SHA-1, HMAC, comments, XPath or XSLT.
    pub fn spid() -> SignaturePolicy {
        SignaturePolicy::new("SPID")
            .allow_signature_method(SignatureMethod::RsaSha256)
            .allow_signature_method(SignatureMethod::RsaSha384)
            .allow_signature_method(SignatureMethod::RsaSha512)
            .allow_signature_method(SignatureMethod::EcdsaSha256)
            .allow_digest_method(DigestMethod::Sha256)
            .allow_digest_method(DigestMethod::Sha384)
            .allow_digest_method(DigestMethod::Sha512)
            .allow_canonicalization(Algorithm::Exclusive)
            .allow_transform(Transform::EnvelopedSignature)
            .allow_transform(Transform::Canonicalization(Algorithm::Exclusive))
            .with_id_attribute(IdAttribute::SAML_ID)
    }

    /// ANPR's SOAP services, following the WS-SecurityPolicy ANPR publishes
    /// (`specs/anpr/soap-client-example/wsdl/policy-X509v3.xml`): AsymmetricBinding with the
    /// Basic128Rsa15 algorithm suite, whose asymmetric signature is RSA-SHA1 and digest SHA-1, with
    /// exclusive c14n (the suite's default). Transforms: exclusive c14n for the Body and Timestamp
    /// references, enveloped-signature for the SAML assertion the comune signs into the header.
    /// References by `wsu:Id` and SAML `ID`; up to 4 References (SignedParts Body + Timestamp, plus
    /// tokens some stacks sign).
    ///
    /// Basic128Rsa15 would allow 1024-bit RSA keys; the minimum stays 2048, since no CA has issued
    /// shorter keys for a decade and a shorter configured key is more likely a mistake.
    pub fn anpr_ws_security() -> SignaturePolicy {
        let mut policy = SignaturePolicy::new("ANPR WS-Security")
            .allow_signature_method(SignatureMethod::RsaSha1)
            .allow_digest_method(DigestMethod::Sha1)
            .allow_canonicalization(Algorithm::Exclusive)
            .allow_transform(Transform::Canonicalization(Algorithm::Exclusive))
            .allow_transform(Transform::EnvelopedSignature)
            .with_id_attribute(IdAttribute::WSU_ID)
            .with_id_attribute(IdAttribute::SAML_ID);
        policy.max_references = 4;
        policy
    }

    pub fn allow_signature_method(mut self, method: SignatureMethod) -> Self {
        if !self.signature_methods.contains(&method) {
            self.signature_methods.push(method);
        }
        self
    }

    pub fn allow_digest_method(mut self, method: DigestMethod) -> Self {
        if !self.digest_methods.contains(&method) {
            self.digest_methods.push(method);
        }
        self
    }

    /// Allows `algorithm` as the `CanonicalizationMethod` of `SignedInfo`.
    pub fn allow_canonicalization(mut self, algorithm: Algorithm) -> Self {
        if !self.canonicalization_methods.contains(&algorithm) {
            self.canonicalization_methods.push(algorithm);
        }
        self
    }

    /// Allows `transform` in a Reference's `Transforms`. A Reference without a canonicalization
    /// transform is canonicalized with inclusive Canonical XML 1.0 (XML-DSig §4.3.3.2), which therefore
    /// must be allowed as a transform for such References to verify.
    pub fn allow_transform(mut self, transform: Transform) -> Self {
        if !self.transforms.contains(&transform) {
            self.transforms.push(transform);
        }
        self
    }

    /// Adds an attribute that carries element IDs. All of them are indexed together: an ID value is
    /// unique across all of them.
    pub fn with_id_attribute(mut self, attribute: IdAttribute) -> Self {
        if !self.id_attributes.contains(&attribute) {
            self.id_attributes.push(attribute);
        }
        self
    }

    /// Most References a detached signature may carry (the enveloped layout always takes one).
    pub fn with_max_references(mut self, max: usize) -> Self {
        self.max_references = max.max(1);
        self
    }

    pub fn with_min_rsa_bits(mut self, bits: u32) -> Self {
        self.min_rsa_bits = bits;
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
    pub fn signature_methods(&self) -> &[SignatureMethod] {
        &self.signature_methods
    }
    pub fn digest_methods(&self) -> &[DigestMethod] {
        &self.digest_methods
    }
    pub fn canonicalization_methods(&self) -> &[Algorithm] {
        &self.canonicalization_methods
    }
    pub fn transforms(&self) -> &[Transform] {
        &self.transforms
    }
    pub fn id_attributes(&self) -> &[IdAttribute] {
        &self.id_attributes
    }
    pub fn max_references(&self) -> usize {
        self.max_references
    }
    pub fn min_rsa_bits(&self) -> u32 {
        self.min_rsa_bits
    }

    /// What Snodo signs with under this policy: the first signature method, digest method and
    /// canonicalization allowed, and the policy's ID attributes. `None` when the policy allows no
    /// signature method, digest or canonicalization.
    pub fn signing_options(&self) -> Option<SigningOptions> {
        Some(SigningOptions::new(
            *self.signature_methods.first()?,
            *self.digest_methods.first()?,
            *self.canonicalization_methods.first()?,
            self.id_attributes.clone(),
        ))
    }
}
