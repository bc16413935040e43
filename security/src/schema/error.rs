//! Why a schema could not be compiled or a document does not conform.
//!
//! libxml2's messages quote the offending values ("The value 'RSSMRA…' is not accepted by the
//! pattern …"): those can be codici fiscali or names, so every quoted value is masked before a message
//! leaves this module, keeping only what names the schema's own vocabulary (elements, attributes,
//! types, facets).

use std::path::PathBuf;

use crate::xml::XmlError;

/// One problem libxml2 reported, with personal data masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line in the validated text (for [`Schema::validate_element`](super::Schema::validate_element),
    /// in the element's own serialization), 0 when unknown.
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema {path}: cannot read it: {reason}")]
    Unreadable { path: PathBuf, reason: String },

    #[error("schema {path} does not compile: {}", first(problems))]
    Compile { path: PathBuf, problems: Vec<Problem> },

    #[error(transparent)]
    Refused(#[from] XmlError),

    #[error("document does not conform to {schema}: {} ({} problem(s))", first(problems), problems.len())]
    Invalid { schema: String, problems: Vec<Problem> },

    #[error(
        "libxml2 could not read a document the screening parser accepted: {}",
        first(problems)
    )]
    Reparse { problems: Vec<Problem> },

    #[error("element could not be serialized for validation: {reason}")]
    Serialization { reason: String },

    #[error("libxml2 failed internally while validating against {schema}")]
    Internal { schema: String },
}

impl SchemaError {
    /// The problems libxml2 reported, if this error carries any.
    pub fn problems(&self) -> &[Problem] {
        match self {
            SchemaError::Compile { problems, .. }
            | SchemaError::Invalid { problems, .. }
            | SchemaError::Reparse { problems } => problems,
            _ => &[],
        }
    }
}

fn first(problems: &[Problem]) -> String {
    problems
        .first()
        .map(Problem::to_string)
        .unwrap_or_else(|| "no details reported".to_owned())
}

/// Words after which a quoted string is schema vocabulary, safe to show; any other quoted string is a
/// value from the document and is replaced by `'…'`.
const VOCABULARY: [&str; 8] = [
    "element",
    "attribute",
    "facet",
    "type",
    "pattern",
    "enumeration",
    "simple type",
    "complex type",
];

/// Masks quoted document values in a libxml2 message and trims its trailing newline.
pub(super) fn mask_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message.trim_end();
    while let Some(open) = rest.find('\'') {
        let (before, after_open) = rest.split_at(open);
        out.push_str(before);
        let Some(close) = after_open[1..].find('\'') else {
            out.push_str(after_open);
            rest = "";
            break;
        };
        let quoted = &after_open[1..1 + close];
        let lead = out.trim_end().to_ascii_lowercase();
        if VOCABULARY.iter().any(|w| lead.ends_with(w)) {
            out.push('\'');
            out.push_str(quoted);
            out.push('\'');
        } else {
            out.push_str("'…'");
        }
        rest = &after_open[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_values;

    #[test]
    fn values_are_masked_vocabulary_is_kept() {
        let m = "Element '{http://x}codiceFiscale': [facet 'pattern'] The value 'RSSMRA80A01H501U' is \
                 not accepted by the pattern '[A-Z]{6}'.\n";
        let masked = mask_values(m);
        assert!(!masked.contains("RSSMRA"), "{masked}");
        assert!(masked.contains("Element '{http://x}codiceFiscale'"), "{masked}");
        assert!(masked.contains("[facet 'pattern']"), "{masked}");
        assert!(masked.contains("The value '…'"), "{masked}");
        assert!(masked.contains("pattern '[A-Z]{6}'"), "{masked}");
        assert!(!masked.ends_with('\n'));
    }

    #[test]
    fn a_leading_value_and_an_unbalanced_quote_are_handled() {
        assert_eq!(
            mask_values("'Mario Rossi' is not a valid value of the atomic type 'xs:int'."),
            "'…' is not a valid value of the atomic type 'xs:int'."
        );
        assert_eq!(mask_values("odd 'quote"), "odd 'quote");
    }
}
