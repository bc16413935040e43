//! The Responses the suite posts to the ACS: every case of the IdP simulator's conformance catalogue
//! (built by the simulator's own code), and the attacks the national tool does not play, each with
//! what a conforming SP does with it:
//!
//! - **signed foreign element** (spid-saml-check 112/113, spid-and-cie-id.md §5): a validly signed
//!   element that is not the Assertion — the IdP's own signed metadata in `samlp:Extensions` — beside
//!   an unsigned or badly signed Assertion; and an Assertion the IdP really signed, but for another
//!   login of the same SP, inside a Response signed for this one;
//! - **comment injection** (CERT VU#475445): comments splitting the text of Audience or Issuer so that
//!   a reader taking the first text node sees the right value while the signed value is another (must
//!   be refused), and splitting NameID or an attribute value without changing it (must be accepted:
//!   the signature is over the text without comments);
//! - **algorithm downgrade**: the Assertion signed with RSA-SHA1, with SHA-1 digests, with RSA-MD5,
//!   with HMAC-SHA1 keyed by the IdP's public certificate, or the Response signed with RSA-SHA1;
//! - **replay**: the valid Response posted a second time.

use chrono::Utc;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::dsig::{
    DigestMethod, IdAttribute, SignatureMethod, SignaturePlacement, SignaturePolicy, SigningKey,
    SigningOptions, sign_enveloped,
};
use snodo_security::saml::{ASSERTION_NAMESPACE, SpidAttribute, new_message_id};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};
use snodo_simulators::identity::catalogue::Expected;
use snodo_simulators::identity::response::{Login, Released, success};
use snodo_simulators::identity::tree::{El, Node};
use snodo_simulators::identity::{AcceptedRequest, Profile};

use super::idp::SuiteIdp;

/// The attacks beyond the simulator's catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    ForeignSignedUnsignedAssertion,
    ForeignSignedBadAssertion,
    ForeignAssertionOtherLogin,
    CommentAudience,
    CommentIssuer,
    CommentNameId,
    CommentAttribute,
    AssertionRsaSha1,
    AssertionDigestSha1,
    AssertionRsaMd5,
    AssertionHmacSha1,
    ResponseRsaSha1,
    Replay,
}

/// One attack's catalogue line.
pub struct AttackCase {
    pub attack: Attack,
    pub id: &'static str,
    pub description: &'static str,
    pub expected: Expected,
    pub source: &'static str,
}

