//! SPID authentication levels and the `Comparison` of a RequestedAuthnContext.
//!
//! Whether a returned level satisfies the request follows spid-sp-test's `dynamic_acr`
//! (spid-and-cie-id.md §1.3 item 13, cases 94–96): a higher level is always accepted (the Regole
//! Tecniche let an IdP authenticate more strongly than asked), an equal one unless `better` was asked,
//! a lower one only under `maximum`.

use std::cmp::Ordering;

/// A SPID/CIE ID level of assurance (`https://www.spid.gov.it/SpidL1`…`L3`), ordered by strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpidLevel {
    /// One factor.
    L1,
    /// Two factors.
    L2,
    /// Two factors, one of them a hardware token or smart card.
    L3,
}

impl SpidLevel {
    pub const fn uri(self) -> &'static str {
        match self {
            SpidLevel::L1 => "https://www.spid.gov.it/SpidL1",
            SpidLevel::L2 => "https://www.spid.gov.it/SpidL2",
            SpidLevel::L3 => "https://www.spid.gov.it/SpidL3",
        }
    }

    /// The level named by `uri`; the legacy `urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL*` names
    /// are not levels (spid-sp-test case 97).
    pub fn from_uri(uri: &str) -> Option<SpidLevel> {
        [SpidLevel::L1, SpidLevel::L2, SpidLevel::L3]
            .into_iter()
            .find(|l| l.uri() == uri)
    }

    /// Whether an AuthnRequest must carry `ForceAuthn="true"` (Regole Tecniche: required for L2/L3).
    pub const fn requires_force_authn(self) -> bool {
        !matches!(self, SpidLevel::L1)
    }

    /// Whether `returned` satisfies a request for `self` with `comparison`.
    pub fn is_satisfied_by(self, returned: SpidLevel, comparison: Comparison) -> bool {
        match returned.cmp(&self) {
            Ordering::Greater => true,
            Ordering::Equal => comparison != Comparison::Better,
            Ordering::Less => comparison == Comparison::Maximum,
        }
    }
}

impl std::fmt::Display for SpidLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpidLevel::L1 => "SpidL1",
            SpidLevel::L2 => "SpidL2",
            SpidLevel::L3 => "SpidL3",
        })
    }
}

/// `RequestedAuthnContext/@Comparison`. CIE ID accepts only `exact` and `minimum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    Exact,
    Minimum,
    Better,
    Maximum,
}

impl Comparison {
    pub const fn as_str(self) -> &'static str {
        match self {
            Comparison::Exact => "exact",
            Comparison::Minimum => "minimum",
            Comparison::Better => "better",
            Comparison::Maximum => "maximum",
        }
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Comparison::*;
    use SpidLevel::*;

    #[test]
    fn spid_rule_dynamic_acr_table() {
        // (requested, comparison, returned) -> accepted, as spid-sp-test's dynamic_acr decides.
        for (requested, comparison, returned, accepted) in [
            (L2, Minimum, L1, false),
            (L2, Minimum, L2, true),
            (L2, Minimum, L3, true),
            (L2, Exact, L2, true),
            (L2, Exact, L3, true),
            (L2, Exact, L1, false),
            (L2, Better, L2, false),
            (L2, Better, L3, true),
            (L2, Maximum, L1, true),
            (L3, Minimum, L2, false),
        ] {
            assert_eq!(
                requested.is_satisfied_by(returned, comparison),
                accepted,
                "{requested} {comparison} {returned}"
            );
        }
    }

    #[test]
    fn legacy_level_names_are_not_levels() {
        assert_eq!(
            SpidLevel::from_uri("urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL1"),
            None
        );
        assert_eq!(SpidLevel::from_uri("https://www.spid.gov.it/SpidL3"), Some(L3));
    }
}
