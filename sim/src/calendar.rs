//! The event calendar: a binary heap ordered by (time, insertion sequence).
//!
//! Ties pop in insertion order (FIFO), so a run is reproducible event by event. Scheduling into
//! the past is an error, not a panic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use traces::SimTime;

/// Attempt to schedule an event before the current time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot schedule an event at {at} before the current time {now}")]
pub struct ScheduleError {
    /// Requested time.
    pub at: SimTime,
    /// Calendar time when it was requested.
    pub now: SimTime,
}

struct Entry<E> {
    time: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest (time, seq) first.
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// A future-event list with a clock.
pub struct Calendar<E> {
    heap: BinaryHeap<Entry<E>>,
    now: SimTime,
    seq: u64,
}

impl<E> Default for Calendar<E> {
    fn default() -> Self {
        Calendar { heap: BinaryHeap::new(), now: SimTime::ZERO, seq: 0 }
    }
}

impl<E> Calendar<E> {
    /// An empty calendar at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current time: the time of the last event popped.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at absolute time `at` (not before [`Calendar::now`]).
    pub fn schedule(&mut self, at: SimTime, event: E) -> Result<(), ScheduleError> {
        if at < self.now {
            return Err(ScheduleError { at, now: self.now });
        }
        self.seq += 1;
        self.heap.push(Entry { time: at, seq: self.seq, event });
        Ok(())
    }

    /// Removes the earliest event and advances the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let e = self.heap.pop()?;
        self.now = e.time;
        Some((e.time, e.event))
    }

    /// Takes the next insertion sequence number without scheduling anything: for an event kept
    /// outside the heap (the next arrival) that must still order among ties as if it were inside.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// (time, sequence) of the earliest pending event.
    pub fn peek_key(&self) -> Option<(SimTime, u64)> {
        self.heap.peek().map(|e| (e.time, e.seq))
    }

    /// Advances the clock to `t` for an event handled outside the heap.
    pub fn advance(&mut self, t: SimTime) -> Result<(), ScheduleError> {
        if t < self.now {
            return Err(ScheduleError { at: t, now: self.now });
        }
        self.now = t;
        Ok(())
    }

    /// Time of the earliest pending event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_pop_in_insertion_order() {
        let mut c = Calendar::new();
        for (t, label) in [(5, 'a'), (3, 'b'), (5, 'c'), (3, 'd'), (5, 'e'), (0, 'f')] {
            c.schedule(SimTime(t), label).unwrap();
        }
        let order: Vec<char> = std::iter::from_fn(|| c.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['f', 'b', 'd', 'a', 'c', 'e']);
    }

    #[test]
    fn scheduling_into_the_past_is_an_error_and_the_clock_is_monotone() {
        let mut c = Calendar::new();
        c.schedule(SimTime(10), ()).unwrap();
        assert_eq!(c.pop().map(|(t, _)| t), Some(SimTime(10)));
        assert_eq!(c.schedule(SimTime(9), ()), Err(ScheduleError { at: SimTime(9), now: SimTime(10) }));
        c.schedule(SimTime(10), ()).unwrap();
        assert_eq!(c.pop().map(|(t, _)| t), Some(SimTime(10)));
    }
}