pub const ATTACKS: &[AttackCase] = &[
    AttackCase {
        attack: Attack::ForeignSignedUnsignedAssertion,
        id: "foreign-signed-unsigned-assertion",
        description: "IdP-signed metadata in samlp:Extensions beside an unsigned Assertion, Response unsigned",
        expected: Expected::Reject,
        source: "spid-saml-check case 112; spid-and-cie-id.md §5 (foreign signed element)",
    },
    AttackCase {
        attack: Attack::ForeignSignedBadAssertion,
        id: "foreign-signed-bad-assertion",
        description: "IdP-signed metadata in samlp:Extensions beside an Assertion altered after signing",
        expected: Expected::Reject,
        source: "spid-saml-check case 113; spid-and-cie-id.md §5 (foreign signed element)",
    },
    AttackCase {
        attack: Attack::ForeignAssertionOtherLogin,
        id: "foreign-assertion-other-login",
        description: "Response signed for this login carrying the IdP-signed Assertion of another login",
        expected: Expected::Reject,
        source: "spid-and-cie-id.md §5 (bind the signature to the Assertion used; InResponseTo); SPID technical rules, Response",
    },
    AttackCase {
        attack: Attack::CommentAudience,
        id: "comment-audience",
        description: "Audience is the SP entity ID, a comment, then .attacker.example (signed value differs)",
        expected: Expected::Reject,
        source: "CERT VU#475445; spid-and-cie-id.md §5 (comment / text-node truncation)",
    },
    AttackCase {
        attack: Attack::CommentIssuer,
        id: "comment-issuer",
        description: "Assertion Issuer is the IdP entity ID, a comment, then .attacker.example",
        expected: Expected::Reject,
        source: "CERT VU#475445; spid-and-cie-id.md §5 (comment / text-node truncation)",
    },
    AttackCase {
        attack: Attack::CommentNameId,
        id: "comment-name-id",
        description: "NameID split by a comment, value unchanged (must still be accepted)",
        expected: Expected::Accept,
        source: "CERT VU#475445; XML-DSig exclusive c14n without comments; spid-and-cie-id.md §5",
    },
    AttackCase {
        attack: Attack::CommentAttribute,
        id: "comment-attribute",
        description: "fiscalNumber (or the first attribute) split by a comment, value unchanged (must be accepted)",
        expected: Expected::Accept,
        source: "CERT VU#475445; XML-DSig exclusive c14n without comments; spid-and-cie-id.md §5",
    },
    AttackCase {
        attack: Attack::AssertionRsaSha1,
        id: "alg-assertion-rsa-sha1",
        description: "Assertion signed with RSA-SHA1 (SHA-256 digest), Response with RSA-SHA256",
        expected: Expected::Reject,
        source: "SPID technical rules (RSA-SHA256 or stronger); spid-and-cie-id.md §5 (algorithm downgrade)",
    },
    AttackCase {
        attack: Attack::AssertionDigestSha1,
        id: "alg-assertion-digest-sha1",
        description: "Assertion signed with RSA-SHA256 over SHA-1 digests",
        expected: Expected::Reject,
        source: "SPID technical rules (SHA-256 or stronger digests); spid-and-cie-id.md §5 (algorithm downgrade)",
    },
    AttackCase {
        attack: Attack::AssertionRsaMd5,
        id: "alg-assertion-rsa-md5",
        description: "Assertion signed with RSA-MD5",
        expected: Expected::Reject,
        source: "SPID technical rules; RFC 6931 (MD5 deprecated); spid-and-cie-id.md §5 (algorithm downgrade)",
    },
    AttackCase {
        attack: Attack::AssertionHmacSha1,
        id: "alg-assertion-hmac-sha1",
        description: "Assertion 'signed' with HMAC-SHA1 keyed by the IdP's public certificate",
        expected: Expected::Reject,
        source: "spid-and-cie-id.md §5 (an SP must not accept HMAC with a public key)",
    },
    AttackCase {
        attack: Attack::ResponseRsaSha1,
        id: "alg-response-rsa-sha1",
        description: "Assertion signed correctly, Response signed with RSA-SHA1 and SHA-1 digests",
        expected: Expected::Reject,
        source: "SPID technical rules (every signature RSA-SHA256 or stronger); spid-and-cie-id.md §5",
    },
    AttackCase {
        attack: Attack::Replay,
        id: "replay",
        description: "The valid Response posted a second time",
        expected: Expected::Reject,
        source: "SPID technical rules, single-sign-on (one-time InResponseTo and Assertion ID); spid-and-cie-id.md §5 (replay)",
    },
];

pub fn attack(id: &str) -> Option<&'static AttackCase> {
    ATTACKS.iter().find(|a| a.id == id)
}

const COMMENT_MARK: char = '\u{E000}';
const NAME_ID: &[&str] = &["Assertion", "Subject", "NameID"];
const AUDIENCE: &[&str] = &["Assertion", "Conditions", "AudienceRestriction", "Audience"];
const ASSERTION_ISSUER: &[&str] = &["Assertion", "Issuer"];
const ATTRIBUTES: &[&str] = &["Assertion", "AttributeStatement"];
const RSA_MD5: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5";
const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";

/// What the person "logged in" as: a synthetic citizen with every SPID attribute the request asks
/// for, at the level it asked for.
pub fn login(idp: &SuiteIdp, request: &AcceptedRequest) -> Login {
    let attributes = request
        .attributes
        .iter()
        .filter_map(|name| SpidAttribute::from_name(name))
        .map(synthetic_attribute)
        .collect();
    let level = request.level;
    Login {
        profile: idp.profile,
        idp_entity_id: idp.entity_id(),
        level,
        attributes,
        name_id: new_message_id(),
        session_index: (level == snodo_security::saml::SpidLevel::L1 || idp.profile == Profile::Cie)
            .then(new_message_id),
        now: Utc::now(),
    }
}

