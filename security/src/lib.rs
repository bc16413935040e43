//! Snodo's security foundation: every connector's XML from outside goes through here.
//!
//! An attacker controls every byte of a SAML Response or a SOAP answer. This crate owns the parse
//! ([`xml`]: hostile-input screening with limits, one tree per message), canonicalization ([`c14n`]:
//! Canonical XML 1.0 and Exclusive XML Canonicalization 1.0) and XML signatures ([`dsig`]: verification
//! under a per-use policy with trusted keys only, answering which element was signed; enveloped
//! signing): the ground on which the SAML and WS-Security profiles, certificates and TLS are built.
//! `README.md` records why this foundation (our own canonicalization over quick-xml, OpenSSL for
//! cryptography) was chosen, with measurements.

pub mod c14n;
pub mod devpki;
pub mod dsig;
pub mod pki;
pub mod saml;
pub mod schema;
pub mod tls;
pub mod wssec;
pub mod xml;

#[cfg(feature = "testing")]
pub mod testing;
