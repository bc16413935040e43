//! `cie_booking.offices.list` → `ElencoSedi` and `cie_booking.availability.search` →
//! `CercaDisponibilita`: where a comune takes CIE applications, and the free slots there by office,
//! date range and reason.

use chrono::{DateTime, FixedOffset, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{Office, Reason, SchemaV1, Slot, date_schema, optional_date_time_schema};
use super::xml::{El, XmlOut};
use super::{BookingError, rules};

/// Command `cie_booking.offices.list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOffices {
    pub schema: SchemaV1,
    /// ISTAT code of the comune whose offices to list; default: the tenant. A citizen may book in
    /// any comune that uses the booking system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comune: Option<String>,
}

/// Event `cie_booking.offices.list.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficesListed {
    pub schema: SchemaV1,
    pub offices: Vec<Office>,
}

/// Command `cie_booking.availability.search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchAvailability {
    pub schema: SchemaV1,
    /// Default: the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comune: Option<String>,
    /// One office; default: every office of the comune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_id: Option<String>,
    #[schemars(schema_with = "date_schema")]
    pub from: NaiveDate,
    /// Inclusive, at most 92 days after `from`.
    #[schemars(schema_with = "date_schema")]
    pub to: NaiveDate,
    pub reason: Reason,
}

/// Event `cie_booking.availability.search.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityFound {
    pub schema: SchemaV1,
    /// The first free time at the office(s) searched, even after `to`; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_time_schema")]
    pub first_available: Option<DateTime<FixedOffset>>,
    /// The free slots between `from` and `to`, in time order.
    pub slots: Vec<Slot>,
}

/// The body of an `ElencoSediRichiesta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficesQuery {
    pub comune: String,
}

/// The body of a `CercaDisponibilitaRichiesta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityQuery {
    pub comune: String,
    pub office_id: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub reason: Reason,
}

impl ListOffices {
    pub fn to_query(&self, tenant: &str) -> OfficesQuery {
        OfficesQuery {
            comune: self.comune.clone().unwrap_or_else(|| tenant.to_owned()),
        }
    }
}

impl SearchAvailability {
    pub fn to_query(&self, tenant: &str) -> AvailabilityQuery {
        AvailabilityQuery {
            comune: self.comune.clone().unwrap_or_else(|| tenant.to_owned()),
            office_id: self.office_id.clone(),
            from: self.from,
            to: self.to,
            reason: self.reason,
        }
    }
}

impl OfficesQuery {
    pub fn check(&self) -> Result<(), BookingError> {
        rules::istat("comune", &self.comune)
    }

    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        self.check()?;
        out.leaf("codIstatComune", &self.comune);
        Ok(())
    }

    pub(crate) fn read(payload: &El<'_>) -> Result<OfficesQuery, BookingError> {
        Ok(OfficesQuery {
            comune: payload.req_checked("codIstatComune", rules::istat)?,
        })
    }
}

impl AvailabilityQuery {
    pub fn check(&self) -> Result<(), BookingError> {
        rules::istat("comune", &self.comune)?;
        if let Some(office) = &self.office_id {
            rules::office_id("office_id", office)?;
        }
        rules::date_range("from", "to", self.from, self.to)
    }

    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        self.check()?;
        out.leaf("codIstatComune", &self.comune);
        out.opt_leaf("idSede", self.office_id.as_deref());
        out.leaf("dataDa", rules::date_text("from", self.from)?);
        out.leaf("dataA", rules::date_text("to", self.to)?);
        out.leaf("motivo", self.reason.code());
        Ok(())
    }

    pub(crate) fn read(payload: &El<'_>) -> Result<AvailabilityQuery, BookingError> {
        let query = AvailabilityQuery {
            comune: payload.req_checked("codIstatComune", rules::istat)?,
            office_id: payload.opt_checked("idSede", rules::office_id)?,
            from: payload.req_date("dataDa")?,
            to: payload.req_date("dataA")?,
            reason: payload.req_code("motivo", Reason::from_code)?,
        };
        // The XSD cannot relate two fields; the simulator answers RICHIESTA_NON_VALIDA on this.
        rules::date_range("dataDa", "dataA", query.from, query.to)
            .map_err(|e| e.at(&format!("{}/dataA", payload.path())))?;
        Ok(query)
    }
}

impl OfficesListed {
    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        for (i, office) in self.offices.iter().enumerate() {
            office.write(out, &format!("offices[{i}]"))?;
        }
        Ok(())
    }

    pub(crate) fn read(ok: &El<'_>) -> Result<OfficesListed, BookingError> {
        Ok(OfficesListed {
            schema: SchemaV1,
            offices: ok
                .all("sede")
                .iter()
                .map(Office::read)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl AvailabilityFound {
    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        if let Some(first) = &self.first_available {
            out.leaf(
                "primaDataDisponibile",
                rules::date_time_text("first_available", first)?,
            );
        }
        for (i, slot) in self.slots.iter().enumerate() {
            slot.write(out, &format!("slots[{i}]"))?;
        }
        Ok(())
    }

    pub(crate) fn read(ok: &El<'_>) -> Result<AvailabilityFound, BookingError> {
        Ok(AvailabilityFound {
            schema: SchemaV1,
            first_available: ok.opt_date_time("primaDataDisponibile")?,
            slots: ok.all("slot").iter().map(Slot::read).collect::<Result<_, _>>()?,
        })
    }
}