fn synthetic_attribute(attribute: SpidAttribute) -> Released {
    let (value, date) = match attribute.name() {
        "spidCode" => ("SNDC0000000001", false),
        "name" => ("Mario", false),
        "familyName" => ("Rossi", false),
        "placeOfBirth" => ("H501", false),
        "countyOfBirth" => ("RM", false),
        "dateOfBirth" => ("1980-01-01", true),
        "gender" => ("M", false),
        "companyName" => ("Esempio S.r.l.", false),
        "registeredOffice" => ("Via Roma 1 00184 Roma RM", false),
        "fiscalNumber" => ("TINIT-RSSMRA80A01H501U", false),
        "ivaCode" => ("VATIT-01234567890", false),
        "idCard" => ("cartaIdentita CA00000AA comuneH501 2020-01-01 2030-01-01", false),
        "companyFiscalNumber" => ("TINIT-01234567890", false),
        "mobilePhone" => ("+393331234567", false),
        "email" => ("mario.rossi@example.invalid", false),
        "address" => ("Via Roma 1 00184 Roma RM", false),
        "domicileStreetAddress" => ("Via Roma 1", false),
        "domicilePostalCode" => ("00184", false),
        "domicileMunicipality" => ("Roma", false),
        "domicileProvince" => ("RM", false),
        "domicileNation" => ("IT", false),
        "expirationDate" => ("2030-01-01", true),
        "digitalAddress" => ("mario.rossi@pec.example.invalid", false),
        _ => ("valore di prova", false),
    };
    Released {
        name: attribute.name(),
        value: value.to_owned(),
        date,
    }
}

/// Which signature of a Response.
#[derive(Clone, Copy)]
enum Signed {
    Assertion,
    Response,
}

fn spid_options() -> SigningOptions {
    SignaturePolicy::spid()
        .signing_options()
        .expect("the SPID policy allows signing")
}

fn options(signature: SignatureMethod, digest: DigestMethod) -> SigningOptions {
    SigningOptions::new(
        signature,
        digest,
        Algorithm::Exclusive,
        vec![IdAttribute::SAML_ID],
    )
}

/// Builds `attack`'s Response to `request`. `other` is a second login of the same SP (only
/// [`Attack::ForeignAssertionOtherLogin`] uses it). [`Attack::Replay`] is the valid Response.
pub fn build(
    attack: Attack,
    idp: &SuiteIdp,
    request: &AcceptedRequest,
    login: &Login,
    other: Option<(&AcceptedRequest, &Login)>,
) -> Result<String, String> {
    let (mut tree, _) = success(request, login);
    let key = idp.key();
    let signed_both = |text: String, assertion: &SigningOptions, response: &SigningOptions| {
        let text = sign(&text, Signed::Assertion, assertion, key)?;
        sign(&text, Signed::Response, response, key)
    };
    match attack {
        Attack::Replay => signed_both(tree.render(), &spid_options(), &spid_options()),
        Attack::ForeignSignedUnsignedAssertion => with_foreign_metadata(idp, tree.render()),
        Attack::ForeignSignedBadAssertion => {
            let signed = sign(&tree.render(), Signed::Assertion, &spid_options(), key)?;
            let altered = signed.replacen(&login.name_id, "_attacker-chosen-name-id", 1);
            with_foreign_metadata(idp, altered)
        }
        Attack::ForeignAssertionOtherLogin => {
            let (other_request, other_login) = other.ok_or("a second login is needed for this case")?;
            let (other_tree, _) = success(other_request, other_login);
            let other_signed = sign(&other_tree.render(), Signed::Assertion, &spid_options(), key)?;
            let foreign = assertion_text(&other_signed)?;
            let own = tree.render();
            let mine = assertion_text(&own)?;
            let spliced = own.replacen(mine, foreign, 1);
            sign(&spliced, Signed::Response, &spid_options(), key)
        }
        Attack::CommentAudience => {
            set_text(
                &mut tree,
                AUDIENCE,
                &format!("{}{COMMENT_MARK}.attacker.example", request.sp_entity_id),
            )?;
            signed_both(with_comments(tree.render()), &spid_options(), &spid_options())
        }
        Attack::CommentIssuer => {
            set_text(
                &mut tree,
                ASSERTION_ISSUER,
                &format!("{}{COMMENT_MARK}.attacker.example", login.idp_entity_id),
            )?;
            signed_both(with_comments(tree.render()), &spid_options(), &spid_options())
        }
        Attack::CommentNameId => {
            set_text(&mut tree, NAME_ID, &split(&login.name_id))?;
            signed_both(with_comments(tree.render()), &spid_options(), &spid_options())
        }
        Attack::CommentAttribute => {
            split_attribute(&mut tree)?;
            signed_both(with_comments(tree.render()), &spid_options(), &spid_options())
        }
        Attack::AssertionRsaSha1 => signed_both(
            tree.render(),
            &options(SignatureMethod::RsaSha1, DigestMethod::Sha256),
            &spid_options(),
        ),
        Attack::AssertionDigestSha1 => signed_both(
            tree.render(),
            &options(SignatureMethod::RsaSha256, DigestMethod::Sha1),
            &spid_options(),
        ),
        Attack::ResponseRsaSha1 => signed_both(
            tree.render(),
            &spid_options(),
            &options(SignatureMethod::RsaSha1, DigestMethod::Sha1),
        ),
        Attack::AssertionRsaMd5 => {
            let signed = sign(&tree.render(), Signed::Assertion, &spid_options(), key)?;
            let private = key.private_key().clone();
            let downgraded = resign_first(&signed, RSA_MD5, |bytes| {
                let mut signer = Signer::new(MessageDigest::md5(), &private)?;
                signer.update(bytes)?;
                signer.sign_to_vec()
            })?;
            sign(&downgraded, Signed::Response, &spid_options(), key)
        }
        Attack::AssertionHmacSha1 => {
            let signed = sign(&tree.render(), Signed::Assertion, &spid_options(), key)?;
            let public = key
                .certificate()
                .and_then(|c| c.to_der().ok())
                .ok_or("the IdP key has no certificate")?;
            let downgraded = resign_first(&signed, HMAC_SHA1, |bytes| {
                let hmac = PKey::hmac(&public)?;
                let mut signer = Signer::new(MessageDigest::sha1(), &hmac)?;
                signer.update(bytes)?;
                signer.sign_to_vec()
            })?;
            sign(&downgraded, Signed::Response, &spid_options(), key)
        }
    }
}

