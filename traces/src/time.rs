//! Simulated time: integer nanoseconds.
//!
//! Every clock in servesim is a [`SimTime`]; floating-point seconds exist only at the edges
//! (files, configuration, printed summaries) and are converted here, once.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in (or a span of) simulated time, in nanoseconds since the start of the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SimTime(pub u64);

impl SimTime {
    /// Time zero: the start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable time (about 584 years).
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// Converts non-negative, finite seconds to nanoseconds, rounding to the nearest nanosecond.
    ///
    /// Returns `None` for negative, NaN, infinite or unrepresentably large inputs.
    pub fn from_secs_f64(secs: f64) -> Option<SimTime> {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        let ns = secs * 1e9;
        if ns >= u64::MAX as f64 {
            return None;
        }
        Some(SimTime::round_ns(ns))
    }

    /// Rounds non-negative, finite nanoseconds to the nearest integer (ties away from zero).
    ///
    /// `(x + 0.5)` truncated: the same as `f64::round` for non-negative values below 2⁵², without
    /// a libm call on the simulator's hot path.
    #[inline]
    pub fn round_ns(ns: f64) -> SimTime {
        SimTime((ns + 0.5) as u64)
    }

    /// Milliseconds (fractional) to time; `None` as for [`SimTime::from_secs_f64`].
    pub fn from_millis_f64(ms: f64) -> Option<SimTime> {
        Self::from_secs_f64(ms / 1e3)
    }

    /// Whole milliseconds to time.
    pub const fn from_millis(ms: u64) -> SimTime {
        SimTime(ms * 1_000_000)
    }

    /// Whole microseconds to time.
    pub const fn from_micros(us: u64) -> SimTime {
        SimTime(us * 1_000)
    }

    /// Nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds as a float (for output only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Milliseconds as a float (for output only).
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// `self + d`, saturating at [`SimTime::MAX`].
    pub const fn saturating_add(self, d: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub const fn saturating_sub(self, earlier: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0 + rhs.0)
    }
}

impl std::ops::Sub for SimTime {
    type Output = SimTime;
    fn sub(self, rhs: SimTime) -> SimTime {
        SimTime(self.0 - rhs.0)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6} s", self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_trip_through_f64_for_an_hour_of_nanoseconds() {
        for ns in [0u64, 1, 999, 1_000_000_007, 3_599_999_999_999, 86_400_000_000_001] {
            let s = SimTime(ns).as_secs_f64();
            assert_eq!(SimTime::from_secs_f64(s), Some(SimTime(ns)), "{ns}");
        }
    }

    #[test]
    fn rejects_negative_nan_and_infinite_seconds() {
        assert_eq!(SimTime::from_secs_f64(-1e-9), None);
        assert_eq!(SimTime::from_secs_f64(f64::NAN), None);
        assert_eq!(SimTime::from_secs_f64(f64::INFINITY), None);
        assert_eq!(SimTime::from_secs_f64(1e300), None);
    }
}
