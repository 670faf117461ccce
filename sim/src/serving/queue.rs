//! A station's waiting requests: one FIFO per class, taken in the order of the station's
//! discipline ([`crate::policy::queue`]). With `fifo` there is one FIFO and no class is read.

use super::{Ticket, Waiting};
use crate::policy::{ClassOrder, QueueDiscipline};
use std::collections::VecDeque;
use traces::SimTime;

/// Waiting requests by class.
pub(crate) struct ClassQueues<T> {
    queues: Vec<VecDeque<Waiting<T>>>,
    len: usize,
    discipline: QueueDiscipline,
    /// Classes in the order strict priority visits them (highest priority first, then index).
    by_priority: Vec<usize>,
    weights: Vec<f64>,
    /// Per class: requests taken / weight (`weighted`).
    virt: Vec<f64>,
}

impl<T: Ticket> ClassQueues<T> {
    pub(crate) fn new(order: &ClassOrder) -> Self {
        let n = if order.discipline == QueueDiscipline::Fifo { 1 } else { order.priorities.len().max(1) };
        let mut by_priority: Vec<usize> = (0..n).collect();
        by_priority.sort_by_key(|&c| std::cmp::Reverse(order.priorities.get(c).copied().unwrap_or(0)));
        ClassQueues {
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            len: 0,
            discipline: order.discipline,
            by_priority,
            weights: (0..n).map(|c| order.weights.get(c).copied().unwrap_or(1.0)).collect(),
            virt: vec![0.0; n],
        }
    }

    fn class_of(&self, item: &T) -> usize {
        if self.queues.len() == 1 { 0 } else { item.class().min(self.queues.len() - 1) }
    }

    #[inline]
    pub(crate) fn push(&mut self, w: Waiting<T>) {
        let c = self.class_of(&w.item);
        if self.discipline == QueueDiscipline::Weighted && self.queues[c].is_empty() {
            // A class that was idle starts level with the busiest-served waiting class: it does
            // not claim back the service it did not ask for.
            let floor = (0..self.queues.len())
                .filter(|&k| !self.queues[k].is_empty())
                .map(|k| self.virt[k])
                .fold(f64::INFINITY, f64::min);
            if floor.is_finite() {
                self.virt[c] = self.virt[c].max(floor);
            }
        }
        self.queues[c].push_back(w);
        self.len += 1;
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// When the oldest waiting request joined.
    #[inline]
    pub(crate) fn oldest(&self) -> Option<SimTime> {
        if self.queues.len() == 1 {
            return self.queues[0].front().map(|w| w.enqueued);
        }
        self.queues.iter().filter_map(|q| q.front().map(|w| w.enqueued)).min()
    }

    /// Removes the oldest request that has waited more than `limit` at `now`, if any.
    #[inline]
    pub(crate) fn pop_expired(&mut self, now: SimTime, limit: SimTime) -> Option<Waiting<T>> {
        let c = (0..self.queues.len())
            .filter(|&c| self.queues[c].front().is_some_and(|w| now.saturating_sub(w.enqueued) > limit))
            .min_by_key(|&c| self.queues[c].front().map(|w| w.enqueued))?;
        self.len -= 1;
        self.queues[c].pop_front()
    }

    /// The class the next request is taken from.
    fn next_class(&self) -> Option<usize> {
        match self.discipline {
            QueueDiscipline::Fifo => (!self.queues[0].is_empty()).then_some(0),
            QueueDiscipline::Priority => self.by_priority.iter().copied().find(|&c| !self.queues[c].is_empty()),
            QueueDiscipline::Weighted => (0..self.queues.len())
                .filter(|&c| !self.queues[c].is_empty())
                .min_by(|&a, &b| self.virt[a].total_cmp(&self.virt[b]).then(a.cmp(&b))),
        }
    }

    /// Moves the next `n` (≤ len) requests to `out`, in the order the discipline takes them.
    #[inline]
    pub(crate) fn take(&mut self, n: usize, out: &mut Vec<Waiting<T>>) {
        if self.queues.len() == 1 {
            let q = &mut self.queues[0];
            let (front, back) = q.as_slices();
            let from_front = n.min(front.len());
            out.extend_from_slice(&front[..from_front]);
            out.extend_from_slice(&back[..n - from_front]);
            q.drain(..n);
        } else {
            for _ in 0..n {
                let c = self.next_class().expect("n is at most the number waiting");
                out.push(self.queues[c].pop_front().expect("a non-empty class"));
                if self.discipline == QueueDiscipline::Weighted {
                    self.virt[c] += 1.0 / self.weights[c];
                }
            }
        }
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct R(u64, usize);

    impl Ticket for R {
        fn request_id(&self) -> u64 {
            self.0
        }
        fn class(&self) -> usize {
            self.1
        }
    }

    fn queues(d: QueueDiscipline, priorities: Vec<u32>, weights: Vec<f64>) -> ClassQueues<R> {
        ClassQueues::new(&ClassOrder { discipline: d, priorities, weights })
    }

    fn drain(q: &mut ClassQueues<R>) -> Vec<u64> {
        let mut out = Vec::new();
        q.take(q.len(), &mut out);
        out.iter().map(|w| w.item.0).collect()
    }

    fn fill(q: &mut ClassQueues<R>, items: &[(u64, usize)]) {
        for (i, &(id, c)) in items.iter().enumerate() {
            q.push(Waiting { item: R(id, c), enqueued: SimTime::from_millis(i as u64) });
        }
    }

    const MIX: [(u64, usize); 6] = [(1, 1), (2, 0), (3, 1), (4, 0), (5, 1), (6, 1)];

    #[test]
    fn fifo_ignores_classes() {
        let mut q = queues(QueueDiscipline::Fifo, vec![0, 5], vec![1.0, 1.0]);
        fill(&mut q, &MIX);
        assert_eq!(q.oldest(), Some(SimTime::ZERO));
        assert_eq!(drain(&mut q), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn strict_priority_serves_the_higher_class_first_and_fifo_within() {
        let mut q = queues(QueueDiscipline::Priority, vec![0, 5], vec![1.0, 1.0]);
        fill(&mut q, &MIX);
        assert_eq!(drain(&mut q), vec![1, 3, 5, 6, 2, 4]);
    }

    #[test]
    fn weighted_shares_in_proportion_to_the_weights() {
        // Weights 2 : 1: class 0 gets two of every three while both wait.
        let mut q = queues(QueueDiscipline::Weighted, vec![0, 0], vec![2.0, 1.0]);
        let items: Vec<(u64, usize)> = (0..12).map(|i| (i, usize::from(i >= 6))).collect();
        fill(&mut q, &items);
        let order = drain(&mut q);
        let first_six: usize = order[..6].iter().filter(|&&id| id < 6).count();
        assert_eq!(first_six, 4, "{order:?}");
    }

    #[test]
    fn expired_requests_are_taken_oldest_first_across_classes() {
        let mut q = queues(QueueDiscipline::Priority, vec![0, 5], vec![1.0, 1.0]);
        fill(&mut q, &MIX);
        let w = q.pop_expired(SimTime::from_millis(10), SimTime::from_millis(9)).unwrap();
        assert_eq!(w.item.0, 1);
        assert!(q.pop_expired(SimTime::from_millis(10), SimTime::from_millis(9)).is_none());
        assert_eq!(q.len(), 5);
    }
}
