//! `servesim` as a library: the operations of the `servesim-service` crate (`service/`),
//! re-exported under the name the binary, the tests and the Python module use. The binary
//! (`src/main.rs`, `src/cmd/`) only parses flags, calls these and prints.

pub use servesim_service::*;
