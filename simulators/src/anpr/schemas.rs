//! The official ANPR schemas (v9.0.3, `soap/comuni/`) the simulator validates requests with: read from
//! `SNODO_ANPR_SPECS` or the shared specs beside the source tree, or — for a `snodo` binary run
//! elsewhere — from a copy embedded at build time and written once to a directory named after its
//! content (libxml2 compiles schemas from files; a rename makes the write atomic for concurrent
//! processes).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use snodo_security::schema::Schema;
use snodo_security::xml::{Document, NodeId};

use super::AnprSimulatorError;
use super::services::Service;

/// The source tree's copy of the specs.
const SOURCE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/specs/anpr/soap/comuni");

macro_rules! embed {
    ($file:literal) => {
        (
            $file,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/specs/anpr/soap/comuni/",
                $file
            )) as &[u8],
        )
    };
}

/// Every file the six service schemas include or import.
const EMBEDDED: [(&str, &[u8]); 15] = [
    embed!("tipoDato.xsd"),
    embed!("rispostaComune.xsd"),
    embed!("vocabolarioRispostaComune.xsd"),
    embed!("1000iscrizione.xsd"),
    embed!("2000cancellazione.xsd"),
    embed!("3000consultazione.xsd"),
    embed!("4000estrazione.xsd"),
    embed!("5000mutazione.xsd"),
    embed!("6001certificazione.xsd"),
    embed!("vocabolario1000iscrizione.xsd"),
    embed!("vocabolario2000cancellazione.xsd"),
    embed!("vocabolario3000consultazione.xsd"),
    embed!("vocabolario4000estrazione.xsd"),
    embed!("vocabolario5000mutazione.xsd"),
    embed!("vocabolario6001certificazione.xsd"),
];

/// `SNODO_ANPR_SPECS`, else the source tree's `shared/specs/anpr/soap/comuni` when it is there, else
/// the embedded copy.
pub fn default_schema_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SNODO_ANPR_SPECS") {
        return PathBuf::from(dir);
    }
    let source = PathBuf::from(SOURCE_DIR);
    if source.join("tipoDato.xsd").is_file() {
        return source;
    }
    // On failure the source path is returned, and compiling names the missing file.
    embedded_dir().unwrap_or(source)
}

fn embedded_dir() -> std::io::Result<PathBuf> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (name, bytes) in EMBEDDED {
        name.hash(&mut hasher);
        bytes.hash(&mut hasher);
    }
    let dir = std::env::temp_dir().join(format!("snodo-anpr-xsd-{:016x}", hasher.finish()));
    for (name, bytes) in EMBEDDED {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() == Some(bytes) {
            continue;
        }
        std::fs::create_dir_all(&dir)?;
        let partial = dir.join(format!("{name}.{}", std::process::id()));
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, &path)?;
    }
    Ok(dir)
}

/// The compiled service schemas, one per file.
pub struct Schemas(HashMap<&'static str, Schema>);

impl Schemas {
    pub fn compile(dir: &Path) -> Result<Schemas, AnprSimulatorError> {
        let mut map = HashMap::new();
        for service in Service::ALL {
            if map.contains_key(service.xsd()) {
                continue;
            }
            let schema =
                Schema::compile(dir.join(service.xsd())).map_err(|source| AnprSimulatorError::Schema {
                    file: service.xsd().to_owned(),
                    source,
                })?;
            map.insert(service.xsd(), schema);
        }
        Ok(Schemas(map))
    }

    pub fn validate(&self, service: Service, doc: &Document, payload: NodeId) -> Result<(), String> {
        self.validate_with(service.xsd(), doc, payload)
    }

    pub fn validate_with(&self, file: &str, doc: &Document, payload: NodeId) -> Result<(), String> {
        let schema = self.0.get(file).ok_or("no schema for the service")?;
        schema.validate_element(doc, payload).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_copy_compiles_on_its_own() {
        let dir = embedded_dir().expect("the temporary directory is writable");
        assert!(Schemas::compile(&dir).is_ok());
    }
}
