//! The response cache in front of routing: exact-key lookups with LRU, LFU or FIFO eviction, an
//! optional expiry (TTL) and an optional freshness limit that makes old entries *stale*.

use crate::config::ConfigError;
use priority_queue::PriorityQueue;
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::VecDeque;
use traces::SimTime;

/// Eviction order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CachePolicy {
    /// Evict the least recently used entry.
    Lru,
    /// Evict the least frequently used entry (ties: least recently used).
    Lfu,
    /// Evict the oldest insertion; with `ttl_s` this is the classic TTL cache.
    Fifo,
}

/// What to do with a stale entry (older than `freshness_s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStale {
    /// Treat it as a miss: the request goes to a model and refreshes the entry.
    #[default]
    Miss,
    /// Serve it anyway (counted as a stale hit).
    Serve,
}

/// Response cache configuration (`[cache]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// Eviction policy.
    pub policy: CachePolicy,
    /// Capacity in entries.
    pub capacity: u64,
    /// Entries older than this are removed on lookup (expiry), s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<f64>,
    /// Entries older than this are stale, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness_s: Option<f64>,
    /// Stale entries are served or treated as misses.
    #[serde(default)]
    pub on_stale: OnStale,
    /// Time to serve a hit, ms.
    #[serde(default = "default_hit_ms")]
    pub hit_ms: f64,
}

fn default_hit_ms() -> f64 {
    0.1
}

impl CacheSpec {
    /// Checks parameters; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::invalid(&format!("{key}.capacity"), "must be at least 1"));
        }
        for (f, v) in [("ttl_s", self.ttl_s), ("freshness_s", self.freshness_s)] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(ConfigError::invalid(
                    &format!("{key}.{f}"),
                    format!("must be a positive finite number, got {v}"),
                ));
            }
        }
        if !(self.hit_ms.is_finite() && self.hit_ms >= 0.0) {
            return Err(ConfigError::invalid(
                &format!("{key}.hit_ms"),
                format!("must be a non-negative finite number, got {}", self.hit_ms),
            ));
        }
        Ok(())
    }

    /// Builds the cache (validate first).
    pub fn build(&self) -> Cache {
        let secs = |v: Option<f64>| v.and_then(SimTime::from_secs_f64);
        Cache {
            policy: self.policy,
            capacity: self.capacity as usize,
            ttl: secs(self.ttl_s),
            freshness: secs(self.freshness_s),
            on_stale: self.on_stale,
            entries: FxHashMap::default(),
            order: match self.policy {
                CachePolicy::Lfu => Order::Frequency(PriorityQueue::with_default_hasher()),
                CachePolicy::Lru | CachePolicy::Fifo => Order::Stamps(VecDeque::new()),
            },
            tick: 0,
        }
    }
}

/// The result of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh entry: serve from the cache.
    Hit,
    /// An entry older than the freshness limit, served anyway (`on_stale = "serve"`).
    StaleHit,
    /// An entry older than the freshness limit, treated as a miss (`on_stale = "miss"`).
    StaleMiss,
    /// No usable entry (absent, or expired and removed).
    Miss,
}

struct Entry {
    inserted: SimTime,
    uses: u64,
    /// Tick of the stamp that currently represents the entry in the eviction order.
    stamp: u64,
    /// What the cache holds about the response (the engine keeps its quality here).
    payload: f32,
}

/// Eviction order.
enum Order {
    /// LRU and FIFO: a queue of (key, tick) stamps, oldest first. A key is re-stamped on every
    /// use (LRU) or insertion (FIFO); stale stamps are skipped when they reach the front. O(1)
    /// amortised, exact.
    Stamps(VecDeque<(u64, u64)>),
    /// LFU: priorities change in place; the least used (then least recently used) on top.
    Frequency(PriorityQueue<u64, Reverse<(u64, u64)>, FxBuildHasher>),
}

/// A response cache: a state machine over (key, now).
pub struct Cache {
    policy: CachePolicy,
    capacity: usize,
    ttl: Option<SimTime>,
    freshness: Option<SimTime>,
    on_stale: OnStale,
    entries: FxHashMap<u64, Entry>,
    order: Order,
    tick: u64,
}

impl Cache {
    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Puts `key` (whose entry has just been updated) at its new place in the eviction order.
    fn restamp(&mut self, key: u64) {
        self.tick += 1;
        let tick = self.tick;
        let e = self.entries.get_mut(&key).expect("restamped entries exist");
        e.stamp = tick;
        match &mut self.order {
            Order::Stamps(q) => {
                q.push_back((key, tick));
                // Keep stale stamps from piling up: drop them whenever they outnumber live ones.
                if q.len() > 2 * self.entries.len() + 64 {
                    let entries = &self.entries;
                    q.retain(|(k, t)| entries.get(k).is_some_and(|e| e.stamp == *t));
                }
            }
            Order::Frequency(pq) => {
                pq.push(key, Reverse((e.uses, tick)));
            }
        }
    }

    fn evict_one(&mut self) {
        match &mut self.order {
            Order::Stamps(q) => {
                while let Some((k, t)) = q.pop_front() {
                    if self.entries.get(&k).is_some_and(|e| e.stamp == t) {
                        self.entries.remove(&k);
                        return;
                    }
                }
            }
            Order::Frequency(pq) => {
                if let Some((k, _)) = pq.pop() {
                    self.entries.remove(&k);
                }
            }
        }
    }

