//! The conformance catalogue: the Responses an SP must refuse (and the few it must accept), by the
//! case numbers of spid-sp-test (spid-and-cie-id.md §2.2), so that an integrator or the certification
//! suite can ask the simulator for "case 59" at login and see whether their ACS answers non-200.
//!
//! Each case is the valid Response with one change. Where spid-sp-test's XML-wrapping payloads are
//! namespace-stripped (and so prove nothing, §0), the `xsw-*` cases here keep namespaces: the IdP's
//! real signed Assertion is still in the document and verifies, and an unsigned copy with another
//! identity is placed where a careless reader would take it (§5).

use snodo_security::dsig::SigningKey;
use snodo_security::saml::{Comparison, SpidLevel, new_message_id};

use super::Profile;
use super::request::AcceptedRequest;
use super::response::{self, BuildError, Login, Signing};
use super::tree::{Edit, Node};

/// What a conforming SP does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Accept,
    Reject,
    /// spid-sp-test accepts either outcome (case 103).
    Either,
}

/// How a case differs from the valid Response.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Edits(&'static [Edit]),
    Unsigned,
    ResponseSignedOnly,
    /// Both signatures by a key outside the IdP metadata; with its certificate in KeyInfo or not.
    OtherKey {
        certificate: bool,
    },
    /// The Assertion signed by another key, the Response by the IdP.
    AssertionOtherKey,
    /// `ID` of the Response (`true`) or the Assertion made empty or removed after signing.
    Id {
        response: bool,
        empty: bool,
    },
    Wrap(Wrap),
    Xslt,
    /// The returned level, with the expected outcome computed from the request (spid-sp-test's
    /// `dynamic_acr`).
    Level(SpidLevel),
    /// XML declaration and Attributes without NameFormat (109).
    Declaration,
    /// IssueInstant with microseconds (110).
    Microseconds,
    /// An error Status with this SPID error code, unsigned, no Assertion (104–108, 111).
    Status(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrap {
    SiblingBefore,
    SiblingAfter,
    SameIdBefore,
    Extensions,
    Nested,
    SignatureObject,
}

/// One catalogue case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub id: &'static str,
    pub description: &'static str,
    expected: Expected,
    shape: Shape,
}

const R: Expected = Expected::Reject;
const ACS: &[&str] = &["Assertion"];
const SUBJECT: &[&str] = &["Assertion", "Subject"];
const NAME_ID: &[&str] = &["Assertion", "Subject", "NameID"];
const CONFIRMATION: &[&str] = &["Assertion", "Subject", "SubjectConfirmation"];
const SCD: &[&str] = &[
    "Assertion",
    "Subject",
    "SubjectConfirmation",
    "SubjectConfirmationData",
];
const A_ISSUER: &[&str] = &["Assertion", "Issuer"];
const CONDITIONS: &[&str] = &["Assertion", "Conditions"];
const AUDIENCE_RESTRICTION: &[&str] = &["Assertion", "Conditions", "AudienceRestriction"];
const AUDIENCE: &[&str] = &["Assertion", "Conditions", "AudienceRestriction", "Audience"];
const AUTHN: &[&str] = &["Assertion", "AuthnStatement"];
const AUTHN_CONTEXT: &[&str] = &["Assertion", "AuthnStatement", "AuthnContext"];
const CLASS_REF: &[&str] = &[
    "Assertion",
    "AuthnStatement",
    "AuthnContext",
    "AuthnContextClassRef",
];
const ATTRIBUTES: &[&str] = &["Assertion", "AttributeStatement"];
const ATTRIBUTE: &[&str] = &["Assertion", "AttributeStatement", "Attribute"];
const STATUS: &[&str] = &["Status"];
const STATUS_CODE: &[&str] = &["Status", "StatusCode"];
const R_ISSUER: &[&str] = &["Issuer"];
const PAST: &str = "2018-01-01T00:00:00Z";
const FUTURE: &str = "2099-01-01T00:00:00Z";
const OTHER_URL: &str = "https://sp.attacker.example/acs";

macro_rules! case {
    ($id:literal, $expected:expr, $shape:expr, $description:literal) => {
        Case {
            id: $id,
            description: $description,
            expected: $expected,
            shape: $shape,
        }
    };
}

use Edit::{Empty, Remove, RemoveAttr, SetAttr, SetText};
use Shape::Edits;

