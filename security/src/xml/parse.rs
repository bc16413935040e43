//! The screening parser: bytes from outside in, a [`Document`] or a typed [`XmlError`] out.
//!
//! An attacker controls every byte of a SAML Response or a SOAP answer, so the parser is the first
//! line of defence and refuses, before building anything large:
//! - any DOCTYPE (billion laughs, external entities/XXE, DTD-declared ID attributes; spid-and-cie-id.md
//!   §5 "XXE / external DTD / billion laughs / huge input");
//! - any entity reference except the five predefined ones and character references (never expanded);
//! - documents over the size limit, elements nested too deep, too many attributes on one element,
//!   too many nodes, text or attribute values too long ([`Limits`]);
//! - what XML 1.0 and Namespaces in XML 1.0 call not well-formed, where quick-xml is lenient: illegal
//!   characters and names, unbound prefixes, duplicate expanded attribute names, reserved namespace
//!   bindings, content outside the root element.
//!
//! quick-xml (pure Rust, no entity expansion) tokenizes; everything else is decided here.

use quick_xml::events::{BytesDecl, BytesPI, BytesStart, Event};
use quick_xml::reader::Reader;

use super::chars::{
    check_chars, is_ncname, normalize_attribute_value, normalize_line_ends, resolve_reference, split_qname,
};
use super::scope::Scopes;
use super::tree::{
    AttributeData, DeclarationData, Document, ElementData, NameData, NodeData, NodeId, Span, XML_NAMESPACE,
    XMLNS_NAMESPACE,
};
use super::{Limits, XmlError};

/// Parses and screens `input` (UTF-8, as received) under `limits`.
pub fn parse(input: &[u8], limits: &Limits) -> Result<Document, XmlError> {
    // The size limit comes first so that no other work is done on an oversized body.
    check_size(input.len(), limits)?;
    let text = std::str::from_utf8(input).map_err(|e| XmlError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    parse_str(text, limits)
}

/// As [`parse`], for input already known to be UTF-8.
pub fn parse_str(input: &str, limits: &Limits) -> Result<Document, XmlError> {
    check_size(input.len(), limits)?;
    let (body, base) = match input.strip_prefix('\u{FEFF}') {
        Some(rest) => (rest, '\u{FEFF}'.len_utf8()),
        None => (input, 0),
    };
    // One pass over every byte settles XML 1.0 §2.2 for text, attributes, comments and names alike.
    check_chars(body, base)?;

    let mut reader = Reader::from_str(body);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true; // XML 1.0 §2.5: "--" is not allowed inside a comment
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let mut builder = Builder {
        doc: Document::new(body.len()),
        limits,
        open: Vec::new(),
        scopes: Scopes::new(),
        pending: Vec::new(),
        root_seen: false,
    };
    loop {
        let offset = base + position(reader.buffer_position());
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            offset: base + position(reader.error_position()),
            reason: e.to_string(),
        })?;
        match event {
            Event::Decl(decl) => builder.declaration(&decl, offset, offset == base)?,
            Event::DocType(_) => return Err(XmlError::DoctypeForbidden { offset }),
            Event::PI(pi) => builder.processing_instruction(&pi, offset)?,
            Event::Comment(comment) => builder.comment(&comment.xml10_content(), offset)?,
            Event::Start(start) => builder.start(&start, offset, false)?,
            Event::Empty(start) => builder.start(&start, offset, true)?,
            Event::End(_) => builder.end(),
            Event::Text(text) => {
                let raw = text.into_inner();
                if raw.contains("]]>") {
                    // XML 1.0 §2.4: the literal "]]>" may not appear in content.
                    return Err(XmlError::Malformed {
                        offset,
                        reason: "\"]]>\" in character data".into(),
                    });
                }
                builder.text(&normalize_line_ends(&raw), offset, true)?;
            }
            Event::CData(cdata) => builder.text(&cdata.xml10_content(), offset, false)?,
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference, offset)?;
                builder.text(c.encode_utf8(&mut [0; 4]), offset, false)?;
            }
            Event::Eof => return builder.finish(input.len()),
        }
    }
}

fn check_size(size: usize, limits: &Limits) -> Result<(), XmlError> {
    // Spans are 32-bit: whatever the configured limit, no input reaches 4 GiB.
    if size > limits.max_document_bytes || u32::try_from(size).is_err() {
        return Err(XmlError::TooLarge {
            size,
            limit: limits.max_document_bytes,
        });
    }
    Ok(())
}

