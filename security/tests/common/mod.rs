//! Helpers shared by the integration tests: the independent oracles (xmlsec1 and xmllint, both
//! libxml2-based, Debian packages) and the corpus.
//!
//! The oracles are required, never optional: a missing tool fails the test with the command that
//! installs it (`scripts/test` installs both), because a skipped interoperability test would let a
//! canonicalization bug reach signatures unnoticed.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use snodo_security::xml::{Document, NodeId, NodeKind};

pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The path of `tool`, or a panic that says how to install it.
pub fn require_tool(tool: &str, debian_package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!(
            "`{tool}` is not installed: it is the independent oracle of these interoperability tests, \
             which never skip. Install it with `apt-get install -y {debian_package}` (scripts/test does)."
        ),
    }
}

pub fn xmlsec1() -> PathBuf {
    require_tool("xmlsec1", "xmlsec1")
}

pub fn xmllint() -> PathBuf {
    require_tool("xmllint", "libxml2-utils")
}

/// Runs a command and returns its output, panicking with stderr when it fails.
pub fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("snodo-security-{label}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir is writable");
        TempDir(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A throwaway RSA key (PEM) for xmlsec1 to sign templates with; only digests are compared.
pub fn signing_key_pem() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("RSA key generation");
        rsa.private_key_to_pem().expect("PEM encoding")
    })
}

pub fn sha256_base64(bytes: &[u8]) -> String {
    openssl::base64::encode_block(&openssl::sha::sha256(bytes))
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c14n-corpus")
}

/// The corpus files, sorted, with their contents.
pub fn corpus() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(corpus_dir())
        .expect("tests/c14n-corpus exists")
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            let name = p.file_name().expect("file name").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("corpus files are UTF-8");
            (name, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the c14n corpus is missing files");
    files
}

/// `shared/specs/spid/fixtures`, beside the repository (CI runs with shared/ next to the clone).
pub fn spid_fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs/spid/fixtures");
    assert!(
        dir.is_dir(),
        "SPID fixtures not found at {}: shared/ must sit beside the repository",
        dir.display()
    );
    dir
}

/// Every element in document order.
pub fn elements(doc: &Document) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![doc.root()];
    while let Some(n) = stack.pop() {
        if matches!(doc.kind(n), NodeKind::Element(_)) {
            out.push(n);
        }
        let children: Vec<NodeId> = doc.children(n).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// The element whose `ID` attribute (no namespace) is `id`.
pub fn element_by_id(doc: &Document, id: &str) -> NodeId {
    let found: Vec<NodeId> = elements(doc)
        .into_iter()
        .filter(|&e| doc.element(e).and_then(|el| el.attribute(None, "ID")) == Some(id))
        .collect();
    assert_eq!(found.len(), 1, "exactly one element with ID {id:?}");
    found[0]
}

/// Child elements of `parent` named `{ns}local`.
pub fn children_named(doc: &Document, parent: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    doc.child_elements(parent)
        .filter(|&c| doc.element(c).is_some_and(|e| e.name().is(Some(ns), local)))
        .collect()
}

/// Descendants (self excluded) named `{ns}local`, in document order.
pub fn descendants_named(doc: &Document, parent: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    elements(doc)
        .into_iter()
        .filter(|&e| e != parent && doc.is_ancestor_or_self(parent, e))
        .filter(|&e| doc.element(e).is_some_and(|el| el.name().is(Some(ns), local)))
        .collect()
}
