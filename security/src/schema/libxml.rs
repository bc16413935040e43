//! The unsafe part: compiling a schema and validating bytes with libxml2, with every pointer owned by
//! a Rust value that frees it, errors collected through libxml2's structured-error callbacks (per
//! context, so threads never see each other's errors), and network access off process-wide.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Mutex, Once};

use super::error::{Problem, SchemaError, mask_values};
use super::ffi;

/// At most this many problems are kept per document: a hostile document can make libxml2 report one
/// per element.
const MAX_PROBLEMS: usize = 32;

pub(super) struct CompiledSchema(NonNull<ffi::XmlSchema>);

// SAFETY: a compiled xmlSchema is never modified after xmlSchemaParse returns; libxml2 validates
// against it through separate validation contexts, one per call here, which is how libxml2 documents
// sharing a schema between threads.
unsafe impl Send for CompiledSchema {}
unsafe impl Sync for CompiledSchema {}

impl Drop for CompiledSchema {
    fn drop(&mut self) {
        // SAFETY: the pointer came from xmlSchemaParse and is freed exactly once.
        unsafe { ffi::xmlSchemaFree(self.0.as_ptr()) }
    }
}

impl CompiledSchema {
    pub(super) fn compile(path: &Path) -> Result<CompiledSchema, SchemaError> {
        initialize();
        if let Some(dir) = path.parent() {
            let mut dirs = SCHEMA_DIRECTORIES.lock().unwrap_or_else(|e| e.into_inner());
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_owned());
            }
        }
        let c_path = path_to_cstring(path)?;
        let mut problems = Problems::default();
        // SAFETY: c_path outlives the parser context; the error callback's user data points at
        // `problems`, which outlives the context (freed below before `problems` is read).
        let schema = unsafe {
            let ctxt = ffi::xmlSchemaNewParserCtxt(c_path.as_ptr());
            if ctxt.is_null() {
                return Err(SchemaError::Unreadable {
                    path: path.to_owned(),
                    reason: "libxml2 could not create a schema parser".into(),
                });
            }
            ffi::xmlSchemaSetParserStructuredErrors(
                ctxt,
                Some(collect_schema_problem),
                &mut problems as *mut Problems as *mut c_void,
            );
            let schema = ffi::xmlSchemaParse(ctxt);
            ffi::xmlSchemaFreeParserCtxt(ctxt);
            schema
        };
        match NonNull::new(schema) {
            Some(schema) if problems.errors == 0 => Ok(CompiledSchema(schema)),
            Some(schema) => {
                // SAFETY: freed once; not wrapped.
                unsafe { ffi::xmlSchemaFree(schema.as_ptr()) };
                Err(SchemaError::Compile {
                    path: path.to_owned(),
                    problems: problems.list,
                })
            }
            None => Err(SchemaError::Compile {
                path: path.to_owned(),
                problems: problems.list,
            }),
        }
    }

    /// Validates bytes the screening parser has accepted (or that this crate serialized).
    pub(super) fn validate_screened(&self, xml: &[u8], schema_name: String) -> Result<(), SchemaError> {
        let size = c_int::try_from(xml.len()).map_err(|_| SchemaError::Serialization {
            reason: format!("{} bytes is more than libxml2 can take at once", xml.len()),
        })?;
        let doc = ParsedDoc::read(xml, size)?;
        let mut problems = Problems::default();
        // SAFETY: the schema and document outlive the validation context, freed before returning;
        // `problems` outlives it too.
        let outcome = unsafe {
            let vctxt = ffi::xmlSchemaNewValidCtxt(self.0.as_ptr());
            if vctxt.is_null() {
                return Err(SchemaError::Internal { schema: schema_name });
            }
            ffi::xmlSchemaSetValidStructuredErrors(
                vctxt,
                Some(collect_problem),
                &mut problems as *mut Problems as *mut c_void,
            );
            let outcome = ffi::xmlSchemaValidateDoc(vctxt, doc.0.as_ptr());
            ffi::xmlSchemaFreeValidCtxt(vctxt);
            outcome
        };
        match outcome {
            0 => Ok(()),
            n if n > 0 => Err(SchemaError::Invalid {
                schema: schema_name,
                problems: problems.list,
            }),
            _ => Err(SchemaError::Internal { schema: schema_name }),
        }
    }
}

/// A libxml2 document, freed on drop.
struct ParsedDoc(NonNull<ffi::XmlDoc>);

impl Drop for ParsedDoc {
    fn drop(&mut self) {
        // SAFETY: from xmlCtxtReadMemory, freed once.
        unsafe { ffi::xmlFreeDoc(self.0.as_ptr()) }
    }
}

