//! The published JSON Schema files under `mappings/schemas/anpr/` are the ones the contract types
//! generate (`SNODO_UPDATE_SCHEMAS=1 cargo test -p snodo-mappings --test anpr_schema` rewrites them).

use std::path::PathBuf;

use snodo_mappings::anpr::schema::schemas;

#[test]
fn published_schemas_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/anpr");
    let write = std::env::var_os("SNODO_UPDATE_SCHEMAS").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut expected_files = Vec::new();
    for (kind, schema) in schemas() {
        let file = dir.join(format!("{kind}.json"));
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        expected_files.push(file.file_name().unwrap().to_owned());
        if write {
            std::fs::write(&file, &text).unwrap();
        } else {
            let published = std::fs::read_to_string(&file).unwrap_or_else(|_| {
                panic!(
                    "{} is missing: regenerate with SNODO_UPDATE_SCHEMAS=1",
                    file.display()
                )
            });
            assert_eq!(
                published,
                text,
                "{} is stale: regenerate with SNODO_UPDATE_SCHEMAS=1",
                file.display()
            );
        }
    }
    let mut present: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "a schema file without a type, or the reverse"
    );
}

#[test]
fn commands_are_closed_and_versioned() {
    for (kind, schema) in schemas() {
        // A body with several shapes (`outcome`-tagged) is a `oneOf`: each shape must be closed.
        let shapes = match schema["oneOf"].as_array() {
            Some(shapes) => shapes.clone(),
            None => vec![schema],
        };
        for shape in shapes {
            assert_eq!(
                shape["additionalProperties"], false,
                "{kind} must refuse unknown fields"
            );
            assert_eq!(
                shape["properties"]["schema"]["$ref"], "#/$defs/SchemaVersion1",
                "{kind}"
            );
        }
    }
}
