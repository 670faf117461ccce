//! The response cache in front of routing: exact-key lookups with LRU, LFU or FIFO eviction, an
//! optional expiry (TTL) and an optional freshness limit that makes old entries *stale*.

use crate::check::ConfigError;
use lru::LruCache;
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
        Cache::new(self)
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

#[derive(Clone, Copy)]
struct Entry {
    inserted: SimTime,
    uses: u64,
    /// Tick of the entry's current place in the FIFO order.
    stamp: u64,
    /// What the cache holds about the response (the engine keeps its quality here).
    payload: f32,
}

/// Entries and their eviction order, per policy.
enum Store {
    /// LRU: the `lru` crate's hash map threaded on a recency list, O(1) per operation.
    Lru(LruCache<u64, Entry, FxBuildHasher>),
    /// FIFO: a queue of (key, tick) stamps, oldest first; a refreshed key is re-stamped and its
    /// old stamp skipped when it reaches the front.
    Fifo { entries: FxHashMap<u64, Entry>, stamps: VecDeque<(u64, u64)> },
    /// LFU: priorities change in place; the least used (then least recently used) on top.
    Lfu { entries: FxHashMap<u64, Entry>, order: PriorityQueue<u64, Reverse<(u64, u64)>, FxBuildHasher> },
}

/// A response cache: a state machine over (key, now).
pub struct Cache {
    capacity: usize,
    ttl: Option<SimTime>,
    freshness: Option<SimTime>,
    on_stale: OnStale,
    store: Store,
    tick: u64,
}

