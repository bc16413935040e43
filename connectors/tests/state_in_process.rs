//! The coordination-store conformance suite against the in-process store of the embedded development
//! mode: the same cases Redis passes.

use snodo_connectors::state::testing::TestBackend;

snodo_connectors::state_conformance_tests!(TestBackend::InProcess);
