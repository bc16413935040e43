//! The handful of libxml2 functions schema validation needs, declared by hand.
//!
//! A dozen declarations are easier to audit than generated bindings for all of libxml2, and they pin
//! exactly which C entry points Snodo calls. Signatures follow libxml2 2.9's public headers
//! (`xmlschemas.h`, `parser.h`, `xmlerror.h`); the layout of [`XmlError`] is part of libxml2's stable ABI.

use std::ffi::{c_char, c_int, c_void};

#[repr(C)]
pub struct XmlSchema {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XmlSchemaParserCtxt {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XmlSchemaValidCtxt {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XmlDoc {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XmlParserCtxt {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XmlParserInput {
    _private: [u8; 0],
}

/// `xmlError` (xmlerror.h).
#[repr(C)]
pub struct XmlError {
    pub domain: c_int,
    pub code: c_int,
    pub message: *const c_char,
    pub level: c_int,
    pub file: *const c_char,
    pub line: c_int,
    pub str1: *const c_char,
    pub str2: *const c_char,
    pub str3: *const c_char,
    pub int1: c_int,
    pub int2: c_int,
    pub ctxt: *mut c_void,
    pub node: *mut c_void,
}

/// `XML_ERR_WARNING`: below this level nothing is reported; warnings do not make a document invalid.
pub const XML_ERR_ERROR: c_int = 2;

/// `xmlParserOption` values used when libxml2 re-reads an already screened document: never touch the
/// network, report errors only through the context, keep entities unexpanded (there are none: the
/// screening parser refused every DOCTYPE).
pub const XML_PARSE_NOERROR: c_int = 1 << 5;
pub const XML_PARSE_NOWARNING: c_int = 1 << 6;
pub const XML_PARSE_NONET: c_int = 1 << 11;

pub type XmlStructuredErrorFunc = unsafe extern "C" fn(user_data: *mut c_void, error: *mut XmlError);
pub type XmlExternalEntityLoader = unsafe extern "C" fn(
    url: *const c_char,
    id: *const c_char,
    ctxt: *mut XmlParserCtxt,
) -> *mut XmlParserInput;

#[link(name = "xml2")]
unsafe extern "C" {
    pub fn xmlInitParser();
    pub fn xmlSchemaInitTypes() -> c_int;

    pub fn xmlSchemaNewParserCtxt(url: *const c_char) -> *mut XmlSchemaParserCtxt;
    pub fn xmlSchemaSetParserStructuredErrors(
        ctxt: *mut XmlSchemaParserCtxt,
        serror: Option<XmlStructuredErrorFunc>,
        ctx: *mut c_void,
    );
    pub fn xmlSchemaParse(ctxt: *mut XmlSchemaParserCtxt) -> *mut XmlSchema;
    pub fn xmlSchemaFreeParserCtxt(ctxt: *mut XmlSchemaParserCtxt);
    pub fn xmlSchemaFree(schema: *mut XmlSchema);

    pub fn xmlSchemaNewValidCtxt(schema: *mut XmlSchema) -> *mut XmlSchemaValidCtxt;
    pub fn xmlSchemaSetValidStructuredErrors(
        ctxt: *mut XmlSchemaValidCtxt,
        serror: Option<XmlStructuredErrorFunc>,
        ctx: *mut c_void,
    );
    pub fn xmlSchemaValidateDoc(ctxt: *mut XmlSchemaValidCtxt, doc: *mut XmlDoc) -> c_int;
    pub fn xmlSchemaFreeValidCtxt(ctxt: *mut XmlSchemaValidCtxt);

    pub fn xmlNewParserCtxt() -> *mut XmlParserCtxt;
    pub fn xmlCtxtReadMemory(
        ctxt: *mut XmlParserCtxt,
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut XmlDoc;
    pub fn xmlCtxtGetLastError(ctx: *mut c_void) -> *mut XmlError;
    pub fn xmlFreeParserCtxt(ctxt: *mut XmlParserCtxt);
    pub fn xmlFreeDoc(doc: *mut XmlDoc);

    pub fn xmlSetExternalEntityLoader(f: Option<XmlExternalEntityLoader>);
    pub fn xmlNoNetExternalEntityLoader(
        url: *const c_char,
        id: *const c_char,
        ctxt: *mut XmlParserCtxt,
    ) -> *mut XmlParserInput;
}
