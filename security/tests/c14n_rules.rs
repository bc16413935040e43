//! The canonicalization rules this crate implements, one test per rule with the expected bytes
//! written out, so that the rule can be read here; `c14n_interop.rs` checks the same behaviour
//! against xmlsec1/xmllint on a larger corpus.

use snodo_security::c14n::{Algorithm, C14nError, Canonicalization, InclusivePrefixes};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

fn doc(xml: &str) -> Document {
    parse_str(xml, &Limits::default()).expect("test document parses")
}

fn first_child_element(doc: &Document, parent: NodeId) -> NodeId {
    doc.child_elements(parent).next().expect("has a child element")
}

fn subtree(xml: &str, algorithm: Algorithm, prefixes: &str) -> String {
    let d = doc(xml);
    let apex = first_child_element(&d, d.document_element());
    let method =
        Canonicalization::new(algorithm).with_inclusive_prefixes(InclusivePrefixes::parse(prefixes).unwrap());
    String::from_utf8(method.subtree(&d, apex, &[]).unwrap()).unwrap()
}

fn document(xml: &str, algorithm: Algorithm) -> String {
    String::from_utf8(Canonicalization::new(algorithm).document(&doc(xml), &[]).unwrap()).unwrap()
}

#[test]
fn c14n_1_0_section_2_1_declaration_and_outside_whitespace_dropped_comments_and_pis_on_their_own_lines() {
    let xml = "<?xml version=\"1.0\"?>\n<!--a-->\n<?p d?>\n<r/>\n<!--z-->\n";
    assert_eq!(
        document(xml, Algorithm::InclusiveWithComments),
        "<!--a-->\n<?p d?>\n<r></r>\n<!--z-->"
    );
    assert_eq!(document(xml, Algorithm::Inclusive), "<?p d?>\n<r></r>");
}

#[test]
fn c14n_1_0_section_2_3_empty_elements_become_start_end_pairs_and_attributes_are_sorted() {
    let xml = "<r xmlns:b=\"urn:b\" xmlns:a=\"urn:a\" z=\"1\" b:y=\"2\" a:y=\"3\" a=\"4\"/>";
    assert_eq!(
        document(xml, Algorithm::Inclusive),
        "<r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" a=\"4\" z=\"1\" a:y=\"3\" b:y=\"2\"></r>"
    );
}

#[test]
fn c14n_1_0_section_2_3_text_and_attribute_escaping() {
    let xml = "<r a=\"&lt;&amp;&gt;&quot;'&#9;&#10;&#13;\tx\">&lt;&amp;&gt;\"'&#13;<![CDATA[<]]></r>";
    assert_eq!(
        document(xml, Algorithm::Inclusive),
        "<r a=\"&lt;&amp;>&quot;'&#x9;&#xA;&#xD; x\">&lt;&amp;&gt;\"'&#xD;&lt;</r>"
    );
}

#[test]
fn c14n_1_0_section_2_3_superfluous_namespace_declarations_are_removed() {
    let xml = "<r xmlns=\"urn:d\" xmlns:p=\"urn:p\"><p:a xmlns:p=\"urn:p\" xmlns=\"urn:d\"><b xmlns=\"\"/></p:a></r>";
    assert_eq!(
        document(xml, Algorithm::Inclusive),
        "<r xmlns=\"urn:d\" xmlns:p=\"urn:p\"><p:a><b xmlns=\"\"></b></p:a></r>"
    );
}

#[test]
fn c14n_1_0_section_2_4_subset_apex_renders_every_in_scope_namespace_and_inherits_xml_attributes() {
    let xml = "<r xmlns:u=\"urn:unused\" xml:lang=\"it\" xml:space=\"preserve\"><a xml:lang=\"en\"/></r>";
    assert_eq!(
        subtree(xml, Algorithm::Inclusive, ""),
        "<a xmlns:u=\"urn:unused\" xml:lang=\"en\" xml:space=\"preserve\"></a>"
    );
}

#[test]
fn exc_c14n_section_3_only_visibly_utilized_namespaces_and_no_xml_attribute_inheritance() {
    let xml = "<r xmlns:u=\"urn:unused\" xmlns:p=\"urn:p\" xml:lang=\"it\"><p:a><b/></p:a></r>";
    assert_eq!(
        subtree(xml, Algorithm::Exclusive, ""),
        "<p:a xmlns:p=\"urn:p\"><b></b></p:a>"
    );
}

