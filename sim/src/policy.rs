//! Serving policies, each a pure state machine over `(state, now)`.
//!
//! A policy sees a read-only view and the current time and returns a decision; it never reads a
//! clock or schedules an event itself. The simulator feeds it simulated time; the replay harness
//! feeds the same code the wall clock.

pub mod batcher;
pub mod cache;
pub mod queue;
pub mod router;

pub use batcher::{BatchDecision, Batcher, BatcherSpec, QueueView};
pub use cache::{Cache, CacheSpec, Lookup};
pub use queue::{ClassOrder, QueueDiscipline};
pub use router::{DeviceView, Router, RouterSpec};
