//! Writing an envelope around a payload the platform mapping produced, and escaping for the
//! mappings that write XML text.

use super::SOAP11_NAMESPACE;
use super::fault::Fault;

/// Builds a SOAP 1.1 envelope: header blocks and one Body payload (or a Fault), with the `soapenv`
/// prefix the platforms' own examples use.
#[derive(Debug, Clone, Default)]
pub struct EnvelopeBuilder {
    header_blocks: Vec<String>,
}

impl EnvelopeBuilder {
    pub fn new() -> EnvelopeBuilder {
        EnvelopeBuilder::default()
    }

    /// Adds a header block (well-formed XML text declaring its own namespaces).
    pub fn header_block(mut self, xml: impl Into<String>) -> EnvelopeBuilder {
        self.header_blocks.push(xml.into());
        self
    }

    /// The envelope around `payload` (one well-formed element declaring its own namespaces).
    pub fn body(&self, payload: &str) -> String {
        let mut out = String::with_capacity(payload.len() + 256);
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        out.push_str(r#"<soapenv:Envelope xmlns:soapenv=""#);
        out.push_str(SOAP11_NAMESPACE);
        out.push_str(r#"">"#);
        if !self.header_blocks.is_empty() {
            out.push_str("<soapenv:Header>");
            for block in &self.header_blocks {
                out.push_str(block);
            }
            out.push_str("</soapenv:Header>");
        }
        out.push_str("<soapenv:Body>");
        out.push_str(payload);
        out.push_str("</soapenv:Body></soapenv:Envelope>");
        out
    }

    /// The envelope around a Fault.
    pub fn fault(&self, fault: &Fault) -> String {
        self.body(&fault.to_xml("soapenv"))
    }
}

/// Escapes character data: `&`, `<`, `>` (the last so `]]>` cannot appear), and CR, which a parser
/// would otherwise normalize away.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a double-quoted attribute value, including the whitespace characters attribute-value
/// normalization would turn into spaces.
pub fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}