    fn remove(&mut self, key: u64) {
        self.entries.remove(&key);
        if let Order::Frequency(pq) = &mut self.order {
            pq.remove(&key);
        }
        // A stamp left in the queue is stale now and will be skipped.
    }

    /// Looks `key` up at `now`; a hit counts as a use.
    pub fn lookup(&mut self, key: u64, now: SimTime) -> Lookup {
        self.lookup_payload(key, now).0
    }

    /// Like [`Cache::lookup`], also returning the entry's payload on a hit.
    pub fn lookup_payload(&mut self, key: u64, now: SimTime) -> (Lookup, f32) {
        let Some(e) = self.entries.get_mut(&key) else { return (Lookup::Miss, f32::NAN) };
        let age = now.saturating_sub(e.inserted);
        if self.ttl.is_some_and(|ttl| age > ttl) {
            self.remove(key);
            return (Lookup::Miss, f32::NAN);
        }
        let stale = self.freshness.is_some_and(|f| age > f);
        if stale && self.on_stale == OnStale::Miss {
            return (Lookup::StaleMiss, f32::NAN);
        }
        e.uses += 1;
        let payload = e.payload;
        if self.policy != CachePolicy::Fifo {
            self.restamp(key);
        }
        (if stale { Lookup::StaleHit } else { Lookup::Hit }, payload)
    }

    /// Stores (or refreshes) the response for `key` at `now`, evicting if full.
    pub fn insert(&mut self, key: u64, now: SimTime) {
        self.insert_payload(key, now, f32::NAN);
    }

    /// Like [`Cache::insert`], with a payload returned by later hits.
    pub fn insert_payload(&mut self, key: u64, now: SimTime, payload: f32) {
        if let Some(e) = self.entries.get_mut(&key) {
            e.inserted = now;
            e.payload = payload;
            self.restamp(key);
            return;
        }
        if self.entries.len() >= self.capacity {
            self.evict_one();
        }
        self.entries.insert(key, Entry { inserted: now, uses: 1, stamp: 0, payload });
        self.restamp(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(policy: CachePolicy, capacity: u64) -> Cache {
        CacheSpec { policy, capacity, ttl_s: None, freshness_s: None, on_stale: OnStale::Miss, hit_ms: 0.0 }.build()
    }
    const T: SimTime = SimTime::ZERO;

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut c = cache(CachePolicy::Lru, 2);
        c.insert(1, T);
        c.insert(2, T);
        assert_eq!(c.lookup(1, T), Lookup::Hit);
        c.insert(3, T); // evicts 2
        assert_eq!(c.lookup(2, T), Lookup::Miss);
        assert_eq!(c.lookup(1, T), Lookup::Hit);
        assert_eq!(c.lookup(3, T), Lookup::Hit);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn lfu_evicts_the_least_frequently_used() {
        let mut c = cache(CachePolicy::Lfu, 2);
        c.insert(1, T);
        c.insert(2, T);
        for _ in 0..3 {
            c.lookup(2, T);
        }
        c.lookup(1, T);
        c.insert(3, T); // 1 has 2 uses, 2 has 4: evict 1
        assert_eq!(c.lookup(1, T), Lookup::Miss);
        assert_eq!(c.lookup(2, T), Lookup::Hit);
    }

    #[test]
    fn fifo_with_ttl_expires_and_evicts_in_insertion_order() {
        let mut c = CacheSpec {
            policy: CachePolicy::Fifo,
            capacity: 2,
            ttl_s: Some(1.0),
            freshness_s: None,
            on_stale: OnStale::Miss,
            hit_ms: 0.0,
        }
        .build();
        c.insert(1, SimTime::from_millis(0));
        c.insert(2, SimTime::from_millis(10));
        c.lookup(1, SimTime::from_millis(20)); // a use does not save it under FIFO
        c.insert(3, SimTime::from_millis(30)); // evicts 1
        assert_eq!(c.lookup(1, SimTime::from_millis(40)), Lookup::Miss);
        assert_eq!(c.lookup(2, SimTime::from_millis(1010)), Lookup::Hit);
        assert_eq!(c.lookup(2, SimTime::from_millis(1011)), Lookup::Miss); // expired, removed
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn stale_entries_are_counted_and_served_or_missed_as_configured() {
        for (on_stale, expect) in [(OnStale::Serve, Lookup::StaleHit), (OnStale::Miss, Lookup::StaleMiss)] {
            let mut c = CacheSpec {
                policy: CachePolicy::Lru,
                capacity: 4,
                ttl_s: None,
                freshness_s: Some(1.0),
                on_stale,
                hit_ms: 0.0,
            }
            .build();
            c.insert(7, SimTime::ZERO);
            assert_eq!(c.lookup(7, SimTime::from_millis(1000)), Lookup::Hit);
            assert_eq!(c.lookup(7, SimTime::from_millis(1001)), expect);
            c.insert(7, SimTime::from_millis(1500)); // refreshed
            assert_eq!(c.lookup(7, SimTime::from_millis(2000)), Lookup::Hit);
        }
    }
}
