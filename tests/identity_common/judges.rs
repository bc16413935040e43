//! The independent judges of what the SP produces: `xmllint` (schemas, offline through a catalog
//! of the local W3C schemas), `xmlsec1 --verify` (XML signatures) and `openssl dgst` (Redirect
//! binding signatures), each run on files in a fresh temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::specs;

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snodo-identity-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `xmllint --noout --schema <xsd>`: `Ok` or libxml2's complaint.
pub fn xmllint_schema(xml: &str, xsd: &Path) -> Result<(), String> {
    let dir = temp_dir("xmllint");
    let file = dir.join("document.xml");
    std::fs::write(&file, xml).expect("write");
    // The metadata schemas import the W3C xml.xsd and xmldsig schemas by URL: a catalog points
    // xmllint (offline, --nonet) at the local copies beside them.
    let local = specs().join("xsd/spid");
    let mut entries = String::new();
    for (url, file) in [
        ("http://www.w3.org/2001/xml.xsd", "xml.xsd"),
        ("http://www.w3.org/2001/03/xml.xsd", "xml.xsd"),
        (
            "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd",
            "xmldsig-core-schema.xsd",
        ),
    ] {
        let target = format!("file://{}", local.join(file).display());
        entries.push_str(&format!(
            r#"<system systemId="{url}" uri="{target}"/><uri name="{url}" uri="{target}"/>"#
        ));
    }
    let catalog = dir.join("catalog.xml");
    std::fs::write(
        &catalog,
        format!(r#"<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">{entries}</catalog>"#),
    )
    .expect("write");
    let out = Command::new("xmllint")
        .env("XML_CATALOG_FILES", &catalog)
        .args(["--noout", "--nonet", "--schema"])
        .arg(xsd)
        .arg(&file)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `xmlsec1 --verify` with `pem` as the only trusted key, IDs of `id_attr` (`Name` or `ns:Name`).
pub fn xmlsec1_verify(xml: &str, pem: &[u8], id_attr: &str) -> Result<(), String> {
    let dir = temp_dir("xmlsec1");
    let file = dir.join("document.xml");
    let cert = dir.join("cert.pem");
    std::fs::write(&file, xml).expect("write");
    std::fs::write(&cert, pem).expect("write");
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--id-attr:ID")
        .arg(id_attr)
        .arg("--pubkey-cert-pem")
        .arg(&cert)
        .arg(&file)
        .output()
        .expect("xmlsec1 runs (apt-get install xmlsec1)");
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `openssl dgst -sha256 -verify` of a Redirect-binding signature over `signed` (the query's
/// `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as sent).
pub fn openssl_verify_query(signed: &str, signature_b64: &str, certificate_pem: &[u8]) -> Result<(), String> {
    let dir = temp_dir("openssl");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let data = dir.join("data");
    let sig = dir.join("sig");
    std::fs::write(&cert, certificate_pem).expect("write");
    std::fs::write(&data, signed).expect("write");
    std::fs::write(
        &sig,
        openssl::base64::decode_block(signature_b64).expect("base64"),
    )
    .expect("write");
    let extracted = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl runs");
    std::fs::write(&key, &extracted.stdout).expect("write");
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&key)
        .arg("-signature")
        .arg(&sig)
        .arg(&data)
        .output()
        .expect("openssl runs");
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