/// Every case, in spid-sp-test's order. One line per case: this is a table.
#[rustfmt::skip]
pub const CASES: &[Case] = &[
    case!("1", Expected::Accept, Edits(&[]), "Valid Response and Assertion, both signed"),
    case!("2", R, Shape::Unsigned, "Response and Assertion unsigned"),
    case!("3", R, Shape::ResponseSignedOnly, "Response signed, Assertion unsigned"),
    case!("4", R, Shape::OtherKey { certificate: false }, "Signed with a key not in the IdP metadata"),
    case!("5", R, Shape::OtherKey { certificate: true }, "Signed with another key, its certificate in KeyInfo"),
    case!("xsw-sibling-before", R, Shape::Wrap(Wrap::SiblingBefore), "Unsigned Assertion with another identity before the signed one"),
    case!("xsw-sibling-after", R, Shape::Wrap(Wrap::SiblingAfter), "Unsigned Assertion with another identity after the signed one"),
    case!("xsw-same-id", R, Shape::Wrap(Wrap::SameIdBefore), "Unsigned copy with the signed Assertion's ID, before it"),
    case!("xsw-extensions", R, Shape::Wrap(Wrap::Extensions), "Signed Assertion moved into samlp:Extensions, unsigned one in its place"),
    case!("xsw-nested", R, Shape::Wrap(Wrap::Nested), "Signed Assertion nested in the Advice of an unsigned one"),
    case!("xsw-object", R, Shape::Wrap(Wrap::SignatureObject), "Unsigned Assertion inside a ds:Object of the Assertion signature"),
    case!("xslt", R, Shape::Xslt, "XSLT Transform injected into the Response Signature"),
    case!("8", R, Shape::Id { response: true, empty: true }, "Response ID empty"),
    case!("9", R, Shape::Id { response: true, empty: false }, "Response ID missing"),
    case!("10", R, Edits(&[SetAttr(&[], "Version", "1.0")]), "Response Version is not 2.0"),
    case!("11", R, Edits(&[SetAttr(&[], "IssueInstant", "")]), "Response IssueInstant empty"),
    case!("12", R, Edits(&[RemoveAttr(&[], "IssueInstant")]), "Response IssueInstant missing"),
    case!("13", R, Edits(&[SetAttr(&[], "IssueInstant", "2018-09-04")]), "Response IssueInstant malformed (date only)"),
    case!("14", R, Edits(&[SetAttr(&[], "IssueInstant", PAST)]), "Response IssueInstant before the AuthnRequest"),
    case!("15", R, Edits(&[SetAttr(&[], "IssueInstant", FUTURE)]), "Response IssueInstant in the future"),
    case!("16", R, Edits(&[SetAttr(&[], "InResponseTo", ""), SetAttr(SCD, "InResponseTo", "")]), "InResponseTo empty"),
    case!("17", R, Edits(&[RemoveAttr(&[], "InResponseTo"), RemoveAttr(SCD, "InResponseTo")]), "InResponseTo missing"),
    case!("18", R, Edits(&[SetAttr(&[], "InResponseTo", "_another-request"), SetAttr(SCD, "InResponseTo", "_another-request") ]), "InResponseTo differs from the AuthnRequest ID"),
    case!("19", R, Edits(&[SetAttr(&[], "Destination", "")]), "Response Destination empty"),
    case!("20", R, Edits(&[RemoveAttr(&[], "Destination")]), "Response Destination missing"),
    case!("21", R, Edits(&[SetAttr(&[], "Destination", OTHER_URL), SetAttr(SCD, "Recipient", OTHER_URL) ]), "Destination and Recipient differ from the ACS URL"),
    case!("22", R, Edits(&[Empty(STATUS)]), "Status without StatusCode"),
    case!("23", R, Edits(&[Remove(STATUS)]), "Status missing"),
    case!("24", R, Edits(&[SetAttr(STATUS_CODE, "Value", "")]), "StatusCode Value empty"),
    case!("26", R, Edits(&[SetAttr(STATUS_CODE, "Value", "urn:oasis:names:tc:SAML:2.0:status:Invalid")]), "StatusCode not Success"),
    case!("27", R, Edits(&[Empty(R_ISSUER)]), "Response Issuer empty"),
    case!("28", R, Edits(&[Remove(R_ISSUER)]), "Response Issuer missing"),
    case!("29", R, Edits(&[SetText(R_ISSUER, "https://idp.attacker.example")]), "Response Issuer differs from the IdP entity ID"),
    case!("30", R, Edits(&[SetAttr(R_ISSUER, "Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")]), "Response Issuer Format not entity"),
    case!("31", Expected::Accept, Edits(&[RemoveAttr(R_ISSUER, "Format")]), "Response Issuer without Format (allowed)"),
    case!("32", R, Edits(&[Remove(ACS)]), "Success without Assertion"),
    case!("33", R, Shape::Id { response: false, empty: true }, "Assertion ID empty"),
    case!("34", R, Shape::Id { response: false, empty: false }, "Assertion ID missing"),
    case!("35", R, Edits(&[SetAttr(ACS, "Version", "1.0")]), "Assertion Version is not 2.0"),
    case!("36", R, Edits(&[SetAttr(ACS, "IssueInstant", "")]), "Assertion IssueInstant empty"),
    case!("37", R, Edits(&[RemoveAttr(ACS, "IssueInstant")]), "Assertion IssueInstant missing"),
    case!("38", R, Edits(&[SetAttr(ACS, "IssueInstant", "2018-09-06 16:00")]), "Assertion IssueInstant malformed"),
    case!("39", R, Edits(&[SetAttr(ACS, "IssueInstant", "2000-01-01T00:00:00Z")]), "Assertion IssueInstant before the AuthnRequest"),
    case!("40", R, Edits(&[SetAttr(ACS, "IssueInstant", FUTURE)]), "Assertion IssueInstant in the future"),
    case!("41", R, Edits(&[Empty(SUBJECT)]), "Subject empty"),
    case!("42", R, Edits(&[Remove(SUBJECT)]), "Subject missing"),
    case!("43", R, Edits(&[Empty(NAME_ID), SetAttr(NAME_ID, "NameQualifier", "")]), "NameID and NameQualifier empty"),
    case!("44", R, Edits(&[Remove(NAME_ID)]), "NameID missing"),
    case!("45", R, Edits(&[SetAttr(NAME_ID, "Format", "")]), "NameID Format empty"),
    case!("46", R, Edits(&[RemoveAttr(NAME_ID, "Format")]), "NameID Format missing"),
    case!("47", R, Edits(&[SetAttr(NAME_ID, "Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")]), "NameID Format not transient"),
    case!("48", R, Edits(&[SetAttr(NAME_ID, "NameQualifier", "")]), "NameID NameQualifier empty"),
    case!("49", R, Edits(&[RemoveAttr(NAME_ID, "NameQualifier")]), "NameID NameQualifier missing"),
    case!("51", R, Edits(&[Empty(CONFIRMATION)]), "SubjectConfirmation empty"),
    case!("52", R, Edits(&[Remove(CONFIRMATION)]), "SubjectConfirmation missing"),
    case!("53", R, Edits(&[SetAttr(CONFIRMATION, "Method", "")]), "SubjectConfirmation Method empty"),
    case!("54", R, Edits(&[RemoveAttr(CONFIRMATION, "Method")]), "SubjectConfirmation Method missing"),
    case!("55", R, Edits(&[SetAttr(CONFIRMATION, "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")]), "SubjectConfirmation Method not bearer"),
    case!("56", R, Edits(&[Remove(SCD)]), "SubjectConfirmationData missing"),
    case!("57", R, Edits(&[SetAttr(SCD, "Recipient", "")]), "Recipient empty"),
    case!("58", R, Edits(&[RemoveAttr(SCD, "Recipient")]), "Recipient missing"),
    case!("59", R, Edits(&[SetAttr(SCD, "Recipient", OTHER_URL)]), "Recipient differs from the ACS URL"),
    case!("60", R, Edits(&[SetAttr(SCD, "InResponseTo", "")]), "SubjectConfirmationData InResponseTo empty"),
    case!("61", R, Edits(&[RemoveAttr(SCD, "InResponseTo")]), "SubjectConfirmationData InResponseTo missing"),
    case!("62", R, Edits(&[SetAttr(SCD, "InResponseTo", "_another-request")]), "SubjectConfirmationData InResponseTo differs"),
    case!("63", R, Edits(&[SetAttr(SCD, "NotOnOrAfter", "")]), "SubjectConfirmationData NotOnOrAfter empty"),
    case!("64", R, Edits(&[RemoveAttr(SCD, "NotOnOrAfter")]), "SubjectConfirmationData NotOnOrAfter missing"),
    case!("65", R, Edits(&[SetAttr(SCD, "NotOnOrAfter", "2018-09-06 16:00")]), "SubjectConfirmationData NotOnOrAfter malformed"),
    case!("66", R, Edits(&[SetAttr(SCD, "NotOnOrAfter", PAST)]), "SubjectConfirmationData NotOnOrAfter in the past"),
    case!("68", R, Edits(&[Remove(A_ISSUER)]), "Assertion Issuer missing"),
    case!("69", R, Edits(&[SetText(A_ISSUER, "https://idp.attacker.example")]), "Assertion Issuer differs from the IdP entity ID"),
    case!("70", R, Edits(&[SetAttr(A_ISSUER, "Format", "")]), "Assertion Issuer Format empty"),
    case!("71", R, Edits(&[RemoveAttr(A_ISSUER, "Format")]), "Assertion Issuer Format missing (CIE ID allows it)"),
    case!("72", R, Edits(&[SetAttr(A_ISSUER, "Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")]), "Assertion Issuer Format not entity"),
    case!("73", R, Edits(&[Remove(AUDIENCE_RESTRICTION)]), "Conditions without AudienceRestriction"),
    case!("74", R, Edits(&[Remove(CONDITIONS)]), "Conditions missing"),
    case!("75", R, Edits(&[SetAttr(CONDITIONS, "NotBefore", "")]), "Conditions NotBefore empty"),
    case!("76", R, Edits(&[RemoveAttr(CONDITIONS, "NotBefore")]), "Conditions NotBefore missing"),
    case!("77", R, Edits(&[SetAttr(CONDITIONS, "NotBefore", "2018-09-06 16:00")]), "Conditions NotBefore malformed"),
    case!("78", R, Edits(&[SetAttr(CONDITIONS, "NotBefore", FUTURE)]), "Conditions NotBefore in the future"),
    case!("79", R, Edits(&[SetAttr(CONDITIONS, "NotOnOrAfter", "")]), "Conditions NotOnOrAfter empty"),
    case!("80", R, Edits(&[RemoveAttr(CONDITIONS, "NotOnOrAfter")]), "Conditions NotOnOrAfter missing"),
    case!("81", R, Edits(&[SetAttr(CONDITIONS, "NotOnOrAfter", "2018-09-06 16:00")]), "Conditions NotOnOrAfter malformed"),
    case!("82", R, Edits(&[SetAttr(CONDITIONS, "NotOnOrAfter", PAST)]), "Conditions NotOnOrAfter in the past"),
    case!("83", R, Edits(&[Empty(AUDIENCE_RESTRICTION)]), "AudienceRestriction empty"),
    case!("85", R, Edits(&[Empty(AUDIENCE)]), "Audience empty"),
    case!("86", R, Edits(&[Remove(AUDIENCE)]), "Audience missing"),
    case!("87", R, Edits(&[SetText(AUDIENCE, "https://sp.attacker.example")]), "Audience differs from the SP entity ID"),
    case!("88", R, Edits(&[Remove(AUTHN_CONTEXT)]), "AuthnStatement without AuthnContext"),
    case!("89", R, Edits(&[Remove(AUTHN)]), "AuthnStatement missing"),
    case!("90", R, Edits(&[Empty(AUTHN_CONTEXT)]), "AuthnContext empty"),
    case!("92", R, Edits(&[Empty(CLASS_REF)]), "AuthnContextClassRef empty"),
    case!("93", R, Edits(&[Remove(CLASS_REF)]), "AuthnContextClassRef missing"),
    case!("94", R, Shape::Level(SpidLevel::L1), "Level SpidL1 (outcome depends on the request)"),
    case!("95", R, Shape::Level(SpidLevel::L2), "Level SpidL2 (outcome depends on the request)"),
    case!("96", R, Shape::Level(SpidLevel::L3), "Level SpidL3 (outcome depends on the request)"),
    case!("97", R, Edits(&[SetText(CLASS_REF, "urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL1")]), "Legacy level name"),
    case!("98", R, Edits(&[Empty(ATTRIBUTES)]), "AttributeStatement without Attribute"),
    case!("99", R, Edits(&[Empty(ATTRIBUTE)]), "Attribute without AttributeValue"),
    case!("100", R, Shape::AssertionOtherKey, "Assertion signed with another certificate"),
    case!("103", Expected::Either, Edits(&[Remove(ATTRIBUTE)]), "Attribute set different from the requested one"),
    case!("104", R, Shape::Status(19), "ErrorCode nr19: repeated wrong credentials"),
    case!("105", R, Shape::Status(20), "ErrorCode nr20: no credentials for the requested level"),
    case!("106", R, Shape::Status(21), "ErrorCode nr21: timeout"),
    case!("107", R, Shape::Status(22), "ErrorCode nr22: consent denied"),
    case!("108", R, Shape::Status(23), "ErrorCode nr23: identity suspended or revoked"),
    case!("109", Expected::Accept, Shape::Declaration, "XML declaration, Attributes without NameFormat"),
    case!("110", Expected::Accept, Shape::Microseconds, "IssueInstant with microseconds"),
    case!("111", R, Shape::Status(25), "ErrorCode nr25: cancelled by the user"),
];