fn set_text(tree: &mut El, path: &[&str], text: &str) -> Result<(), String> {
    let element = tree
        .find_mut(path)
        .ok_or_else(|| format!("the valid Response has no {}", path.join("/")))?;
    element.children = vec![Node::Text(text.to_owned())];
    Ok(())
}

/// `value` with the comment mark in its middle.
fn split(value: &str) -> String {
    let middle = value
        .char_indices()
        .nth(value.chars().count() / 2)
        .map(|(i, _)| i)
        .unwrap_or(0);
    format!("{}{COMMENT_MARK}{}", &value[..middle], &value[middle..])
}

/// Splits the fiscalNumber's value (else the first attribute's) with the comment mark.
fn split_attribute(tree: &mut El) -> Result<(), String> {
    let statement = tree
        .find_mut(ATTRIBUTES)
        .ok_or("the SP requested no attribute, so there is no AttributeValue to split")?;
    let mut attributes: Vec<&mut El> = statement
        .children
        .iter_mut()
        .filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
        .collect();
    let position = attributes
        .iter()
        .position(|a| {
            a.attributes
                .iter()
                .any(|(n, v)| n == "Name" && v == "fiscalNumber")
        })
        .unwrap_or(0);
    let attribute = attributes
        .get_mut(position)
        .ok_or("the AttributeStatement is empty")?;
    let value = attribute
        .find_mut(&["AttributeValue"])
        .ok_or("the Attribute has no AttributeValue")?;
    let text: String = value
        .children
        .iter()
        .map(|c| match c {
            Node::Text(t) => t.as_str(),
            Node::Element(_) => "",
        })
        .collect();
    value.children = vec![Node::Text(split(&text))];
    Ok(())
}

/// The rendered text with each comment mark made an empty comment.
fn with_comments(text: String) -> String {
    text.replace(COMMENT_MARK, "<!---->")
}

/// The first `saml:Assertion` element of `text`, as text.
fn assertion_text(text: &str) -> Result<&str, String> {
    let start = text
        .find("<saml:Assertion")
        .ok_or("no Assertion in the Response")?;
    let end = text[start..]
        .find("</saml:Assertion>")
        .ok_or("the Assertion is not closed")?
        + start
        + "</saml:Assertion>".len();
    Ok(&text[start..end])
}

