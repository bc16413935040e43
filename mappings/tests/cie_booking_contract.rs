//! The contract files themselves: the XSD compiles with libxml2 through the crate and with the
//! `xmllint` CLI, which also validates every payload the mappings write (and rejects a broken one);
//! the WSDL is well-formed, imports the XSD and binds exactly the operations the code knows; the
//! committed JSON Schemas are what the types generate (`SNODO_UPDATE_SCHEMAS=1` rewrites them); every
//! README example parses into its type and maps to a valid payload; the operation id derivation.

mod cie_booking_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command as Cli;

use cie_booking_common::samples::*;
use cie_booking_common::{assert_valid, contract_dir, request_header, response_header, xsd_path};
use snodo_mappings::cie_booking::appointment::{AppointmentCompleted, AppointmentsFound};
use snodo_mappings::cie_booking::changes::{AppointmentChanged, ChangesPage};
use snodo_mappings::cie_booking::offices::{AvailabilityFound, OfficesListed};
use snodo_mappings::cie_booking::{
    BookingError, Command, ErrorCode, NAMESPACE, Operation, OperationId, Reply, Response, json_schemas,
    write_command, write_reply,
};
use snodo_security::xml::{Document, Limits, NodeId, parse};

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snodo-cie-booking-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn xmllint(args: &[&Path]) -> std::process::Output {
    Cli::new("xmllint")
        .arg("--noout")
        .args(args)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)")
}

#[test]
fn xmllint_validates_every_written_payload_and_rejects_a_broken_one() {
    let dir = scratch_dir("xmllint");
    let docs = written_documents();
    assert!(docs.len() >= 30, "{} documents", docs.len());
    let mut files = Vec::new();
    for (name, xml) in &docs {
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        files.push(path);
    }
    let broken = dir.join("broken.xml");
    let (_, first) = &docs[0];
    std::fs::write(
        &broken,
        first.replace("<codMittente>015146<", "<codMittente>15146<"),
    )
    .unwrap();

    let xsd = xsd_path();
    let mut args: Vec<&Path> = vec![Path::new("--schema"), &xsd];
    args.extend(files.iter().map(PathBuf::as_path));
    let out = xmllint(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "xmllint refused a written payload:\n{stderr}"
    );
    assert_eq!(stderr.matches(" validates").count(), files.len(), "{stderr}");

    let out = xmllint(&[Path::new("--schema"), &xsd, &broken]);
    assert!(!out.status.success(), "xmllint accepted an invalid ISTAT code");
    assert!(String::from_utf8_lossy(&out.stderr).contains("codMittente"));
    std::fs::remove_dir_all(&dir).unwrap();
    // The same documents, by the crate's validator.
    for (_, xml) in docs {
        assert_valid(&xml);
    }
}

fn read(path: &Path) -> Document {
    parse(&std::fs::read(path).unwrap(), &Limits::default()).unwrap()
}

fn attr(doc: &Document, node: NodeId, name: &str) -> String {
    doc.element(node)
        .unwrap()
        .attribute(None, name)
        .unwrap_or_default()
        .to_owned()
}

fn children<'d>(doc: &'d Document, node: NodeId, local: &'d str) -> impl Iterator<Item = NodeId> + 'd {
    doc.child_elements(node)
        .filter(move |&c| doc.element(c).unwrap().name().local_name() == local)
}

