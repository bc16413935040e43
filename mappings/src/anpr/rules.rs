//! The XSD facets of `tipoDato.xsd` that a command's fields must meet before they become a request:
//! checked here so an impossible request is refused naming the JSON field, never sent to be refused
//! by ANPR (or by the simulator's schema validation) with a message about an XML element.

use super::AnprError;

/// `alfabeticoNomiCognomi`/`alfanumericobase`'s letter class: `I`, `i`, a few CP1252 letters
/// (&#138; &#140; &#142; &#154; &#156; &#158;-&#159;), Latin-1 Supplement and Latin Extended-A
/// (&#192;-&#382;) and &#393;, plus ASCII letters.
fn is_anpr_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || matches!(
            c as u32,
            138 | 140 | 142 | 154 | 156 | 158 | 159 | 192..=382 | 393
        )
}

fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), AnprError> {
    let n = value.chars().count();
    if n < min || n > max {
        let bound = if min == max {
            format!("must be exactly {min} characters long")
        } else {
            format!("must be {min} to {max} characters long")
        };
        return Err(AnprError::field(field, format!("{bound}, not {n}")));
    }
    Ok(())
}

/// A surname or given name (`alfabeticoNomiCognomi`: 1–80 letters, space, `-`, `'`, `.`, `,`).
pub(crate) fn name(field: &str, value: &str) -> Result<(), AnprError> {
    check_length(field, value, 1, 80)?;
    if let Some(bad) = value
        .chars()
        .find(|&c| !(is_anpr_letter(c) || matches!(c, '-' | ' ' | '\'' | '.' | ',')))
    {
        return Err(AnprError::field(
            field,
            format!("character U+{:04X} is not allowed in an ANPR name", bad as u32),
        ));
    }
    Ok(())
}

/// Free text of the `alfanumericobase` family (place names, streets): letters, digits, space,
/// `-`, `'`, `.`, `,` and, where `slash`, also `/`, `(`, `)`.
pub(crate) fn text(field: &str, value: &str, max: usize, slash: bool) -> Result<(), AnprError> {
    check_length(field, value, 1, max)?;
    let extra = |c: char| slash && matches!(c, '/' | '(' | ')');
    if let Some(bad) = value.chars().find(|&c| {
        !(is_anpr_letter(c) || c.is_ascii_digit() || matches!(c, '-' | ' ' | '\'' | '.' | ',') || extra(c))
    }) {
        return Err(AnprError::field(
            field,
            format!("character U+{:04X} is not allowed here by ANPR", bad as u32),
        ));
    }
    Ok(())
}

/// The XSD's codice fiscale (`tipoDominioCodiceFiscale`: 11–16 ASCII letters or digits). The check
/// character and omocodia are validated elsewhere, before the command reaches this mapping.
pub(crate) fn codice_fiscale(field: &str, value: &str) -> Result<(), AnprError> {
    check_length(field, value, 11, 16)?;
    if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AnprError::field(field, "must hold only letters and digits"));
    }
    Ok(())
}

/// Only ASCII digits, `min..=max` of them.
pub(crate) fn digits(field: &str, value: &str, min: usize, max: usize) -> Result<(), AnprError> {
    check_length(field, value, min, max)?;
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AnprError::field(field, "must hold only digits"));
    }
    Ok(())
}

/// ASCII letters and digits, `min..=max` of them (`idOperazioneComune`, error codes).
pub(crate) fn alphanumeric(field: &str, value: &str, min: usize, max: usize) -> Result<(), AnprError> {
    check_length(field, value, min, max)?;
    if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AnprError::field(field, "must hold only ASCII letters and digits"));
    }
    Ok(())
}

/// A province abbreviation (`alfabeticoProvincia`: two letters; `EE` for abroad).
pub(crate) fn province(field: &str, value: &str) -> Result<(), AnprError> {
    check_length(field, value, 2, 2)?;
    if !value.chars().all(is_anpr_letter) {
        return Err(AnprError::field(field, "must be two letters"));
    }
    Ok(())
}

/// A number within `min..=max`.
pub(crate) fn range(field: &str, value: u32, min: u32, max: u32) -> Result<(), AnprError> {
    if value < min || value > max {
        return Err(AnprError::field(
            field,
            format!("must be between {min} and {max}, not {value}"),
        ));
    }
    Ok(())
}

/// Base64 text (`xs:base64Binary`), whitespace ignored.
pub(crate) fn base64(field: &str, value: &str) -> Result<Vec<u8>, AnprError> {
    use base64::Engine;
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| AnprError::field(field, "is not valid base64"))
}