impl ParsedDoc {
    fn read(xml: &[u8], size: c_int) -> Result<ParsedDoc, SchemaError> {
        initialize();
        let options = ffi::XML_PARSE_NONET | ffi::XML_PARSE_NOERROR | ffi::XML_PARSE_NOWARNING;
        // SAFETY: the buffer is valid for `size` bytes for the duration of the call; the parser context
        // is freed before returning, after its last error has been copied out.
        unsafe {
            let ctxt = ffi::xmlNewParserCtxt();
            if ctxt.is_null() {
                return Err(SchemaError::Reparse {
                    problems: vec![Problem {
                        line: 0,
                        message: "out of memory".into(),
                    }],
                });
            }
            let doc = ffi::xmlCtxtReadMemory(
                ctxt,
                xml.as_ptr() as *const c_char,
                size,
                std::ptr::null(),
                c"UTF-8".as_ptr(),
                options,
            );
            let result = match NonNull::new(doc) {
                Some(doc) => Ok(ParsedDoc(doc)),
                None => {
                    let error = ffi::xmlCtxtGetLastError(ctxt as *mut c_void);
                    let problem = problem_from(error, true).unwrap_or(Problem {
                        line: 0,
                        message: "no error reported".into(),
                    });
                    Err(SchemaError::Reparse {
                        problems: vec![problem],
                    })
                }
            };
            ffi::xmlFreeParserCtxt(ctxt);
            result
        }
    }
}

#[derive(Default)]
struct Problems {
    list: Vec<Problem>,
    errors: usize,
}

/// libxml2's structured error callback for documents: values masked. Must not unwind into C: it only
/// reads the error and pushes onto a bounded Vec.
unsafe extern "C" fn collect_problem(user_data: *mut c_void, error: *mut ffi::XmlError) {
    // SAFETY: forwarded as libxml2 gave them.
    unsafe { collect(user_data, error, true) }
}

/// The same for schema files, which are trusted configuration: their messages are kept whole.
unsafe extern "C" fn collect_schema_problem(user_data: *mut c_void, error: *mut ffi::XmlError) {
    // SAFETY: forwarded as libxml2 gave them.
    unsafe { collect(user_data, error, false) }
}

unsafe fn collect(user_data: *mut c_void, error: *mut ffi::XmlError, mask: bool) {
    if user_data.is_null() || error.is_null() {
        return;
    }
    // SAFETY: user_data is the `Problems` registered with the context that reports; libxml2 calls
    // back synchronously on the registering thread.
    let problems = unsafe { &mut *(user_data as *mut Problems) };
    // SAFETY: libxml2 passes a valid xmlError for the duration of the call.
    let level = unsafe { (*error).level };
    if level < ffi::XML_ERR_ERROR {
        return;
    }
    problems.errors += 1;
    if problems.list.len() < MAX_PROBLEMS
        && let Some(problem) = problem_from(error, mask)
    {
        problems.list.push(problem);
    }
}

fn problem_from(error: *const ffi::XmlError, mask: bool) -> Option<Problem> {
    if error.is_null() {
        return None;
    }
    // SAFETY: a non-null xmlError from libxml2; its message is NUL-terminated or null.
    let (line, message) = unsafe {
        let e = &*error;
        let message = if e.message.is_null() {
            String::from("(no message)")
        } else {
            CStr::from_ptr(e.message).to_string_lossy().into_owned()
        };
        (e.line, message)
    };
    Some(Problem {
        line: u32::try_from(line).unwrap_or(0),
        message: if mask {
            mask_values(&message)
        } else {
            message.trim_end().to_owned()
        },
    })
}

/// Directories of compiled schemas: where an import by W3C URL finds its local copy.
static SCHEMA_DIRECTORIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn initialize() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: called once, before any other libxml2 use in this process (this module is the only
        // user); installing the loader is process-wide by libxml2's design.
        unsafe {
            ffi::xmlInitParser();
            // The built-in XSD types are otherwise created lazily by the first schema compiled, and
            // two threads compiling their first schemas at once corrupt them (seen here as spurious
            // `anyType` restriction errors): create them once, now.
            ffi::xmlSchemaInitTypes();
            ffi::xmlSetExternalEntityLoader(Some(offline_loader));
        }
    });
}

/// Never lets libxml2 fetch anything: a remote URL is answered from the local file of the same name in
/// a schema directory (the W3C `xml.xsd` and `xmldsig-core-schema.xsd` imports of the SAML and
/// metadata schemas), or refused; local paths go through libxml2's no-network loader.
unsafe extern "C" fn offline_loader(
    url: *const c_char,
    id: *const c_char,
    ctxt: *mut ffi::XmlParserCtxt,
) -> *mut ffi::XmlParserInput {
    if url.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: libxml2 passes a NUL-terminated URL.
    let text = unsafe { CStr::from_ptr(url) }.to_string_lossy();
    if text.starts_with("http://") || text.starts_with("https://") || text.starts_with("ftp://") {
        let Some(local) = local_copy(&text) else {
            return std::ptr::null_mut();
        };
        let Ok(local) = path_to_cstring(&local) else {
            return std::ptr::null_mut();
        };
        // SAFETY: a valid local path; the no-network loader opens files only.
        return unsafe { ffi::xmlNoNetExternalEntityLoader(local.as_ptr(), id, ctxt) };
    }
    // SAFETY: arguments as libxml2 gave them.
    unsafe { ffi::xmlNoNetExternalEntityLoader(url, id, ctxt) }
}

fn local_copy(url: &str) -> Option<PathBuf> {
    let name = url
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && !n.contains(".."))?;
    let dirs = SCHEMA_DIRECTORIES.lock().unwrap_or_else(|e| e.into_inner());
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn path_to_cstring(path: &Path) -> Result<CString, SchemaError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SchemaError::Unreadable {
        path: path.to_owned(),
        reason: "path contains a NUL byte".into(),
    })
}