#[test]
fn the_wsdl_is_well_formed_imports_the_xsd_and_binds_every_operation() {
    let wsdl_path = contract_dir().join("cieBooking.wsdl");
    assert!(xmllint(&[&wsdl_path]).status.success());
    let wsdl = read(&wsdl_path);
    let root = wsdl.document_element();

    let types = children(&wsdl, root, "types").next().unwrap();
    let schema = children(&wsdl, types, "schema").next().unwrap();
    let import = children(&wsdl, schema, "import").next().unwrap();
    assert_eq!(attr(&wsdl, import, "namespace"), NAMESPACE);
    assert_eq!(attr(&wsdl, import, "schemaLocation"), "cieBooking.xsd");

    let xsd = read(&xsd_path());
    let globals: BTreeSet<String> = children(&xsd, xsd.document_element(), "element")
        .map(|e| attr(&xsd, e, "name"))
        .collect();
    let messages: Vec<(String, String)> = children(&wsdl, root, "message")
        .map(|m| {
            let part = children(&wsdl, m, "part").next().unwrap();
            (attr(&wsdl, m, "name"), attr(&wsdl, part, "element"))
        })
        .collect();
    for (_, element) in &messages {
        let local = element
            .strip_prefix("cb:")
            .expect("parts name elements of the XSD namespace");
        assert!(
            globals.contains(local),
            "{element} is not a global element of the XSD"
        );
    }

    let port_type = children(&wsdl, root, "portType").next().unwrap();
    let declared: Vec<String> = children(&wsdl, port_type, "operation")
        .map(|o| attr(&wsdl, o, "name"))
        .collect();
    let binding = children(&wsdl, root, "binding").next().unwrap();
    let bound: Vec<String> = children(&wsdl, binding, "operation")
        .map(|o| attr(&wsdl, o, "name"))
        .collect();
    let known: Vec<String> = Operation::ALL
        .iter()
        .map(|op| op.wsdl_name().to_owned())
        .collect();
    assert_eq!(declared, known);
    assert_eq!(bound, known);
    for op in Operation::ALL {
        let request = op.request_element();
        let response = op.response_element();
        assert_eq!(request.namespace(), Some(NAMESPACE));
        assert!(
            messages
                .iter()
                .any(|(_, e)| e == &format!("cb:{}", request.local_name()))
        );
        assert!(
            messages
                .iter()
                .any(|(_, e)| e == &format!("cb:{}", response.local_name()))
        );
    }
    // Every global element is a request or a response of a known operation.
    assert_eq!(globals.len(), 2 * Operation::ALL.len());
}

#[test]
fn committed_schemas_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/cie_booking");
    let update = std::env::var_os("SNODO_UPDATE_SCHEMAS").is_some();
    let mut expected = BTreeSet::new();
    for (kind, schema) in json_schemas() {
        assert_eq!(
            schema["additionalProperties"], false,
            "{kind} must refuse unknown fields"
        );
        assert_eq!(
            schema["properties"]["schema"]["$ref"], "#/$defs/SchemaVersion1",
            "{kind}"
        );
        let name = format!("{kind}.json");
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&name), &text).unwrap();
        }
        let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            committed == text,
            "{name} is stale: run with SNODO_UPDATE_SCHEMAS=1"
        );
        expected.insert(name);
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(present, expected, "a schema file without a type, or the reverse");
}

/// The README's examples: each `#### \`type\`` heading and the JSON block after it.
fn readme_examples() -> Vec<(String, serde_json::Value)> {
    let text = std::fs::read_to_string(contract_dir().join("README.md")).unwrap();
    let mut examples = Vec::new();
    let mut kind = None;
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(body) = block.as_mut() {
            if line == "```" {
                let value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
                examples.push((kind.take().expect("a heading before the block"), value));
                block = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
        } else if let Some(heading) = line.strip_prefix("#### `") {
            kind = Some(heading.trim_end_matches('`').to_owned());
        } else if line == "```json" {
            block = Some(String::new());
        }
    }
    examples
}

