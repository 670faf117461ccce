//! Batching: when a device takes how many waiting requests into one batch.

use crate::check::ConfigError;
use serde::{Deserialize, Serialize};
use traces::SimTime;

/// What a batcher sees of its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueView {
    /// Requests waiting.
    pub len: usize,
    /// Arrival time of the oldest waiting request.
    pub oldest: Option<SimTime>,
    /// Servers free to start a batch now.
    pub idle_servers: u32,
}

/// A batcher's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchDecision {
    /// Start a batch of this many requests (1 ≤ n ≤ waiting) on an idle server now.
    Dispatch(usize),
    /// Nothing now; ask again at this time (or earlier, if something changes).
    WaitUntil(SimTime),
    /// Nothing until something changes (an arrival or a completion).
    Hold,
}

/// A batching policy for one device.
pub trait Batcher: Send {
    /// Decides what to do now. Called after every arrival, completion and timer of the device,
    /// and again after each dispatch, until it does not dispatch.
    fn decide(&mut self, queue: QueueView, now: SimTime) -> BatchDecision;

    /// Told when a batch finishes: its size and service time (for adaptive policies).
    fn batch_done(&mut self, _size: usize, _service: SimTime) {}

    /// The largest batch this policy can ever dispatch.
    fn max_batch(&self) -> usize;
}

/// Batching policy configuration (`[devices.batching]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BatcherSpec {
    /// One request at a time.
    #[default]
    None,
    /// Fixed-size batches: dispatch `size` requests as soon as that many wait, or whatever waits
    /// once the oldest has waited `timeout_ms`.
    Static {
        /// Batch size.
        size: usize,
        /// Longest wait of the oldest request before a partial batch goes, ms.
        timeout_ms: f64,
    },
    /// Triton-style dynamic batching (Triton's `GetDynamicBatch`): when a server is free and
    /// `n` requests wait,
    /// - with `preferred_batch_sizes`, before the oldest request has waited
    ///   `max_queue_delay_ms`: dispatch the largest preferred size ≤ min(n, `max_batch`) at once
    ///   (so batches are capped at the largest preferred size while the delay runs, even when
    ///   `max_batch` or more wait);
    /// - otherwise, if `n` ≥ `max_batch` or the delay has passed: dispatch min(n, `max_batch`)
    ///   (after the delay everything pending goes, up to `max_batch`);
    /// - otherwise wait until the oldest request has waited the delay.
    ///
    /// Without preferred sizes: `max_batch` as soon as that many wait, else whatever waits once
    /// the oldest has waited the delay.
    Dynamic {
        /// Largest batch.
        max_batch: usize,
        /// Longest wait of the oldest request before a batch goes, ms.
        max_queue_delay_ms: f64,
        /// Batch sizes the model runs best at (optional).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        preferred_batch_sizes: Vec<usize>,
    },
    /// Clipper-style AIMD: dispatch up to the current limit whenever a server is free; after each
    /// batch, raise the limit by `increase` if the batch's service time met `target_ms`, else
    /// multiply it by `backoff`.
    Adaptive {
        /// Largest batch.
        max_batch: usize,
        /// Service-time target for one batch, ms.
        target_ms: f64,
        /// Additive increase per batch on target (default 1).
        #[serde(default = "one")]
        increase: usize,
        /// Multiplicative decrease when over target, in (0, 1) (default 0.9, as in Clipper).
        #[serde(default = "backoff")]
        backoff: f64,
    },
}

fn one() -> usize {
    1
}
fn backoff() -> f64 {
    0.9
}

fn positive_ms(key: &str, v: f64) -> Result<SimTime, ConfigError> {
    if v.is_finite() && v >= 0.0 {
        SimTime::from_millis_f64(v).ok_or_else(|| ConfigError::invalid(key, "too large"))
    } else {
        Err(ConfigError::invalid(key, format!("must be a non-negative finite number of ms, got {v}")))
    }
}

/// Largest batch size accepted: far above any real batch, low enough to allocate for.
pub const MAX_BATCH: usize = 1_000_000;

