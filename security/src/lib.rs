//! Snodo's security foundation: every connector's XML from outside goes through here.
//!
//! An attacker controls every byte of a SAML Response or a SOAP answer. This crate owns the parse
//! ([`xml`]: hostile-input screening with limits, one tree per message), canonicalization ([`c14n`]:
//! Canonical XML 1.0 and Exclusive XML Canonicalization 1.0) and XML signatures ([`dsig`]: verification
//! under a per-use policy with trusted keys only, answering which element was signed; enveloped
//! signing), and on that ground the SAML Web SSO profile ([`saml`]), WS-Security for ANPR ([`wssec`]),
//! the compact JWS of PDND's ModI tokens ([`jws`]),
//! XSD validation behind the screening parser ([`schema`]), certificates ([`pki`]), the development
//! PKI ([`devpki`]) and mutual TLS on OpenSSL ([`tls`]). `README.md` records why this foundation (our
//! own canonicalization over quick-xml, OpenSSL for cryptography, libxml2 only for XSD) was chosen,
//! with measurements.

pub mod c14n;
pub mod devpki;
pub mod dsig;
pub mod jws;
pub mod pki;
pub mod saml;
pub mod schema;
pub mod tls;
pub mod wssec;
pub mod xml;

#[cfg(feature = "testing")]
pub mod testing;