impl Cache {
    fn new(spec: &CacheSpec) -> Cache {
        let secs = |v: Option<f64>| v.and_then(SimTime::from_secs_f64);
        let capacity = usize::try_from(spec.capacity).unwrap_or(usize::MAX).max(1);
        let store = match spec.policy {
            // Unbounded, with eviction done here: `with_hasher` would allocate `capacity` up front.
            CachePolicy::Lru => Store::Lru(LruCache::unbounded_with_hasher(FxBuildHasher)),
            CachePolicy::Fifo => Store::Fifo { entries: FxHashMap::default(), stamps: VecDeque::new() },
            CachePolicy::Lfu => {
                Store::Lfu { entries: FxHashMap::default(), order: PriorityQueue::with_default_hasher() }
            }
        };
        Cache {
            capacity,
            ttl: secs(spec.ttl_s),
            freshness: secs(spec.freshness_s),
            on_stale: spec.on_stale,
            store,
            tick: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Lru(c) => c.len(),
            Store::Fifo { entries, .. } | Store::Lfu { entries, .. } => entries.len(),
        }
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks `key` up at `now`; a hit counts as a use.
    pub fn lookup(&mut self, key: u64, now: SimTime) -> Lookup {
        self.lookup_payload(key, now).0
    }

    /// Like [`Cache::lookup`], also returning the entry's payload on a hit.
    pub fn lookup_payload(&mut self, key: u64, now: SimTime) -> (Lookup, f32) {
        self.tick += 1;
        let tick = self.tick;
        let (ttl, freshness, on_stale) = (self.ttl, self.freshness, self.on_stale);
        // Peek first: neither an expired nor a refused stale entry counts as a use.
        let entry = match &mut self.store {
            Store::Lru(c) => c.peek(&key).copied(),
            Store::Fifo { entries, .. } | Store::Lfu { entries, .. } => entries.get(&key).copied(),
        };
        let Some(e) = entry else { return (Lookup::Miss, f32::NAN) };
        let age = now.saturating_sub(e.inserted);
        if ttl.is_some_and(|ttl| age > ttl) {
            match &mut self.store {
                Store::Lru(c) => {
                    c.pop(&key);
                }
                Store::Fifo { entries, .. } => {
                    entries.remove(&key);
                }
                Store::Lfu { entries, order } => {
                    entries.remove(&key);
                    order.remove(&key);
                }
            }
            return (Lookup::Miss, f32::NAN);
        }
        let stale = freshness.is_some_and(|f| age > f);
        if stale && on_stale == OnStale::Miss {
            return (Lookup::StaleMiss, f32::NAN);
        }
        match &mut self.store {
            Store::Lru(c) => {
                if let Some(e) = c.get_mut(&key) {
                    e.uses += 1;
                }
            }
            Store::Fifo { entries, .. } => {
                if let Some(e) = entries.get_mut(&key) {
                    e.uses += 1;
                }
            }
            Store::Lfu { entries, order } => {
                if let Some(e) = entries.get_mut(&key) {
                    e.uses += 1;
                    order.change_priority(&key, Reverse((e.uses, tick)));
                }
            }
        }
        (if stale { Lookup::StaleHit } else { Lookup::Hit }, e.payload)
    }

    /// Stores (or refreshes) the response for `key` at `now`, evicting if full.
    pub fn insert(&mut self, key: u64, now: SimTime) {
        self.insert_payload(key, now, f32::NAN);
    }

    /// Like [`Cache::insert`], with a payload returned by later hits.
    pub fn insert_payload(&mut self, key: u64, now: SimTime, payload: f32) {
        self.tick += 1;
        let tick = self.tick;
        let capacity = self.capacity;
        match &mut self.store {
            Store::Lru(c) => {
                // `push` refreshes an existing key and makes it the most recent.
                let uses = c.peek(&key).map_or(1, |e| e.uses);
                if !c.contains(&key) && c.len() >= capacity {
                    c.pop_lru();
                }
                c.push(key, Entry { inserted: now, uses, stamp: tick, payload });
            }
            Store::Fifo { entries, stamps } => {
                if !entries.contains_key(&key) && entries.len() >= capacity {
                    while let Some((k, t)) = stamps.pop_front() {
                        if entries.get(&k).is_some_and(|e| e.stamp == t) {
                            entries.remove(&k);
                            break;
                        }
                    }
                }
                let uses = entries.get(&key).map_or(1, |e| e.uses);
                entries.insert(key, Entry { inserted: now, uses, stamp: tick, payload });
                stamps.push_back((key, tick));
                if stamps.len() > 2 * entries.len() + 64 {
                    stamps.retain(|(k, t)| entries.get(k).is_some_and(|e| e.stamp == *t));
                }
            }
            Store::Lfu { entries, order } => {
                if !entries.contains_key(&key)
                    && entries.len() >= capacity
                    && let Some((victim, _)) = order.pop()
                {
                    entries.remove(&victim);
                }
                let uses = entries.get(&key).map_or(1, |e| e.uses);
                entries.insert(key, Entry { inserted: now, uses, stamp: tick, payload });
                order.push(key, Reverse((uses, tick)));
            }
        }
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

    proptest::proptest! {
        #[test]
        fn lru_agrees_with_a_naive_reference_and_never_exceeds_capacity(
            keys in proptest::collection::vec(0u64..12, 1..400),
            capacity in 1u64..8,
        ) {
            let mut c = cache(CachePolicy::Lru, capacity);
            let mut reference: Vec<u64> = Vec::new(); // most recent last
            for k in keys {
                let expect_hit = reference.contains(&k);
                let got = c.lookup(k, T);
                proptest::prop_assert_eq!(got == Lookup::Hit, expect_hit);
                reference.retain(|&x| x != k);
                reference.push(k);
                if reference.len() > capacity as usize {
                    reference.remove(0);
                }
                if !expect_hit {
                    c.insert(k, T);
                }
                proptest::prop_assert!(c.len() <= capacity as usize);
            }
        }

        #[test]
        fn lfu_and_fifo_never_exceed_capacity(keys in proptest::collection::vec(0u64..20, 1..400), capacity in 1u64..8) {
            for policy in [CachePolicy::Lfu, CachePolicy::Fifo] {
                let mut c = cache(policy, capacity);
                for k in &keys {
                    if c.lookup(*k, T) != Lookup::Hit {
                        c.insert(*k, T);
                    }
                    proptest::prop_assert!(c.len() <= capacity as usize);
                }
            }
        }
    }
}