/// The valid Response (spid-sp-test's case 1): what a successful login answers.
pub const VALID: &str = "1";

pub fn find(id: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.id == id)
}

/// The keys a case may sign with.
pub struct Keys<'k> {
    pub idp: &'k SigningKey,
    /// Not in the IdP metadata, no certificate (case 4).
    pub other_bare: &'k SigningKey,
    /// Not in the IdP metadata, with its own certificate (cases 5, 100).
    pub other: &'k SigningKey,
}

impl Case {
    /// What a conforming SP does with this case for a request of `requested` level and `comparison`,
    /// the person having authenticated at `authenticated` (a case of its own level overrides it):
    /// a level the request does not allow makes any otherwise acceptable Response a rejection.
    pub fn expected(
        &self,
        profile: Profile,
        requested: SpidLevel,
        comparison: Comparison,
        authenticated: SpidLevel,
    ) -> Expected {
        match self.shape {
            Shape::Level(returned) if requested.is_satisfied_by(returned, comparison) => Expected::Accept,
            Shape::Level(_) => Expected::Reject,
            _ if self.expected != Expected::Reject
                && !requested.is_satisfied_by(authenticated, comparison) =>
            {
                Expected::Reject
            }
            // spid-sp-test skips 71 for cie-sp-public: CIE's samples differ on the Format.
            _ if profile == Profile::Cie && self.id == "71" => Expected::Either,
            _ => self.expected,
        }
    }