#[test]
fn every_body_has_a_readme_example_that_parses_and_maps_to_a_valid_payload() {
    let examples = readme_examples();
    let documented: Vec<&str> = examples.iter().map(|(k, _)| k.as_str()).collect();
    let schemas: Vec<&str> = json_schemas().into_iter().map(|(k, _)| k).collect();
    assert_eq!(documented, schemas);
    let reply = |op: Operation, response: Response| {
        let xml = write_reply(
            op,
            &Reply {
                header: response_header(),
                answer: Ok(response),
            },
        )
        .unwrap();
        assert_valid(&xml);
    };
    for (kind, value) in examples {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Some(op) = Operation::of_command(&kind) {
            let command = Command::from_json(&kind, &bytes).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(command.operation(), op);
            assert_valid(&write_command(&command, &request_header()).unwrap());
            continue;
        }
        let op = Operation::ALL.into_iter().find(|op| {
            op.command_type()
                .is_some_and(|c| kind == format!("{c}.completed"))
        });
        match op {
            Some(Operation::ListOffices) => reply(
                op.unwrap(),
                Response::ListOffices(serde_json::from_value::<OfficesListed>(value).unwrap()),
            ),
            Some(Operation::SearchAvailability) => reply(
                op.unwrap(),
                Response::SearchAvailability(serde_json::from_value::<AvailabilityFound>(value).unwrap()),
            ),
            Some(Operation::Status) => reply(
                op.unwrap(),
                Response::Status(serde_json::from_value::<AppointmentsFound>(value).unwrap()),
            ),
            Some(o) => {
                let event = serde_json::from_value::<AppointmentCompleted>(value).unwrap();
                let response = match o {
                    Operation::Book => Response::Book(event),
                    Operation::Confirm => Response::Confirm(event),
                    Operation::Cancel => Response::Cancel(event),
                    _ => Response::Reschedule(event),
                };
                reply(o, response);
            }
            None => {
                assert_eq!(kind, "cie_booking.appointment.changed");
                let event = serde_json::from_value::<AppointmentChanged>(value).unwrap();
                let page = ChangesPage {
                    changes: vec![event],
                    next_cursor: "c-1".into(),
                    more: false,
                };
                reply(Operation::Changes, Response::Changes(page));
            }
        }
    }
}

#[test]
fn the_error_codes_are_documented_in_the_readme_and_the_xsd() {
    let readme = std::fs::read_to_string(contract_dir().join("README.md")).unwrap();
    let xsd = std::fs::read_to_string(xsd_path()).unwrap();
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| *l != "### Error codes")
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let known: Vec<String> = ErrorCode::known().map(|c| c.to_string()).collect();
    assert_eq!(table, known);
    for code in &known {
        assert!(
            xsd.contains(code.as_str()),
            "{code} is not listed in tipoCodiceErrore"
        );
        assert_eq!(ErrorCode::from_wire(code).as_str(), code);
    }
}

#[test]
fn the_operation_id_is_the_message_id_in_the_xsd_pattern_and_a_retry_reuses_it() {
    let id = OperationId::from_message_id("5F0C7F7E-3B7A-4D8E-9A53-0C1D2E3F4A5B").unwrap();
    assert_eq!(id.as_str(), "5f0c7f7e3b7a4d8e9a530c1d2e3f4a5b");
    for spelling in [
        "5f0c7f7e-3b7a-4d8e-9a53-0c1d2e3f4a5b",
        "5f0c7f7e3b7a4d8e9a530c1d2e3f4a5b",
        "{5f0c7f7e-3b7a-4d8e-9a53-0c1d2e3f4a5b}",
        "urn:uuid:5f0c7f7e-3b7a-4d8e-9a53-0c1d2e3f4a5b",
    ] {
        assert_eq!(OperationId::from_message_id(spelling).unwrap(), id, "{spelling}");
    }
    // A retry writes the same idOperazione, whatever the time of the attempt.
    let header = request_header();
    let mut retry = request_header();
    retry.requested_at = cie_booking_common::at("2025-03-14T10:16:31+01:00");
    let first = write_command(&Command::Book(book()), &header).unwrap();
    let again = write_command(&Command::Book(book()), &retry).unwrap();
    let id_of = |xml: &str| {
        xml.split("<idOperazione>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id_of(&first), id_of(&again));
    assert_eq!(
        OperationId::parse(&id_of(&first)),
        Some(header.operation_id.clone())
    );

    let other = OperationId::from_message_id("6f0c7f7e-3b7a-4d8e-9a53-0c1d2e3f4a5b").unwrap();
    assert_ne!(other, id);
    for bad in [
        "",
        "42",
        "5f0c7f7e-3b7a-4d8e-9a53-0c1d2e3f4a5",
        "not-a-uuid-at-all-but-long-enough!!",
    ] {
        assert!(
            matches!(
                OperationId::from_message_id(bad),
                Err(BookingError::MessageId { .. })
            ),
            "{bad}"
        );
    }
    let nil = OperationId::from_message_id("00000000-0000-0000-0000-000000000000").unwrap_err();
    assert!(nil.to_string().contains("nil UUID"), "{nil}");
    assert_eq!(OperationId::parse("5F0C7F7E3B7A4D8E9A530C1D2E3F4A5B"), None);
}