/// The unsigned Response text with the IdP's signed metadata in a `samlp:Extensions` after its Issuer.
fn with_foreign_metadata(idp: &SuiteIdp, response: String) -> Result<String, String> {
    let metadata = idp.metadata().map_err(|e| e.to_string())?;
    let element = match metadata.find("?>") {
        Some(end) if metadata.starts_with("<?xml") => metadata[end + 2..].trim_start().to_owned(),
        _ => metadata,
    };
    let issuer_end = response
        .find("</saml:Issuer>")
        .ok_or("the Response has no Issuer")?
        + "</saml:Issuer>".len();
    Ok(format!(
        "{}<samlp:Extensions>{element}</samlp:Extensions>{}",
        &response[..issuer_end],
        &response[issuer_end..]
    ))
}

/// Signs the Assertion (child of the root) or the Response of `text` enveloped, the Signature right
/// after the element's Issuer, as the IdP simulator does.
fn sign(text: &str, which: Signed, options: &SigningOptions, key: &SigningKey) -> Result<String, String> {
    let doc = parse_str(text, &Limits::default()).map_err(|e| format!("the Response does not parse: {e}"))?;
    let root = doc.document_element();
    let target = match which {
        Signed::Response => root,
        Signed::Assertion => doc
            .child_elements(root)
            .find(|&c| is(&doc, c, ASSERTION_NAMESPACE, "Assertion"))
            .ok_or("the Response has no Assertion to sign")?,
    };
    let placement = match doc.child_elements(target).next() {
        Some(first) if is(&doc, first, ASSERTION_NAMESPACE, "Issuer") => SignaturePlacement::After(first),
        _ => SignaturePlacement::FirstChild,
    };
    sign_enveloped(&doc, target, placement, options, key).map_err(|e| format!("signing failed: {e}"))
}

fn is(doc: &Document, node: NodeId, namespace: &str, local: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.name().is(Some(namespace), local))
}

/// The first signature of `text` with its SignatureMethod replaced by `algorithm` and its
/// SignatureValue recomputed by `sign` over the exclusive canonical form of SignedInfo: what a
/// hostile or outdated IdP would send.
fn resign_first(
    text: &str,
    algorithm: &str,
    sign: impl Fn(&[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack>,
) -> Result<String, String> {
    let start = text.find("<ds:SignedInfo").ok_or("no SignedInfo")?;
    let end = text[start..]
        .find("</ds:SignedInfo>")
        .ok_or("SignedInfo not closed")?
        + start
        + "</ds:SignedInfo>".len();
    let method = "<ds:SignatureMethod Algorithm=\"";
    let signed_info = &text[start..end];
    let at = signed_info.find(method).ok_or("no SignatureMethod")? + method.len();
    let len = signed_info[at..].find('"').ok_or("SignatureMethod not closed")?;
    let new_signed_info = format!("{}{algorithm}{}", &signed_info[..at], &signed_info[at + len..]);
    // Exclusive c14n renders only the namespaces SignedInfo uses: the same bytes alone as in place.
    let standalone = new_signed_info.replacen(
        "<ds:SignedInfo",
        &format!("<ds:SignedInfo xmlns:ds=\"{DSIG_NAMESPACE}\""),
        1,
    );
    let doc = parse_str(&standalone, &Limits::default()).map_err(|e| format!("SignedInfo: {e}"))?;
    let canonical = Canonicalization::new(Algorithm::Exclusive)
        .document(&doc, &[])
        .map_err(|e| format!("canonicalizing SignedInfo: {e}"))?;
    let value = openssl::base64::encode_block(&sign(&canonical).map_err(|e| format!("signing: {e}"))?);
    let rest = &text[end..];
    let value_start =
        rest.find("<ds:SignatureValue>").ok_or("no SignatureValue")? + "<ds:SignatureValue>".len();
    let value_end = rest
        .find("</ds:SignatureValue>")
        .ok_or("SignatureValue not closed")?;
    Ok(format!(
        "{}{new_signed_info}{}{value}{}",
        &text[..start],
        &rest[..value_start],
        &rest[value_end..]
    ))
}
