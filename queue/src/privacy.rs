//! Masking of personal data before anything reaches a log (the project rule: codici fiscali, names and
//! addresses never appear in logs unmasked).
//!
//! The runtime never logs bodies; error messages are the remaining channel, since a platform's error text
//! may quote the person it is about. Codici fiscali have a fixed shape, so they can be found in free text.

/// Replaces every codice fiscale in `text` (16 characters, including omocodia variants) by its first three
/// and last character around asterisks: `RSSMRA85T10A562S` → `RSS************S`.
pub fn mask_personal_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_alphanumeric() {
            word.push(ch);
            continue;
        }
        if looks_like_codice_fiscale(&word) {
            out.push_str(&mask(&word));
        } else {
            out.push_str(&word);
        }
        word.clear();
        out.push(ch);
    }
    out.pop();
    out
}

/// Masks a known personal value entirely but for its first three and last character.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let mut s: String = chars[..3].iter().collect();
    s.push_str(&"*".repeat(chars.len() - 4));
    s.push(chars[chars.len() - 1]);
    s
}

/// Shape of a personal codice fiscale: 6 letters, 2 digits, a month letter, 2 digits, a letter and 3
/// digits, a check letter; any of the 7 digit positions may be an omocodia letter (LMNPQRSTUV).
fn looks_like_codice_fiscale(word: &str) -> bool {
    let b = word.as_bytes();
    if b.len() != 16 {
        return false;
    }
    let letter = |c: u8| c.is_ascii_alphabetic();
    let digitish = |c: u8| c.is_ascii_digit() || b"LMNPQRSTUVlmnpqrstuv".contains(&c);
    b[..6].iter().all(|c| letter(*c))
        && digitish(b[6])
        && digitish(b[7])
        && letter(b[8])
        && digitish(b[9])
        && digitish(b[10])
        && letter(b[11])
        && b[12..15].iter().all(|c| digitish(*c))
        && letter(b[15])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_codici_fiscali_in_free_text() {
        let masked = mask_personal_data("soggetto RSSMRA85T10A562S non trovato (MRTMTT25D09F205Z).");
        assert_eq!(
            masked,
            "soggetto RSS************S non trovato (MRT************Z)."
        );
    }

    #[test]
    fn masks_omocodia_variants() {
        assert_eq!(mask_personal_data("RSSMRA85T10A56NS"), "RSS************S");
    }

    #[test]
    fn leaves_other_words_alone() {
        let text = "EN122 idOperazioneComune 1234567890123456 abcdefghijklmnop";
        assert_eq!(mask_personal_data(text), text);
    }
}
