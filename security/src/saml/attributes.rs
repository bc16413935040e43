//! SPID user attributes: the closed list of names (`attributi.rst`, spid-and-cie-id.md §1.5) and the
//! AttributeStatement reader.
//!
//! Every value is personal data (names, codice fiscale, address), so [`Attributes`]'s `Debug` shows
//! names and lengths only. Each attribute is single-valued and appears once: a second Attribute or
//! AttributeValue with the same name is refused, because "which one does the application read" is
//! exactly the ambiguity a wrapping attacker looks for.

use std::collections::BTreeMap;

use super::ASSERTION_NAMESPACE;
use super::error::{Field, ResponseError};
use super::read::{attribute, children, optional_text, require_content, value_shown};
use crate::xml::{Document, NodeId};

macro_rules! spid_attributes {
    ($($variant:ident = $name:literal,)*) => {
        /// A SPID attribute name. CIE ID returns a subset (`name`, `familyName`, `dateOfBirth`,
        /// `fiscalNumber`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum SpidAttribute { $($variant,)* }

        impl SpidAttribute {
            pub const ALL: &'static [SpidAttribute] = &[$(SpidAttribute::$variant,)*];

            /// The `Name` the IdP writes.
            pub const fn name(self) -> &'static str {
                match self { $(SpidAttribute::$variant => $name,)* }
            }
        }
    };
}

spid_attributes! {
    SpidCode = "spidCode",
    Name = "name",
    FamilyName = "familyName",
    PlaceOfBirth = "placeOfBirth",
    CountyOfBirth = "countyOfBirth",
    DateOfBirth = "dateOfBirth",
    Gender = "gender",
    CompanyName = "companyName",
    RegisteredOffice = "registeredOffice",
    FiscalNumber = "fiscalNumber",
    IvaCode = "ivaCode",
    IdCard = "idCard",
    CompanyFiscalNumber = "companyFiscalNumber",
    MobilePhone = "mobilePhone",
    Email = "email",
    Address = "address",
    DomicileStreetAddress = "domicileStreetAddress",
    DomicilePostalCode = "domicilePostalCode",
    DomicileMunicipality = "domicileMunicipality",
    DomicileProvince = "domicileProvince",
    DomicileNation = "domicileNation",
    ExpirationDate = "expirationDate",
    DigitalAddress = "digitalAddress",
}

impl SpidAttribute {
    pub fn from_name(name: &str) -> Option<SpidAttribute> {
        SpidAttribute::ALL.iter().copied().find(|a| a.name() == name)
    }
}

impl std::fmt::Display for SpidAttribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The attributes of a verified assertion, one value each. `Debug` masks the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attributes(BTreeMap<SpidAttribute, String>);

impl Attributes {
    pub fn get(&self, attribute: SpidAttribute) -> Option<&str> {
        self.0.get(&attribute).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (SpidAttribute, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k.name(), Masked(v.chars().count()))))
            .finish()
    }
}

/// A personal value in `Debug` output: its length only.
pub(super) struct Masked(pub(super) usize);

impl std::fmt::Debug for Masked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} chars, masked>", self.0)
    }
}

/// Reads `Assertion/AttributeStatement` (`statement`): at least one Attribute (spid-sp-test 98), each
/// with a SPID name, once, with exactly one AttributeValue (99). `NameFormat` and `xsi:type` are not
/// required (109). Values may be empty; they are trimmed like every text value.
pub(super) fn read_attribute_statement(
    doc: &Document,
    statement: NodeId,
    covered: &dyn Fn(NodeId, Field) -> Result<(), ResponseError>,
) -> Result<Attributes, ResponseError> {
    require_content(doc, statement, Field::AttributeStatement)?;
    let mut attributes = BTreeMap::new();
    let mut any = false;
    for element in children(doc, statement, ASSERTION_NAMESPACE, "Attribute") {
        any = true;
        covered(element, Field::Attribute)?;
        let name = attribute(doc, element, "Name", Field::AttributeName)?;
        let known = SpidAttribute::from_name(name).ok_or_else(|| ResponseError::UnknownAttribute {
            name: value_shown(name),
        })?;
        let values: Vec<NodeId> = children(doc, element, ASSERTION_NAMESPACE, "AttributeValue").collect();
        let [value] = values[..] else {
            return Err(ResponseError::AttributeValueCount {
                name: known.name(),
                count: values.len(),
            });
        };
        covered(value, Field::AttributeValue)?;
        let text = optional_text(doc, value, Field::AttributeValue)?;
        if attributes.insert(known, text).is_some() {
            return Err(ResponseError::DuplicateAttribute { name: known.name() });
        }
    }
    if !any {
        return Err(ResponseError::Missing {
            field: Field::Attribute,
        });
    }
    Ok(Attributes(attributes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_debug_masks_values() {
        for &a in SpidAttribute::ALL {
            assert_eq!(SpidAttribute::from_name(a.name()), Some(a));
        }
        assert_eq!(SpidAttribute::ALL.len(), 23);
        let mut map = BTreeMap::new();
        map.insert(SpidAttribute::FiscalNumber, "TINIT-RSSMRA80A01H501U".to_owned());
        let shown = format!("{:?}", Attributes(map));
        assert_eq!(shown, r#"{"fiscalNumber": <22 chars, masked>}"#);
    }
}