    /// The Response of this case for `request`, as XML text.
    pub fn build(
        &self,
        request: &AcceptedRequest,
        login: &Login,
        keys: &Keys<'_>,
    ) -> Result<String, BuildError> {
        let both = Signing {
            assertion: Some(keys.idp),
            response: Some(keys.idp),
        };
        if let Shape::Status(code) = self.shape {
            let (tree, _) = response::error(request, login, code);
            return Ok(tree.render());
        }
        let (mut tree, ids) = response::success(request, login);
        Ok(match self.shape {
            Shape::Edits(edits) => {
                for edit in edits {
                    let applied = tree.apply(edit);
                    debug_assert!(applied, "case {}: {edit:?} names no element", self.id);
                }
                response::sign(&tree, &both)?
            }
            Shape::Unsigned => tree.render(),
            Shape::ResponseSignedOnly => response::sign(
                &tree,
                &Signing {
                    assertion: None,
                    response: Some(keys.idp),
                },
            )?,
            Shape::OtherKey { certificate } => {
                let key = if certificate { keys.other } else { keys.other_bare };
                response::sign(
                    &tree,
                    &Signing {
                        assertion: Some(key),
                        response: Some(key),
                    },
                )?
            }
            Shape::AssertionOtherKey => response::sign(
                &tree,
                &Signing {
                    assertion: Some(keys.other),
                    response: Some(keys.idp),
                },
            )?,
            Shape::Id { response, empty } => {
                let signed = response::sign(&tree, &both)?;
                let id = if response { &ids.response } else { &ids.assertion };
                let replacement = if empty { " ID=\"\"" } else { "" };
                signed.replacen(&format!(" ID=\"{id}\""), replacement, 1)
            }
            Shape::Wrap(wrap) => {
                let signed = response::sign(
                    &tree,
                    &Signing {
                        assertion: Some(keys.idp),
                        response: None,
                    },
                )?;
                wrapped(&signed, wrap, login)
            }
            Shape::Xslt => {
                let signed = response::sign(&tree, &both)?;
                signed.replacen("<ds:Transforms>", XSLT_TRANSFORM, 1)
            }
            Shape::Level(level) => {
                tree.apply(&SetText(CLASS_REF, level.uri()));
                response::sign(&tree, &both)?
            }
            Shape::Declaration => {
                if let Some(statement) = tree.find_mut(ATTRIBUTES) {
                    for child in &mut statement.children {
                        if let Node::Element(attribute) = child {
                            attribute.attributes.retain(|(n, _)| n != "NameFormat");
                        }
                    }
                }
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
                    response::sign(&tree, &both)?
                )
            }
            Shape::Microseconds => {
                let instant = login.now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
                tree.set_attr("IssueInstant", instant);
                response::sign(&tree, &both)?
            }
            Shape::Status(_) => unreachable!("answered above"),
        })
    }
}