fn at_least_one(key: &str, v: usize) -> Result<(), ConfigError> {
    if v == 0 {
        Err(ConfigError::invalid(key, "must be at least 1"))
    } else if v > MAX_BATCH {
        Err(ConfigError::invalid(key, format!("{v} is above the largest batch size servesim accepts ({MAX_BATCH})")))
    } else {
        Ok(())
    }
}

impl BatcherSpec {
    /// Checks parameters; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            BatcherSpec::None => Ok(()),
            BatcherSpec::Static { size, timeout_ms } => {
                at_least_one(&format!("{key}.size"), *size)?;
                positive_ms(&format!("{key}.timeout_ms"), *timeout_ms).map(|_| ())
            }
            BatcherSpec::Dynamic { max_batch, max_queue_delay_ms, preferred_batch_sizes } => {
                at_least_one(&format!("{key}.max_batch"), *max_batch)?;
                positive_ms(&format!("{key}.max_queue_delay_ms"), *max_queue_delay_ms)?;
                for (i, p) in preferred_batch_sizes.iter().enumerate() {
                    let k = format!("{key}.preferred_batch_sizes[{i}]");
                    at_least_one(&k, *p)?;
                    if p > max_batch {
                        return Err(ConfigError::invalid(&k, format!("{p} is above max_batch {max_batch}")));
                    }
                }
                Ok(())
            }
            BatcherSpec::Adaptive { max_batch, target_ms, increase, backoff } => {
                at_least_one(&format!("{key}.max_batch"), *max_batch)?;
                at_least_one(&format!("{key}.increase"), *increase)?;
                positive_ms(&format!("{key}.target_ms"), *target_ms)?;
                if !(*backoff > 0.0 && *backoff < 1.0) {
                    return Err(ConfigError::invalid(
                        &format!("{key}.backoff"),
                        format!("must be in (0, 1), got {backoff}"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Builds the policy (validate first).
    pub fn build(&self) -> Box<dyn Batcher> {
        let ms = |v: f64| SimTime::from_millis_f64(v).unwrap_or(SimTime::MAX);
        match self {
            BatcherSpec::None => Box::new(NoBatching),
            BatcherSpec::Static { size, timeout_ms } => {
                Box::new(StaticBatcher { size: *size, timeout: ms(*timeout_ms) })
            }
            BatcherSpec::Dynamic { max_batch, max_queue_delay_ms, preferred_batch_sizes } => {
                let mut preferred = preferred_batch_sizes.clone();
                preferred.sort_unstable();
                preferred.dedup();
                Box::new(DynamicBatcher { max_batch: *max_batch, delay: ms(*max_queue_delay_ms), preferred })
            }
            BatcherSpec::Adaptive { max_batch, target_ms, increase, backoff } => Box::new(AimdBatcher {
                max_batch: *max_batch,
                target: ms(*target_ms),
                increase: *increase,
                backoff: *backoff,
                limit: 1,
            }),
        }
    }

    /// Whether requests are served one at a time.
    pub fn is_none(&self) -> bool {
        matches!(self, BatcherSpec::None)
    }
}

/// No batching: one request per server.
#[derive(Debug)]
pub struct NoBatching;

impl Batcher for NoBatching {
    fn decide(&mut self, q: QueueView, _now: SimTime) -> BatchDecision {
        if q.len > 0 && q.idle_servers > 0 { BatchDecision::Dispatch(1) } else { BatchDecision::Hold }
    }
    fn max_batch(&self) -> usize {
        1
    }
}

/// Fixed-size batches with a timeout for partial ones.
#[derive(Debug)]
pub struct StaticBatcher {
    size: usize,
    timeout: SimTime,
}

impl Batcher for StaticBatcher {
    fn decide(&mut self, q: QueueView, now: SimTime) -> BatchDecision {
        let Some(oldest) = q.oldest.filter(|_| q.idle_servers > 0) else {
            return BatchDecision::Hold;
        };
        if q.len >= self.size {
            return BatchDecision::Dispatch(self.size);
        }
        let deadline = oldest.saturating_add(self.timeout);
        if now >= deadline { BatchDecision::Dispatch(q.len) } else { BatchDecision::WaitUntil(deadline) }
    }
    fn max_batch(&self) -> usize {
        self.size
    }
}

/// Triton-style dynamic batcher (see [`BatcherSpec::Dynamic`]).
#[derive(Debug)]
pub struct DynamicBatcher {
    max_batch: usize,
    delay: SimTime,
    /// Sorted, unique.
    preferred: Vec<usize>,
}

impl Batcher for DynamicBatcher {
    fn decide(&mut self, q: QueueView, now: SimTime) -> BatchDecision {
        let Some(oldest) = q.oldest.filter(|_| q.idle_servers > 0) else {
            return BatchDecision::Hold;
        };
        let formable = q.len.min(self.max_batch);
        let deadline = oldest.saturating_add(self.delay);
        let delay_passed = now >= deadline;
        if !delay_passed && let Some(&best) = self.preferred.iter().rev().find(|&&p| p <= formable) {
            return BatchDecision::Dispatch(best);
        }
        if q.len >= self.max_batch || delay_passed {
            return BatchDecision::Dispatch(formable);
        }
        BatchDecision::WaitUntil(deadline)
    }
    fn max_batch(&self) -> usize {
        self.max_batch
    }
}

/// Additive-increase, multiplicative-decrease batch limit (Clipper).
#[derive(Debug)]
pub struct AimdBatcher {
    max_batch: usize,
    target: SimTime,
    increase: usize,
    backoff: f64,
    limit: usize,
}

impl AimdBatcher {
    /// The current batch-size limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Batcher for AimdBatcher {
    fn decide(&mut self, q: QueueView, _now: SimTime) -> BatchDecision {
        if q.len > 0 && q.idle_servers > 0 {
            BatchDecision::Dispatch(q.len.min(self.limit))
        } else {
            BatchDecision::Hold
        }
    }
    fn batch_done(&mut self, size: usize, service: SimTime) {
        if service <= self.target {
            // Only a full batch is evidence that a larger one would still meet the target.
            if size >= self.limit {
                self.limit = (self.limit + self.increase).min(self.max_batch);
            }
        } else {
            self.limit = ((self.limit as f64 * self.backoff).floor() as usize).max(1);
        }
    }
    fn max_batch(&self) -> usize {
        self.max_batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(len: usize, oldest_ms: u64, idle: u32) -> QueueView {
        QueueView { len, oldest: (len > 0).then(|| SimTime::from_millis(oldest_ms)), idle_servers: idle }
    }
    const fn at(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }

    #[test]
    fn dynamic_waits_for_the_oldest_request_then_dispatches_what_it_has() {
        let mut b =
            BatcherSpec::Dynamic { max_batch: 8, max_queue_delay_ms: 4.0, preferred_batch_sizes: vec![] }.build();
        assert_eq!(b.decide(q(3, 10, 1), at(11)), BatchDecision::WaitUntil(at(14)));
        assert_eq!(b.decide(q(3, 10, 1), at(14)), BatchDecision::Dispatch(3)); // timer expiry
        assert_eq!(b.decide(q(9, 10, 1), at(11)), BatchDecision::Dispatch(8)); // full batch
        assert_eq!(b.decide(q(9, 10, 0), at(30)), BatchDecision::Hold); // busy server
        assert_eq!(b.decide(q(0, 0, 1), at(30)), BatchDecision::Hold);
    }

    /// Triton's `GetDynamicBatch` with preferred sizes {4, 8}, `max_batch` 16, delay 4 ms; the
    /// oldest request arrived at 10 ms, so the delay ends at 14 ms.
    fn triton() -> Box<dyn Batcher> {
        BatcherSpec::Dynamic { max_batch: 16, max_queue_delay_ms: 4.0, preferred_batch_sizes: vec![8, 4] }.build()
    }

    #[test]
    fn triton_sends_the_largest_preferred_size_that_can_be_formed_at_once() {
        let mut b = triton();
        // 5 waiting at 11 ms: preferred sizes ≤ 5 are {4}: 4 go now, without waiting.
        assert_eq!(b.decide(q(5, 10, 1), at(11)), BatchDecision::Dispatch(4));
        // 9 waiting: {4, 8} fit, 8 goes.
        assert_eq!(b.decide(q(9, 10, 1), at(11)), BatchDecision::Dispatch(8));
        // 3 waiting: no preferred size can be formed, and 3 < max_batch: wait for the delay.
        assert_eq!(b.decide(q(3, 10, 1), at(11)), BatchDecision::WaitUntil(at(14)));
    }

    #[test]
    fn triton_caps_batches_at_the_largest_preferred_size_before_the_delay() {
        let mut b = triton();
        // 20 waiting ≥ max_batch 16, but the delay has not passed: the largest preferred size
        // ≤ min(20, 16) is 8, not 16.
        assert_eq!(b.decide(q(20, 10, 1), at(11)), BatchDecision::Dispatch(8));
        assert_eq!(b.decide(q(16, 10, 1), at(13)), BatchDecision::Dispatch(8));
    }

    #[test]
    fn triton_sends_everything_pending_up_to_max_batch_after_the_delay() {
        let mut b = triton();
        // At 14 ms the oldest has waited 4 ms: 6 waiting all go (not the preferred 4) …
        assert_eq!(b.decide(q(6, 10, 1), at(14)), BatchDecision::Dispatch(6));
        // … 3 waiting (no preferred size formable) go too …
        assert_eq!(b.decide(q(3, 10, 1), at(15)), BatchDecision::Dispatch(3));
        // … and 20 waiting send max_batch = 16.
        assert_eq!(b.decide(q(20, 10, 1), at(14)), BatchDecision::Dispatch(16));
        // No idle server: nothing, whatever waits.
        assert_eq!(b.decide(q(20, 10, 0), at(14)), BatchDecision::Hold);
    }

    #[test]
    fn triton_preferred_sizes_above_what_waits_do_not_apply() {
        // Preferred {8} only, max_batch 8: 6 waiting before the delay cannot form 8 and wait;
        // 8 waiting go at once; after the delay 6 go.
        let mut b =
            BatcherSpec::Dynamic { max_batch: 8, max_queue_delay_ms: 4.0, preferred_batch_sizes: vec![8] }.build();
        assert_eq!(b.decide(q(6, 10, 1), at(12)), BatchDecision::WaitUntil(at(14)));
        assert_eq!(b.decide(q(8, 10, 1), at(12)), BatchDecision::Dispatch(8));
        assert_eq!(b.decide(q(6, 10, 1), at(14)), BatchDecision::Dispatch(6));
    }

    #[test]
    fn static_dispatches_full_batches_or_a_partial_one_on_timeout() {
        let mut b = BatcherSpec::Static { size: 4, timeout_ms: 10.0 }.build();
        assert_eq!(b.decide(q(5, 0, 1), at(1)), BatchDecision::Dispatch(4));
        assert_eq!(b.decide(q(2, 0, 1), at(1)), BatchDecision::WaitUntil(at(10)));
        assert_eq!(b.decide(q(2, 0, 1), at(10)), BatchDecision::Dispatch(2));
    }

    #[test]
    fn aimd_grows_additively_and_backs_off_multiplicatively() {
        let mut b = AimdBatcher { max_batch: 32, target: at(10), increase: 2, backoff: 0.5, limit: 1 };
        assert_eq!(b.decide(q(50, 0, 1), at(0)), BatchDecision::Dispatch(1));
        for _ in 0..5 {
            let n = b.limit();
            b.batch_done(n, at(5));
        }
        assert_eq!(b.limit(), 11);
        b.batch_done(3, at(5)); // a partial batch on target says nothing about larger ones
        assert_eq!(b.limit(), 11);
        b.batch_done(11, at(12));
        assert_eq!(b.limit(), 5);
        for _ in 0..40 {
            b.batch_done(b.limit(), at(1));
        }
        assert_eq!(b.limit(), 32);
    }
}
