//! The platform simulators `snodo simulate` can run, by system name. A platform simulator registers
//! itself by adding one entry to [`REGISTERED`]; nothing else in the command changes.

use std::sync::Arc;

use super::{BuildContext, BuildError, Simulator};

/// One platform simulator `snodo simulate` knows.
pub struct Registration {
    /// The system name on the command line; the built simulator's [`Simulator::name`].
    pub name: &'static str,
    /// One line for `snodo simulate`'s listing.
    pub summary: &'static str,
    /// Builds the simulator with its seeded data, its components sharing the context's clock, its
    /// settings derived from what the launch knows (PKI directory, port offset).
    pub build: fn(&BuildContext) -> Result<Arc<dyn Simulator>, BuildError>,
}

/// Every registered platform simulator. Empty until the first platform simulator lands (ANPR + PDND,
/// pagoPA node, SPID/CIE IdP, CIE booking, DESIGN §6); test doubles never belong here.
pub const REGISTERED: &[Registration] = &[
    crate::anpr::REGISTRATION,
    crate::cie_booking::REGISTRATION,
    crate::identity::REGISTRATION,
    crate::pagopa::REGISTRATION,
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnknownSimulator {
    #[error("no simulator is named {name:?}; the known ones are: {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    #[error(
        "no simulator is named {name:?}: no platform simulator is registered in this build yet \
         (ANPR + PDND, pagoPA, SPID/CIE IdP and CIE booking are to come)"
    )]
    NoneRegistered { name: String },
}

/// The registration named `name` in `registered`.
pub fn find<'r>(registered: &'r [Registration], name: &str) -> Result<&'r Registration, UnknownSimulator> {
    if let Some(r) = registered.iter().find(|r| r.name == name) {
        return Ok(r);
    }
    if registered.is_empty() {
        return Err(UnknownSimulator::NoneRegistered {
            name: name.to_owned(),
        });
    }
    Err(UnknownSimulator::Unknown {
        name: name.to_owned(),
        known: registered.iter().map(|r| r.name.to_owned()).collect(),
    })
}