const XSLT_TRANSFORM: &str = concat!(
    "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\">",
    "<xsl:stylesheet xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\" version=\"1.0\">",
    "<xsl:template match=\"/\"><xsl:copy-of select=\".\"/></xsl:template></xsl:stylesheet></ds:Transform>"
);

/// The signed text with an attacker's unsigned Assertion placed as `wrap` says. The attacker's copy
/// has another NameID and, when released, another fiscalNumber.
fn wrapped(signed: &str, wrap: Wrap, login: &Login) -> String {
    let start = signed
        .find("<saml:Assertion")
        .expect("the Response has an Assertion");
    let end = signed.find("</saml:Assertion>").expect("the Assertion is closed") + "</saml:Assertion>".len();
    let original = &signed[start..end];
    let mut evil = original.to_owned();
    if let (Some(s), Some(e)) = (evil.find("<ds:Signature"), evil.find("</ds:Signature>")) {
        evil.replace_range(s..e + "</ds:Signature>".len(), "");
    }
    evil = evil.replace(&login.name_id, "_attacker-chosen-name-id");
    if let Some(fiscal) = login.attributes.iter().find(|a| a.name == "fiscalNumber") {
        evil = evil.replace(&fiscal.value, "TINIT-TTTTTT80A01F205X");
    }
    let original_id = attribute_value(original, "ID").unwrap_or_default();
    if wrap != Wrap::SameIdBefore {
        evil = evil.replacen(
            &format!("ID=\"{original_id}\""),
            &format!("ID=\"{}\"", new_message_id()),
            1,
        );
    }
    let (before, after) = (&signed[..start], &signed[end..]);
    match wrap {
        Wrap::SiblingBefore | Wrap::SameIdBefore => format!("{before}{evil}{original}{after}"),
        Wrap::SiblingAfter => format!("{before}{original}{evil}{after}"),
        Wrap::Extensions => {
            // samlp:Extensions goes after the Issuer (schema order: Issuer, Signature, Extensions).
            let issuer_end =
                before.find("</saml:Issuer>").expect("the Response has an Issuer") + "</saml:Issuer>".len();
            format!(
                "{}<samlp:Extensions>{original}</samlp:Extensions>{}{evil}{after}",
                &before[..issuer_end],
                &before[issuer_end..]
            )
        }
        Wrap::Nested => {
            let close = evil.rfind("</saml:Assertion>").expect("closed");
            let statement = evil.find("<saml:AuthnStatement").unwrap_or(close);
            format!(
                "{before}{}<saml:Advice>{original}</saml:Advice>{}{after}",
                &evil[..statement],
                &evil[statement..]
            )
        }
        Wrap::SignatureObject => {
            let at = original.find("</ds:Signature>").expect("the Assertion is signed");
            format!(
                "{before}{}<ds:Object>{evil}</ds:Object>{}{after}",
                &original[..at],
                &original[at..]
            )
        }
    }
}

fn attribute_value<'t>(element: &'t str, name: &str) -> Option<&'t str> {
    let open_end = element.find('>')?;
    let open = &element[..open_end];
    let at = open.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = open[at..].find('"')?;
    Some(&open[at..at + len])
}
