//! Hostile input: each attack or limit yields its own error, before any expansion or large allocation
//! (spid-and-cie-id.md §5, "XXE / external DTD / billion laughs / huge input"), and the messages say
//! what was refused and where.

use snodo_security::xml::{Limits, XmlError, parse};

fn parse_default(xml: &str) -> Result<snodo_security::xml::Document, XmlError> {
    parse(xml.as_bytes(), &Limits::default())
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"#;

#[test]
fn doctype_is_rejected() {
    let err = parse_default("<!DOCTYPE r><r/>").unwrap_err();
    assert_eq!(err, XmlError::DoctypeForbidden { offset: 0 });
    assert!(err.to_string().contains("DOCTYPE at offset 0 rejected"), "{err}");
}

#[test]
fn billion_laughs_is_rejected_at_the_doctype_before_any_expansion() {
    assert_eq!(
        parse_default(BILLION_LAUGHS).unwrap_err(),
        XmlError::DoctypeForbidden { offset: 22 }
    );
}

#[test]
fn external_entity_xxe_is_rejected_at_the_doctype() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>"#;
    assert_eq!(
        parse_default(xxe).unwrap_err(),
        XmlError::DoctypeForbidden { offset: 21 }
    );
}

#[test]
fn doctype_after_the_root_is_rejected_too() {
    assert!(matches!(
        parse_default("<r/><!DOCTYPE r>"),
        Err(XmlError::DoctypeForbidden { offset: 4 })
    ));
}

#[test]
fn undeclared_entity_reference_is_never_expanded() {
    let err = parse_default("<r>before &xxe; after</r>").unwrap_err();
    assert_eq!(
        err,
        XmlError::EntityReference {
            name: "xxe".into(),
            offset: 10
        }
    );
    assert!(err.to_string().contains("entities are never expanded"), "{err}");
    assert!(matches!(
        parse_default("<r a=\"&lol9;\"/>"),
        Err(XmlError::EntityReference { .. })
    ));
}

#[test]
fn predefined_entities_and_character_references_are_resolved() {
    let doc = parse_default("<r a=\"&lt;&#x41;\">&amp;&#66;&gt;</r>").unwrap();
    let root = doc.document_element();
    assert_eq!(doc.element(root).unwrap().attribute(None, "a"), Some("<A"));
    assert_eq!(doc.text_content(root), "&B>");
}

#[test]
fn too_deep_is_rejected() {
    let limits = Limits::default();
    let depth = limits.max_depth + 1;
    let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let err = parse(xml.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        err,
        XmlError::TooDeep {
            depth,
            limit: limits.max_depth,
            offset: 3 * limits.max_depth
        }
    );
    // Exactly at the limit is fine.
    let ok = format!(
        "{}{}",
        "<a>".repeat(limits.max_depth),
        "</a>".repeat(limits.max_depth)
    );
    assert!(parse(ok.as_bytes(), &limits).is_ok());
}

#[test]
fn too_many_attributes_is_rejected() {
    let limits = Limits {
        max_attributes: 8,
        ..Limits::default()
    };
    let attributes: String = (0..9).map(|i| format!(" a{i}=\"v\"")).collect();
    let err = parse(format!("<r{attributes}/>").as_bytes(), &limits).unwrap_err();
    assert_eq!(
        err,
        XmlError::TooManyAttributes {
            element: "r".into(),
            limit: 8,
            offset: 0
        }
    );
    // Namespace declarations count: they are attributes in the syntax an attacker sends.
    let declarations: String = (0..9).map(|i| format!(" xmlns:p{i}=\"urn:p{i}\"")).collect();
    assert!(matches!(
        parse(format!("<r{declarations}/>").as_bytes(), &limits),
        Err(XmlError::TooManyAttributes { .. })
    ));
}

#[test]
fn oversized_document_is_rejected_before_parsing() {
    let limits = Limits {
        max_document_bytes: 1024,
        ..Limits::default()
    };
    // Not even well-formed: the size check comes first.
    let xml = vec![b'<'; 1025];
    let err = parse(&xml, &limits).unwrap_err();
    assert_eq!(
        err,
        XmlError::TooLarge {
            size: 1025,
            limit: 1024
        }
    );
    assert_eq!(
        err.to_string(),
        "document is 1025 bytes, over the limit of 1024 bytes"
    );
}

#[test]
fn overlong_text_is_rejected() {
    let limits = Limits {
        max_text_bytes: 100,
        ..Limits::default()
    };
    let xml = format!("<r>{}</r>", "x".repeat(101));
    assert_eq!(
        parse(xml.as_bytes(), &limits).unwrap_err(),
        XmlError::TextTooLong {
            limit: 100,
            offset: 3
        }
    );
    // Text split by references and CDATA is one text node: the limit applies to the whole.
    let split = format!("<r>{}&amp;<![CDATA[{}]]></r>", "x".repeat(60), "y".repeat(60));
    assert!(matches!(
        parse(split.as_bytes(), &limits),
        Err(XmlError::TextTooLong { limit: 100, .. })
    ));
    let comment = format!("<r><!--{}--></r>", "c".repeat(101));
    assert!(matches!(
        parse(comment.as_bytes(), &limits),
        Err(XmlError::TextTooLong { .. })
    ));
}

#[test]
fn overlong_attribute_value_is_rejected() {
    let limits = Limits {
        max_text_bytes: 100,
        ..Limits::default()
    };
    let xml = format!("<r big=\"{}\"/>", "v".repeat(101));
    let err = parse(xml.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        err,
        XmlError::AttributeValueTooLong {
            element: "r".into(),
            attribute: "big".into(),
            length: 101,
            limit: 100,
            offset: 0
        }
    );
}

