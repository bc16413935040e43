//! Namespace URIs must be absolute RFC 3986 URIs for canonicalization to be defined.
//!
//! Canonical XML 1.0 §2.1 requires failure on relative namespace URIs; libxml2 (and so xmlsec1 and the
//! IdPs built on it) also fails on namespace names that are not URIs at all (`urn:{`, `urn:a b`,
//! `urn:%zz`, non-ASCII). We fail on the same inputs, so that no byte string is canonical for us and
//! uncanonicalizable for the other side. The grammar is RFC 3986 §3 (`URI`), checked per component.

/// How a namespace name fails to be an absolute URI.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum UriProblem {
    Relative,
    Invalid,
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// True when `s` consists of unreserved characters, sub-delims, `extra`, and valid `%XX` escapes.
fn only(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(is_unreserved(c) || is_sub_delim(c) || extra.contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// RFC 3986 §3.2: `[ userinfo "@" ] host [ ":" port ]`.
fn is_authority(authority: &str) -> bool {
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| !only(u, b":")) {
        return false;
    }
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        // IP-literal (§3.2.2): libxml2 2.9 takes anything up to the closing bracket, and so do we.
        let Some((_, after)) = rest.split_once(']') else {
            return false;
        };
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    // libxml2 wants at least one digit after the colon, stricter than RFC 3986's `*DIGIT`.
    only(host, b"") && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

pub(super) fn check_absolute_uri(uri: &str) -> Result<(), UriProblem> {
    // §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(UriProblem::Relative);
    };
    let mut scheme_chars = scheme.bytes();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    if !scheme_ok {
        // "1a:b" or "a/b:c" is a relative reference whose first segment contains a colon.
        return Err(if only(uri, b":@/?#") {
            UriProblem::Relative
        } else {
            UriProblem::Invalid
        });
    }
    // §3.5 fragment and §3.4 query: pchar / "/" / "?"; a second '#' is invalid.
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (hier, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !only(fragment, b":@/?") || !only(query, b":@/?") {
        return Err(UriProblem::Invalid);
    }
    // §3.2/§3.3: hier-part = "//" authority path-abempty / path-absolute / path-rootless / path-empty.
    let path = match hier.strip_prefix("//") {
        Some(after) => {
            let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            if !is_authority(authority) {
                return Err(UriProblem::Invalid);
            }
            path
        }
        None => hier,
    };
    if only(path, b":@/") {
        Ok(())
    } else {
        Err(UriProblem::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::{UriProblem, check_absolute_uri};

    /// The verdicts of libxml2 2.9.14 (`xmllint --c14n` on `<r xmlns:p="URI"><p:x/></r>`).
    #[test]
    fn namespace_uris_are_judged_as_libxml2_judges_them() {
        for ok in [
            "urn:%41",
            "http://[::1]/x",
            "http://[v1.x]/",
            "http://@h/",
            "http:///x",
            "mailto:a@b",
            "urn:'",
            "urn:!$&()*+,;=",
            "urn:a?b/c@d",
            "a+b:c",
            "urn:",
            "urn:oasis:names:tc:SAML:2.0:assertion",
            "http://www.w3.org/2000/09/xmldsig#",
            "https://user:pw@host:8443/p/a;x?q=1#frag",
        ] {
            assert_eq!(check_absolute_uri(ok), Ok(()), "{ok}");
        }
        for invalid in [
            "urn:{",
            "urn:}",
            "urn:a b",
            "urn:|",
            "urn:\\",
            "urn:^",
            "urn:`",
            "urn:é",
            "urn:%zz",
            "urn:a#b#c",
        ] {
            assert_eq!(check_absolute_uri(invalid), Err(UriProblem::Invalid), "{invalid}");
        }
        for invalid in [
            "x://h:1:2/",
            "http://u@v@h/",
            "http://h:/x",
            "urn:[x]",
            "http://h/[x]",
            "urn:<",
            "urn:\"",
            "urn:>",
            "http://h:80x/",
            "http://h/a%2",
        ] {
            assert_eq!(check_absolute_uri(invalid), Err(UriProblem::Invalid), "{invalid}");
        }
        for relative in ["relative", "../up", "1a:b", "/abs/path"] {
            assert_eq!(
                check_absolute_uri(relative),
                Err(UriProblem::Relative),
                "{relative}"
            );
        }
    }
}
