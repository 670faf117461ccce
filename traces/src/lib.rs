//! Requests and traces for servesim: the request schema, synthetic workload generators,
//! validation, content ids and (with the `formats` feature) trace files.
//!
//! Time is integer nanoseconds ([`SimTime`]) everywhere; seconds exist only in files and
//! specifications and are converted here, at the boundary.
//!
//! ```
//! use traces::workload::{ArrivalSpec, SizeSpec, WorkloadSpec};
//! use traces::SimTime;
//!
//! let spec = WorkloadSpec {
//!     arrivals: ArrivalSpec::Deterministic { rate: 4.0 },
//!     input_size: SizeSpec::Fixed { value: 512 },
//!     output_tokens: SizeSpec::zero(),
//!     cache_keys: None,
//!     prefixes: None,
//!     sessions: None,
//! };
//! let times: Vec<SimTime> = spec.generator(1, 3).unwrap().map(|r| r.arrival).collect();
//! assert_eq!(times, [SimTime::from_millis(250), SimTime::from_millis(500), SimTime::from_millis(750)]);
//! let id = traces::id::trace_id(&spec.generator(1, 3).unwrap().collect::<Vec<_>>(), &["default".into()]);
//! assert!(id.starts_with("tr-"));
//! ```
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
