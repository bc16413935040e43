//! Certificates as real PDF files (service 6001 answers `certificatoPdf`, base64): one A4 page of
//! text in Helvetica, written by hand to PDF 1.4 (ISO 32000-1 §7: header, objects, cross-reference
//! table with exact byte offsets, trailer), so any reader opens it and a test can check its shape
//! without a PDF library.

/// A certificate's content: a title and lines of text (Latin-1 printable; anything else is replaced).
pub struct CertificateText {
    pub title: String,
    pub lines: Vec<String>,
}

/// The PDF bytes of `text`.
pub fn render(text: &CertificateText) -> Vec<u8> {
    let mut content = String::from("BT\n/F1 16 Tf\n56 780 Td\n");
    content.push_str(&format!("({}) Tj\n", escape(&text.title)));
    content.push_str("/F1 11 Tf\n0 -30 Td\n");
    for line in &text.lines {
        content.push_str(&format!("({}) Tj\n0 -16 Td\n", escape(line)));
    }
    content.push_str("ET\n");

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
    ];
    // The binary comment line tells transfer tools the file is binary (ISO 32000-1 §7.5.2).
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A PDF literal string's content: backslash, parentheses escaped; outside printable ASCII, `?`
/// (the text is ASCII-folded Italian, and WinAnsi would need byte escapes for the rest).
fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '(' | ')' => {
                s.push('\\');
                s.push(c);
            }
            ' '..='~' => s.push(c),
            _ => s.push('?'),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cross_reference_table_points_at_each_object() {
        let pdf = render(&CertificateText {
            title: "Certificato di Residenza".into(),
            lines: vec!["ROSSI (MARIO)".into(), "back\\slash".into()],
        });
        // One ASCII character per byte, so string offsets are the file's byte offsets.
        let text: String = pdf
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '#' })
            .collect();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(text.ends_with("%%EOF\n"));
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(text[start..].starts_with("xref\n0 6\n"));
        for (i, line) in text[start..].lines().skip(3).take(5).enumerate() {
            let offset: usize = line[..10].parse().expect("offset");
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", i + 1)),
                "object {} at {offset}",
                i + 1
            );
        }
        assert!(text.contains("(ROSSI \\(MARIO\\)) Tj"));
        assert!(text.contains("(back\\\\slash) Tj"));
    }
}
