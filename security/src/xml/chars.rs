//! Character-level rules of XML 1.0 (Fifth Edition) that quick-xml leaves to its caller: legal
//! characters (§2.2), names (§2.3), references (§4.1) and attribute-value normalization (§3.3.3).
//!
//! They matter for signatures, not only for pedantry: two parsers that disagree on what a document
//! says (a parser differential) is how ruby-saml was bypassed (CVE-2025-25291/25292). Where libxml2,
//! the parser behind xmlsec1 and most IdPs, refuses a document, so do we.

use super::XmlError;

/// Finds the first character that XML 1.0 §2.2 `Char` excludes: C0 controls other than tab, LF and
/// CR, and U+FFFE/U+FFFF. Surrogates cannot occur in a `str`.
pub(crate) fn check_chars(text: &str, base: usize) -> Result<(), XmlError> {
    let bytes = text.as_bytes();
    // Fast path, branch-free so it vectorizes: no C0 control other than TAB/LF/CR, and no 0xEF lead
    // byte (the only way to spell U+FFFE/U+FFFF). The precise scan below runs only when needed.
    let suspicious = bytes.iter().fold(false, |acc, &b| {
        acc | ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 0xEF)
    });
    if !suspicious {
        return Ok(());
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r' {
            return Err(XmlError::InvalidCharacter {
                codepoint: u32::from(b),
                offset: base + i,
            });
        }
        // U+FFFE and U+FFFF are EF BF BE / EF BF BF in UTF-8.
        if b == 0xEF && bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) {
            let codepoint = if bytes[i + 2] == 0xBE { 0xFFFE } else { 0xFFFF };
            return Err(XmlError::InvalidCharacter {
                codepoint,
                offset: base + i,
            });
        }
        i += 1;
    }
    Ok(())
}

/// XML 1.0 §2.2 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// XML 1.0 §2.3 `NameStartChar`, without ':' (Namespaces in XML 1.0 `NCName`).
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 §2.3 `NameChar`, without ':'.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Namespaces in XML 1.0 §4 `NCName`.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Splits a `QName` (Namespaces in XML 1.0 §4) into prefix and local part, or refuses it.
pub(crate) fn split_qname(name: &str, offset: usize) -> Result<(Option<&str>, &str), XmlError> {
    let invalid = || XmlError::InvalidName {
        name: name.to_owned(),
        offset,
    };
    match name.split_once(':') {
        Some((prefix, local)) if is_ncname(prefix) && is_ncname(local) => Ok((Some(prefix), local)),
        Some(_) => Err(invalid()),
        None if is_ncname(name) => Ok((None, name)),
        None => Err(invalid()),
    }
}

/// Resolves the body of a reference (`lt`, `#x41`, `#65`) to its character. Anything but the five
/// predefined entities and character references is refused: without a DTD no other entity can be
/// declared (XML 1.0 §4.1 WFC: Entity Declared), and we never expand one.
pub(crate) fn resolve_reference(body: &str, offset: usize) -> Result<char, XmlError> {
    if let Some(num) = body.strip_prefix('#') {
        let invalid = || XmlError::InvalidCharacterReference {
            reference: body.to_owned(),
            offset,
        };
        let (digits, radix) = match num.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        // Bounded length keeps the parse from overflowing; no legal code point needs more digits.
        if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(invalid());
        }
        let code = u32::from_str_radix(digits, radix).map_err(|_| invalid())?;
        return char::from_u32(code)
            .filter(|c| is_xml_char(*c))
            .ok_or_else(invalid);
    }
    match body {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => Err(XmlError::EntityReference {
            name: body.to_owned(),
            offset,
        }),
    }
}

/// Normalizes a raw attribute value as XML 1.0 §3.3.3 prescribes for CDATA attributes (without a DTD
/// every attribute is CDATA): references are resolved, and each literal tab, LF, CR or CR LF pair
/// (after §2.11 end-of-line handling) becomes one space. Characters produced by references are kept
/// as they are, which is why canonical XML writes a `&#9;` back as `&#x9;`.
pub(crate) fn normalize_attribute_value(
    raw: &str,
    offset: usize,
) -> Result<std::borrow::Cow<'_, str>, XmlError> {
    if !raw.contains(['&', '<', '\t', '\n', '\r']) {
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find(['&', '<', '\t', '\n', '\r']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match tail.as_bytes()[0] {
            b'&' => {
                let end = tail.find(';').ok_or_else(|| XmlError::Malformed {
                    offset,
                    reason: "unterminated reference in attribute value".into(),
                })?;
                out.push(resolve_reference(&tail[1..end], offset)?);
                rest = &tail[end + 1..];
            }
            b'<' => {
                // XML 1.0 §3.1 WFC: No < in Attribute Values.
                return Err(XmlError::Malformed {
                    offset,
                    reason: "'<' in attribute value".into(),
                });
            }
            b'\r' => {
                out.push(' ');
                rest = tail.strip_prefix("\r\n").unwrap_or(&tail[1..]);
            }
            _ => {
                out.push(' ');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(std::borrow::Cow::Owned(out))
}

/// XML 1.0 §2.11: CR LF and lone CR become LF before anything else sees the text.
pub(crate) fn normalize_line_ends(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\r') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_1_0_section_3_3_3_attribute_whitespace_becomes_spaces_but_references_stay() {
        assert_eq!(
            normalize_attribute_value("a\tb\r\nc\rd\ne", 0).unwrap(),
            "a b c d e"
        );
        assert_eq!(
            normalize_attribute_value("a&#9;b&#xA;c&#13;", 0).unwrap(),
            "a\tb\nc\r"
        );
        assert_eq!(
            normalize_attribute_value("&lt;&amp;&quot;&apos;&gt;", 0).unwrap(),
            "<&\"'>"
        );
    }

    #[test]
    fn xml_1_0_section_4_1_only_predefined_entities_resolve() {
        assert!(matches!(
            resolve_reference("xxe", 7),
            Err(XmlError::EntityReference { offset: 7, .. })
        ));
        assert!(matches!(
            resolve_reference("#0", 0),
            Err(XmlError::InvalidCharacterReference { .. })
        ));
        assert!(matches!(
            resolve_reference("#xD800", 0),
            Err(XmlError::InvalidCharacterReference { .. })
        ));
        assert!(matches!(
            resolve_reference("#x110000", 0),
            Err(XmlError::InvalidCharacterReference { .. })
        ));
        assert!(matches!(
            resolve_reference("#99999999999", 0),
            Err(XmlError::InvalidCharacterReference { .. })
        ));
        assert_eq!(resolve_reference("#x1F600", 0).unwrap(), '😀');
    }

    #[test]
    fn xml_1_0_section_2_2_control_characters_are_refused() {
        assert!(matches!(
            check_chars("ab\u{1}", 10),
            Err(XmlError::InvalidCharacter {
                codepoint: 1,
                offset: 12
            })
        ));
        assert!(matches!(
            check_chars("\u{FFFF}", 0),
            Err(XmlError::InvalidCharacter {
                codepoint: 0xFFFF,
                ..
            })
        ));
        assert!(check_chars("tab\tlf\ncr\r àèìòù €", 0).is_ok());
    }

    #[test]
    fn namespaces_section_4_qnames() {
        assert_eq!(
            split_qname("saml:Assertion", 0).unwrap(),
            (Some("saml"), "Assertion")
        );
        assert!(split_qname("a:b:c", 0).is_err());
        assert!(split_qname(":a", 0).is_err());
        assert!(split_qname("1a", 0).is_err());
        assert!(split_qname("a\"b", 0).is_err());
        assert!(split_qname("città", 0).is_ok());
    }
}
