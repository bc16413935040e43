//! Simulators of the systems around Snodo: the national platforms (each a real server speaking the real
//! protocol, with seeded data, scripted faults and a record of what it received) and the demo municipal
//! backend that `snodo up` runs so that a newcomer sees every flow work end to end.

pub mod anpr;
pub mod backend;
pub mod cie_booking;
pub mod framework;
pub mod identity;
pub mod pagopa;
pub mod population;