#[test]
fn too_many_nodes_is_rejected() {
    let limits = Limits {
        max_nodes: 10,
        ..Limits::default()
    };
    let xml = format!("<r>{}</r>", "<e/>".repeat(10));
    assert!(matches!(
        parse(xml.as_bytes(), &limits),
        Err(XmlError::TooManyNodes { limit: 10, .. })
    ));
}

#[test]
fn encodings_other_than_utf8_are_rejected() {
    assert_eq!(
        parse(b"<r>\xff</r>", &Limits::default()).unwrap_err(),
        XmlError::NotUtf8 { offset: 3 }
    );
    assert_eq!(
        parse_default("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>").unwrap_err(),
        XmlError::UnsupportedEncoding {
            encoding: "ISO-8859-1".into()
        }
    );
    assert_eq!(
        parse_default("<?xml version=\"1.1\"?><r/>").unwrap_err(),
        XmlError::UnsupportedVersion {
            version: "1.1".into()
        }
    );
    // A UTF-8 byte order mark is fine.
    assert!(parse("\u{FEFF}<r/>".as_bytes(), &Limits::default()).is_ok());
}

#[test]
fn xml_1_0_section_2_2_illegal_characters_are_rejected() {
    assert_eq!(
        parse_default("<r>\u{1}</r>").unwrap_err(),
        XmlError::InvalidCharacter {
            codepoint: 1,
            offset: 3
        }
    );
    assert!(matches!(
        parse_default("<r>&#0;</r>"),
        Err(XmlError::InvalidCharacterReference { .. })
    ));
    assert!(matches!(
        parse_default("<r a=\"&#xFFFE;\"/>"),
        Err(XmlError::InvalidCharacterReference { .. })
    ));
}

#[test]
fn namespaces_in_xml_violations_are_rejected() {
    assert_eq!(
        parse_default("<r><p:x/></r>").unwrap_err(),
        XmlError::UnboundPrefix {
            prefix: "p".into(),
            offset: 3
        }
    );
    assert!(matches!(
        parse_default("<r q:a=\"1\"/>"),
        Err(XmlError::UnboundPrefix { .. })
    ));
    // Namespaces §6.3: same expanded name through two prefixes.
    assert!(matches!(
        parse_default("<r xmlns:a=\"urn:x\" xmlns:b=\"urn:x\" a:n=\"1\" b:n=\"2\"/>"),
        Err(XmlError::DuplicateAttribute { .. })
    ));
    assert!(matches!(
        parse_default("<r a=\"1\" a=\"2\"/>"),
        Err(XmlError::Malformed { .. })
    ));
    for bad in [
        "<r xmlns:p=\"\"/>",
        "<r xmlns:xml=\"urn:other\"/>",
        "<r xmlns:x=\"http://www.w3.org/XML/1998/namespace\"/>",
        "<r xmlns:xmlns=\"urn:x\"/>",
        "<r xmlns=\"http://www.w3.org/2000/xmlns/\"/>",
    ] {
        assert!(
            matches!(
                parse_default(bad),
                Err(XmlError::InvalidNamespaceDeclaration { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        parse_default("<a:b:c xmlns:a=\"urn:a\"/>"),
        Err(XmlError::InvalidName { .. })
    ));
}

#[test]
fn document_structure_violations_are_rejected() {
    assert_eq!(parse_default("").unwrap_err(), XmlError::NoRootElement);
    assert_eq!(
        parse_default("<!-- only -->").unwrap_err(),
        XmlError::NoRootElement
    );
    assert_eq!(
        parse_default("<a/><b/>").unwrap_err(),
        XmlError::MultipleRootElements { offset: 4 }
    );
    assert_eq!(
        parse_default("text<a/>").unwrap_err(),
        XmlError::ContentOutsideRoot { offset: 0 }
    );
    assert!(matches!(parse_default("<a>"), Err(XmlError::Malformed { .. })));
    assert!(matches!(
        parse_default("<a></b>"),
        Err(XmlError::Malformed { .. })
    ));
    assert!(matches!(
        parse_default("<a>]]></a>"),
        Err(XmlError::Malformed { .. })
    ));
    assert!(matches!(
        parse_default("<a><!-- a -- b --></a>"),
        Err(XmlError::Malformed { .. })
    ));
    assert!(matches!(
        parse_default("<a/><?xml version=\"1.0\"?>"),
        Err(XmlError::Malformed { .. })
    ));
    assert!(matches!(
        parse_default("<a a=\"<\"/>"),
        Err(XmlError::Malformed { .. })
    ));
}

#[test]
fn comments_do_not_truncate_text_content() {
    // CERT VU#475445: reading only the first text node of `user@x<!---->.evil` gives `user@x`.
    let doc = parse_default("<NameID>user@example.it<!---->.evil.example</NameID>").unwrap();
    assert_eq!(
        doc.text_content(doc.document_element()),
        "user@example.it.evil.example"
    );
}

#[test]
fn deep_nesting_allowed_by_generous_limits_does_not_overflow_the_stack() {
    // The tree and canonicalization walk iteratively, so a caller's large depth limit is safe.
    let limits = Limits {
        max_depth: 100_000,
        max_nodes: 200_000,
        ..Limits::default()
    };
    let depth = 50_000;
    let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let doc = parse(xml.as_bytes(), &limits).unwrap();
    let out = snodo_security::c14n::Canonicalization::new(snodo_security::c14n::Algorithm::Exclusive)
        .document(&doc, &[])
        .unwrap();
    assert_eq!(out, xml.as_bytes());
}
