//! Queue disciplines: in which order a station takes its waiting requests, by class.
//!
//! Requests carry a class (a tenant or traffic class, `[[classes]]`). `fifo` ignores it; `priority`
//! takes the waiting requests of the highest-priority class first (strict: a lower class waits
//! while a higher one has anything queued), oldest first within a class; `weighted` shares the
//! servers between the classes that have requests waiting in proportion to their weights: each
//! request taken goes to the waiting class with the least service so far per unit of weight
//! (requests taken / weight; a class that was idle restarts at the busy classes' level, so it does
//! not claim back what it did not ask for: start-time fair queueing over request counts).

use serde::{Deserialize, Serialize};

/// How a station orders its queue (`devices[].queue`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueDiscipline {
    /// First come, first served, whatever the class.
    #[default]
    Fifo,
    /// Strict priority by class (`classes[].priority`, higher first), FIFO within a class.
    Priority,
    /// Weighted fair sharing between classes (`classes[].weight`).
    Weighted,
}

impl QueueDiscipline {
    /// Whether this is the default (`fifo`).
    pub fn is_fifo(&self) -> bool {
        *self == QueueDiscipline::Fifo
    }
}

/// A discipline with its classes' priorities and weights (index = class).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassOrder {
    /// The discipline.
    pub discipline: QueueDiscipline,
    /// Priority per class (higher first).
    pub priorities: Vec<u32>,
    /// Weight per class (> 0).
    pub weights: Vec<f64>,
}