#[test]
fn exc_c14n_section_3_a_namespace_is_rendered_where_first_utilized_not_where_declared() {
    let xml = "<r><a xmlns:p=\"urn:p\"><b><p:c p:x=\"1\"/><p:d/></b></a></r>";
    assert_eq!(
        subtree(xml, Algorithm::Exclusive, ""),
        "<a><b><p:c xmlns:p=\"urn:p\" p:x=\"1\"></p:c><p:d xmlns:p=\"urn:p\"></p:d></b></a>"
    );
}

#[test]
fn exc_c14n_section_3_inclusive_namespaces_prefix_list_keeps_qname_in_content_prefixes() {
    // xsi:type="xs:string" uses xs only in content: exclusive C14N drops it unless listed.
    let xml = "<r xmlns:xs=\"urn:xs\" xmlns:xsi=\"urn:xsi\"><v xsi:type=\"xs:string\"/></r>";
    assert_eq!(
        subtree(xml, Algorithm::Exclusive, ""),
        "<v xmlns:xsi=\"urn:xsi\" xsi:type=\"xs:string\"></v>"
    );
    assert_eq!(
        subtree(xml, Algorithm::Exclusive, "xs"),
        "<v xmlns:xs=\"urn:xs\" xmlns:xsi=\"urn:xsi\" xsi:type=\"xs:string\"></v>"
    );
}

#[test]
fn exc_c14n_default_namespace_undeclaration_only_where_the_default_is_utilized() {
    let xml = "<r xmlns=\"urn:d\"><a><p:b xmlns:p=\"urn:p\" xmlns=\"\"><c/></p:b></a></r>";
    assert_eq!(
        subtree(xml, Algorithm::Exclusive, ""),
        "<a xmlns=\"urn:d\"><p:b xmlns:p=\"urn:p\"><c xmlns=\"\"></c></p:b></a>"
    );
    assert_eq!(
        subtree(xml, Algorithm::Exclusive, "#default"),
        "<a xmlns=\"urn:d\"><p:b xmlns=\"\" xmlns:p=\"urn:p\"><c></c></p:b></a>"
    );
}

#[test]
fn comments_are_kept_only_by_the_with_comments_algorithms() {
    let xml = "<r><a>x<!--c-->y</a></r>";
    assert_eq!(subtree(xml, Algorithm::Exclusive, ""), "<a>xy</a>");
    assert_eq!(
        subtree(xml, Algorithm::ExclusiveWithComments, ""),
        "<a>x<!--c-->y</a>"
    );
}

#[test]
fn enveloped_signature_transform_excludes_the_signature_subtree() {
    let d = doc("<r ID=\"x\"><a/><ds:Signature xmlns:ds=\"urn:ds\"><ds:V/></ds:Signature><b/></r>");
    let root = d.document_element();
    let signature = d.child_elements(root).nth(1).unwrap();
    let out = Canonicalization::new(Algorithm::Exclusive)
        .subtree(&d, root, &[signature])
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "<r ID=\"x\"><a></a><b></b></r>");
}

#[test]
fn algorithms_are_known_by_their_xml_dsig_uris() {
    for algorithm in Algorithm::ALL {
        assert_eq!(Algorithm::from_uri(algorithm.uri()), Some(algorithm));
    }
    assert_eq!(Algorithm::from_uri("http://www.w3.org/2006/12/xml-c14n11"), None);
}

#[test]
fn prefix_list_entries_must_be_prefixes_or_default() {
    let parsed = InclusivePrefixes::parse("  xs #default\txsi xs ").unwrap();
    assert!(parsed.includes_default());
    assert_eq!(parsed.prefixes(), ["xs", "xsi"]);
    assert_eq!(
        InclusivePrefixes::parse("a b:c"),
        Err(C14nError::InvalidPrefixList { entry: "b:c".into() })
    );
}

#[test]
fn only_elements_can_be_an_apex() {
    let d = doc("<r>text</r>");
    let text = d.children(d.document_element()).next().unwrap();
    assert_eq!(
        Canonicalization::new(Algorithm::Exclusive).subtree(&d, text, &[]),
        Err(C14nError::NotAnElement { node: text })
    );
}

#[test]
fn namespace_names_that_are_not_uris_fail_canonicalization() {
    let d = doc("<r xmlns:p=\"urn:a b\"><p:x/></r>");
    assert!(matches!(
        Canonicalization::new(Algorithm::Inclusive).document(&d, &[]),
        Err(C14nError::InvalidNamespaceUri { .. })
    ));
}