fn position(p: u64) -> usize {
    usize::try_from(p).expect("positions are within an in-memory input")
}

struct Builder<'l> {
    doc: Document,
    limits: &'l Limits,
    /// Open elements, innermost last, with the scope mark to unwind to when each closes.
    open: Vec<(NodeId, usize)>,
    /// Namespace URIs in scope by prefix; the default namespace is the key "".
    scopes: Scopes<Span>,
    /// Attributes of the start tag being read: prefix, local name, value (reused across elements).
    pending: Vec<(Option<Span>, Span, Span)>,
    root_seen: bool,
}

impl Builder<'_> {
    fn current(&self) -> NodeId {
        self.open.last().map_or(self.doc.root(), |&(id, _)| id)
    }

    fn append(&mut self, parent: NodeId, data: NodeData, offset: usize) -> Result<NodeId, XmlError> {
        if self.doc.len() >= self.limits.max_nodes {
            return Err(XmlError::TooManyNodes {
                limit: self.limits.max_nodes,
                offset,
            });
        }
        Ok(self.doc.append(parent, data))
    }

    fn declaration(&mut self, decl: &BytesDecl<'_>, offset: usize, at_start: bool) -> Result<(), XmlError> {
        if !at_start {
            // XML 1.0 §2.8: the declaration, if any, is the very first thing in the document.
            return Err(XmlError::Malformed {
                offset,
                reason: "XML declaration not at the start".into(),
            });
        }
        let malformed = |e: &dyn std::fmt::Display| XmlError::Malformed {
            offset,
            reason: e.to_string(),
        };
        let version = decl.version().map_err(|e| malformed(&e))?;
        if version != "1.0" {
            return Err(XmlError::UnsupportedVersion {
                version: version.into_owned(),
            });
        }
        if let Some(encoding) = decl.encoding() {
            let encoding = encoding.map_err(|e| malformed(&e))?;
            if !encoding.eq_ignore_ascii_case("UTF-8") {
                return Err(XmlError::UnsupportedEncoding {
                    encoding: encoding.into_owned(),
                });
            }
        }
        Ok(())
    }

    fn processing_instruction(&mut self, pi: &BytesPI<'_>, offset: usize) -> Result<(), XmlError> {
        let target = pi.target();
        // XML 1.0 §2.6: targets matching [Xx][Mm][Ll] are reserved; Namespaces §7: no colon.
        if !is_ncname(target) || target.eq_ignore_ascii_case("xml") {
            return Err(XmlError::InvalidName {
                name: target.to_owned(),
                offset,
            });
        }
        let data = pi.content().trim_start_matches([' ', '\t', '\r', '\n']);
        self.check_text_length(data.len(), offset)?;
        let target = self.doc.intern(target);
        let data = self.doc.intern(&normalize_line_ends(data));
        self.append(
            self.current(),
            NodeData::ProcessingInstruction { target, data },
            offset,
        )?;
        Ok(())
    }

    fn comment(&mut self, text: &str, offset: usize) -> Result<(), XmlError> {
        if text.ends_with('-') {
            // XML 1.0 §2.5: a comment may not end in "--->".
            return Err(XmlError::Malformed {
                offset,
                reason: "comment ends with '-'".into(),
            });
        }
        self.check_text_length(text.len(), offset)?;
        let span = self.doc.intern(text);
        self.append(self.current(), NodeData::Comment(span), offset)?;
        Ok(())
    }

    fn check_text_length(&self, length: usize, offset: usize) -> Result<(), XmlError> {
        if length > self.limits.max_text_bytes {
            return Err(XmlError::TextTooLong {
                limit: self.limits.max_text_bytes,
                offset,
            });
        }
        Ok(())
    }

    /// Character data, merged with a preceding text node as the XPath data model requires.
    /// `whitespace_allowed_outside` is true for literal text, which may be whitespace outside the root.
    fn text(&mut self, text: &str, offset: usize, whitespace_allowed_outside: bool) -> Result<(), XmlError> {
        let Some(&(parent, _)) = self.open.last() else {
            // XML 1.0 §2.1/§2.8: only whitespace (Misc) may stand outside the document element.
            if whitespace_allowed_outside && text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                return Ok(());
            }
            return Err(XmlError::ContentOutsideRoot { offset });
        };
        if text.is_empty() {
            return Ok(());
        }
        if let Some(last) = self.doc.node(parent).last_child
            && let NodeData::Text(existing) = self.doc.node(last).data
        {
            if existing.len as usize + text.len() > self.limits.max_text_bytes {
                return Err(XmlError::TextTooLong {
                    limit: self.limits.max_text_bytes,
                    offset,
                });
            }
            // Nothing else is written to the buffer between adjacent pieces of one text node.
            debug_assert_eq!(existing.end(), self.doc.strings.len());
            let added = self.doc.intern(text);
            if let NodeData::Text(span) = &mut self.doc.node_mut(last).data {
                span.len += added.len;
            }
            return Ok(());
        }
        self.check_text_length(text.len(), offset)?;
        let span = self.doc.intern(text);
        self.append(parent, NodeData::Text(span), offset)?;
        Ok(())
    }

    fn start(&mut self, start: &BytesStart<'_>, offset: usize, empty: bool) -> Result<(), XmlError> {
        if self.open.is_empty() && self.root_seen {
            return Err(XmlError::MultipleRootElements { offset });
        }
        let depth = self.open.len() + 1;
        if depth > self.limits.max_depth {
            return Err(XmlError::TooDeep {
                depth,
                limit: self.limits.max_depth,
                offset,
            });
        }
        let qname = start.name().0;
        let (prefix, local) = split_qname(qname, offset)?;
        check_attribute_separation(start.attributes_raw(), offset)?;

        let mark = self.scopes.mark();
        let declarations_start = self.doc.declarations.len();
        self.pending.clear();
        let mut count = 0;
        // With checks on, quick-xml refuses unquoted values and attributes repeated verbatim.
        for attribute in start.attributes().with_checks(true) {
            let attribute = attribute.map_err(|e| XmlError::Malformed {
                offset,
                reason: e.to_string(),
            })?;
            count += 1;
            if count > self.limits.max_attributes {
                return Err(XmlError::TooManyAttributes {
                    element: qname.to_owned(),
                    limit: self.limits.max_attributes,
                    offset,
                });
            }
            let key = attribute.key.0;
            let value = normalize_attribute_value(&attribute.value, offset)?;
            if value.len() > self.limits.max_text_bytes {
                return Err(XmlError::AttributeValueTooLong {
                    element: qname.to_owned(),
                    attribute: key.to_owned(),
                    length: value.len(),
                    limit: self.limits.max_text_bytes,
                    offset,
                });
            }
            match split_qname(key, offset)? {
                (None, "xmlns") => self.declare(None, &value, qname, offset)?,
                (Some("xmlns"), p) => self.declare(Some(p), &value, qname, offset)?,
                (p, l) => {
                    let prefix = p.map(|p| self.doc.intern(p));
                    let local = self.doc.intern(l);
                    let value = self.doc.intern(&value);
                    self.pending.push((prefix, local, value));
                }
            }
        }
        // Bindings take effect for the element's own name and attributes (Namespaces §5).
        for d in &self.doc.declarations[declarations_start..] {
            let key = d.prefix.map_or("", |p| self.doc.str(p));
            self.scopes.push(key, d.uri);
        }

        let name = NameData {
            prefix: prefix.map(|p| self.doc.intern(p)),
            local: self.doc.intern(local),
            namespace: self.resolve(prefix, offset)?,
        };
        let attributes_start = self.doc.attributes.len();
        for i in 0..self.pending.len() {
            let (attr_prefix, attr_local, value) = self.pending[i];
            // Namespaces §6.2: an unprefixed attribute is in no namespace, whatever the default.
            let namespace = match attr_prefix {
                None => None,
                Some(p) => {
                    let p = self.doc.str(p).to_owned();
                    self.resolve(Some(&p), offset)?
                }
            };
            let attribute = AttributeData {
                name: NameData {
                    prefix: attr_prefix,
                    local: attr_local,
                    namespace,
                },
                value,
            };
            // Namespaces §6.3: no two attributes with the same expanded name (a:x and b:x with a, b
            // bound to one URI), which quick-xml's verbatim check cannot see.
            let doc = &self.doc;
            let same = |a: &AttributeData| {
                doc.str(a.name.local) == doc.str(attr_local)
                    && a.name.namespace.map(|s| doc.str(s)) == namespace.map(|s| doc.str(s))
            };
            if doc.attributes[attributes_start..].iter().any(same) {
                let written = attr_prefix.map_or_else(String::new, |p| format!("{}:", doc.str(p)));
                return Err(XmlError::DuplicateAttribute {
                    element: qname.to_owned(),
                    name: format!("{written}{}", doc.str(attr_local)),
                    offset,
                });
            }
            self.doc.attributes.push(attribute);
        }

        let element = ElementData {
            name,
            declarations: index(declarations_start)..index(self.doc.declarations.len()),
            attributes: index(attributes_start)..index(self.doc.attributes.len()),
            offset,
        };
        let parent = self.current();
        let id = self.append(parent, NodeData::Element(element), offset)?;
        if parent == self.doc.root() {
            self.root_seen = true;
            self.doc.document_element = id;
        }
        if empty {
            self.scopes.truncate(mark);
        } else {
            self.open.push((id, mark));
        }
        Ok(())
    }

    /// The namespace of `prefix` (`None`: the default namespace) in the current scope.
    fn resolve(&self, prefix: Option<&str>, offset: usize) -> Result<Option<Span>, XmlError> {
        if prefix == Some("xml") {
            return Ok(Some(Span::XML));
        }
        // An empty value is the xmlns="" undeclaration: no default namespace.
        match (
            self.scopes.get(prefix.unwrap_or("")).filter(|uri| uri.len > 0),
            prefix,
        ) {
            (Some(uri), _) => Ok(Some(uri)),
            (None, None) => Ok(None),
            (None, Some(p)) => Err(XmlError::UnboundPrefix {
                prefix: p.to_owned(),
                offset,
            }),
        }
    }

    /// Records a namespace declaration after the checks of Namespaces in XML 1.0 §3.
    fn declare(
        &mut self,
        prefix: Option<&str>,
        uri: &str,
        element: &str,
        offset: usize,
    ) -> Result<(), XmlError> {
        let refuse = |reason: &'static str| XmlError::InvalidNamespaceDeclaration {
            element: element.to_owned(),
            attribute: prefix.map_or_else(|| "xmlns".to_owned(), |p| format!("xmlns:{p}")),
            uri: uri.to_owned(),
            reason,
            offset,
        };
        match prefix {
            Some("xmlns") => return Err(refuse("the xmlns prefix cannot be declared")),
            Some("xml") if uri == XML_NAMESPACE => return Ok(()), // allowed, and implicit anyway
            Some("xml") => return Err(refuse("the xml prefix is bound to the XML namespace only")),
            Some(_) if uri.is_empty() => return Err(refuse("a prefix cannot be undeclared in XML 1.0")),
            _ => {}
        }
        if uri == XML_NAMESPACE {
            return Err(refuse("the XML namespace is bound to the xml prefix only"));
        }
        if uri == XMLNS_NAMESPACE {
            return Err(refuse("the xmlns namespace cannot be bound"));
        }
        let prefix = prefix.map(|p| self.doc.intern(p));
        let uri = self.doc.intern(uri);
        self.doc.declarations.push(DeclarationData { prefix, uri });
        Ok(())
    }

    fn end(&mut self) {
        // quick-xml has already matched the end tag against the open start tag (check_end_names).
        if let Some((_, mark)) = self.open.pop() {
            self.scopes.truncate(mark);
        }
    }

    fn finish(self, end: usize) -> Result<Document, XmlError> {
        if let Some(&(open, _)) = self.open.last() {
            let name = self
                .doc
                .element(open)
                .map(|e| e.name().qualified())
                .unwrap_or_default();
            return Err(XmlError::Malformed {
                offset: end,
                reason: format!("element <{name}> is not closed"),
            });
        }
        if !self.root_seen {
            return Err(XmlError::NoRootElement);
        }
        Ok(self.doc)
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).expect("attribute and declaration counts are bounded by the input size")
}

/// XML 1.0 §3.1 (production `STag`): attributes are separated by whitespace. quick-xml accepts
/// `a="1"b="2"`, libxml2 does not; such a parser differential is what signature bypasses are made of,
/// so we refuse it too.
fn check_attribute_separation(raw: &str, offset: usize) -> Result<(), XmlError> {
    let mut quote: Option<char> = None;
    let mut after_value = false;
    for c in raw.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                after_value = true;
            }
            Some(_) => {}
            None => {
                if after_value && !matches!(c, ' ' | '\t' | '\r' | '\n' | '/') {
                    return Err(XmlError::Malformed {
                        offset,
                        reason: "attributes not separated by whitespace".into(),
                    });
                }
                after_value = false;
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    Ok(())
}
