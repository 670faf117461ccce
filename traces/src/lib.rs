//! Requests and traces for servesim: the request schema, synthetic workload generators,
//! validation, content ids and (with the `formats` feature) trace files.
//!
//! Time is integer nanoseconds ([`SimTime`]) everywhere; seconds exist only in files and
//! specifications and are converted here, at the boundary.
//!
//! **Architecture invariant:** this crate is the only one that knows file formats. Without the
//! `formats` feature it does no IO at all, which is how the simulator uses it.

pub mod error;
#[cfg(feature = "formats")]
pub mod formats;
pub mod id;
pub mod request;
pub mod rng;
pub mod stats;
pub mod time;
pub mod validate;
pub mod workload;

pub use error::{Result, TraceError};
pub use request::{ClassId, Request, Trace};
pub use time::SimTime;
