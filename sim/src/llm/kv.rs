//! Paged KV memory of one replica, with block-level prefix caching and a hierarchy of slower
//! tiers below it.
//!
//! Memory is counted in pages of `block_size` tokens (vLLM's paged attention). A sequence owns
//! the pages of its private tokens. Full prompt blocks that carry a prefix id (Mooncake's
//! `hash_ids`, 512 tokens each by default) move into a shared prefix cache once their prefill
//! is done: a cached block is referenced by every running sequence that uses it, and when no
//! sequence does it stays resident but evictable, least recently used first. Allocation evicts
//! unreferenced cached blocks before it fails, so the cache only ever uses memory nobody else
//! needs.
//!
//! Below the GPU, a replica may have local tiers (host DRAM, local SSD; vLLM's CPU offload is
//! one of them): a block evicted from the GPU moves to the first tier, one evicted from a tier
//! moves to the next, one falling off the last is handed to the engine ([`KvPool::take_spilled`])
//! for a tier shared by every replica, if there is one. Local tiers are exclusive: a block loaded
//! back into the GPU ([`KvPool::take`]) leaves its tier. Tiers only hold ids: they cost no GPU
//! pages.
//!
//! **Invariant:** owned pages + cached blocks × pages per block ≤ capacity, always.

use lru::LruCache;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

/// How a tier chooses the block to evict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierPolicy {
    /// Least recently used (inserted or hit) first.
    #[default]
    Lru,
    /// Segmented LRU (Karedla, Love and Wherry, 1994): a block enters a probation segment; one
    /// that has been reused (hit in this tier before) enters a protected segment of 80 % of the
    /// capacity. Eviction takes the probation segment's least recent block first, so a burst of
    /// blocks seen once cannot flush the prefixes that keep coming back.
    Slru,
}

/// The block ids one tier holds, with its eviction policy.
pub struct TierCache {
    cap: usize,
    policy: TierPolicy,
    probation: LruCache<u64, (), FxBuildHasher>,
    protected: LruCache<u64, (), FxBuildHasher>,
    /// Blocks hit in this tier before (SLRU only).
    reused: FxHashSet<u64>,
    evictions: u64,
}

impl TierCache {
    /// A tier of `blocks` blocks.
    pub fn new(blocks: u64, policy: TierPolicy) -> TierCache {
        TierCache {
            cap: usize::try_from(blocks).unwrap_or(usize::MAX),
            policy,
            probation: LruCache::unbounded_with_hasher(FxBuildHasher),
            protected: LruCache::unbounded_with_hasher(FxBuildHasher),
            reused: FxHashSet::default(),
            evictions: 0,
        }
    }

    /// Blocks held.
    pub fn len(&self) -> u64 {
        (self.probation.len() + self.protected.len()) as u64
    }

    /// Whether it holds no block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks evicted for lack of room so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Whether block `h` is here.
    pub fn contains(&self, h: u64) -> bool {
        self.probation.contains(&h) || self.protected.contains(&h)
    }

    /// Stores block `h` (most recent); blocks evicted to make room are appended to `evicted`.
    pub fn insert(&mut self, h: u64, evicted: &mut Vec<u64>) {
        if self.cap == 0 {
            evicted.push(h);
            return;
        }
        if self.protected.contains(&h) {
            self.protected.promote(&h);
            return;
        }
        if self.policy == TierPolicy::Slru && self.reused.contains(&h) {
            self.probation.pop(&h);
            self.protect(h);
        } else {
            self.probation.put(h, ());
        }
        while self.probation.len() + self.protected.len() > self.cap {
            let (e, ()) = match self.probation.pop_lru() {
                Some(x) => x,
                None => self.protected.pop_lru().expect("over capacity means not empty"),
            };
            self.evictions += 1;
            evicted.push(e);
        }
    }

    /// Moves `h` to the protected segment, demoting that segment's least recent block to
    /// probation when it is full.
    fn protect(&mut self, h: u64) {
        self.protected.put(h, ());
        let protected_cap = (self.cap * 4 / 5).max(1);
        while self.protected.len() > protected_cap {
            let (d, ()) = self.protected.pop_lru().expect("over its share");
            self.probation.put(d, ());
        }
    }

    /// A hit on `h` that leaves it here (a shared, inclusive tier): it becomes most recent (SLRU:
    /// protected).
    pub fn touch(&mut self, h: u64) {
        if self.policy == TierPolicy::Slru {
            if self.probation.pop(&h).is_some() || self.protected.contains(&h) {
                self.reused.insert(h);
                self.protect(h);
            }
        } else {
            self.probation.promote(&h);
        }
    }

    /// Drops `h` if it is here (its copy above made this one stale), without counting a hit.
    pub fn remove(&mut self, h: u64) {
        if self.probation.pop(&h).is_none() {
            self.protected.pop(&h);
        }
    }

    /// A hit on `h` that takes it out (an exclusive tier: it moves up); false if it was not here.
    pub fn take(&mut self, h: u64) -> bool {
        let found = self.probation.pop(&h).is_some() || self.protected.pop(&h).is_some();
        if found && self.policy == TierPolicy::Slru {
            self.reused.insert(h);
        }
        found
    }
}

/// The KV pages of one replica.
pub struct KvPool {
    capacity: u64,
    owned: u64,
    block_pages: u64,
    refs: FxHashMap<u64, u32>,
    evictable: LruCache<u64, (), FxBuildHasher>,
    evictions: u64,
    tiers: Vec<TierCache>,
    /// Keep the blocks falling off the last local tier (a shared tier below takes them).
    spill_on: bool,
    spilled: Vec<u64>,
}

impl KvPool {
    /// A pool of `capacity` pages whose prefix blocks take `block_pages` pages each.
    pub fn new(capacity: u64, block_pages: u64) -> KvPool {
        KvPool {
            capacity,
            owned: 0,
            block_pages: block_pages.max(1),
            refs: FxHashMap::default(),
            evictable: LruCache::unbounded_with_hasher(FxBuildHasher),
            evictions: 0,
            tiers: Vec::new(),
            spill_on: false,
            spilled: Vec::new(),
        }
    }

    /// The same pool with local tiers below the GPU, fastest first; with `spill`, blocks falling
    /// off the last are kept for [`KvPool::take_spilled`].
    pub fn with_tiers(mut self, tiers: Vec<TierCache>, spill: bool) -> KvPool {
        self.tiers = tiers;
        self.spill_on = spill;
        self
    }

    /// Local tier `i`.
    pub fn tier(&self, i: usize) -> &TierCache {
        &self.tiers[i]
    }

    /// The local tier holding block `h`, if any.
    pub fn locate(&self, h: u64) -> Option<usize> {
        self.tiers.iter().position(|t| t.contains(h))
    }

    /// Takes block `h` out of local tier `i` (it is loaded into pages the caller allocates).
    pub fn take(&mut self, h: u64, i: usize) -> bool {
        self.tiers[i].take(h)
    }

    /// Blocks that fell off the last local tier since the last call.
    pub fn take_spilled(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.spilled)
    }

    /// Block `h` left the GPU: it moves down the local tiers, each eviction one tier further.
    fn demote(&mut self, h: u64) {
        let mut moving = vec![h];
        for t in &mut self.tiers {
            let mut next = Vec::new();
            for b in moving {
                t.insert(b, &mut next);
            }
            moving = next;
            if moving.is_empty() {
                return;
            }
        }
        if self.spill_on {
            self.spilled.extend(moving);
        }
    }

    /// Capacity, pages.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Pages in use (owned by sequences or holding cached blocks).
    pub fn used(&self) -> u64 {
        self.owned + self.refs.len() as u64 * self.block_pages
    }

    /// Pages owned by sequences.
    pub fn owned(&self) -> u64 {
        self.owned
    }

    /// Cached prefix blocks resident (referenced or not).
    pub fn cached_blocks(&self) -> u64 {
        self.refs.len() as u64
    }

    /// Cached blocks evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Pages an allocation could get now (free pages plus evictable cached blocks).
    pub fn available(&self) -> u64 {
        self.capacity - self.used() + self.evictable.len() as u64 * self.block_pages
    }

    /// Takes `pages` for a sequence, evicting unreferenced cached blocks if needed; false (and no
    /// change) if even that is not enough.
    pub fn alloc(&mut self, pages: u64) -> bool {
        if pages > self.available() {
            return false;
        }
        while self.capacity - self.used() < pages {
            let (h, ()) = self.evictable.pop_lru().expect("available() counted this block");
            self.refs.remove(&h);
            self.evictions += 1;
            self.demote(h);
        }
        self.owned += pages;
        debug_assert!(self.used() <= self.capacity);
        true
    }

    /// Returns `pages` a sequence owned.
    pub fn free(&mut self, pages: u64) {
        self.owned = self.owned.checked_sub(pages).expect("a sequence frees only pages it owns");
    }

    /// Number of leading `blocks` resident in the cache (no reference taken: for routing).
    pub fn peek_prefix(&self, blocks: &[u64]) -> usize {
        blocks.iter().take_while(|h| self.refs.contains_key(h)).count()
    }

    /// Number of leading `blocks` resident in the cache; each of them gains a reference.
    pub fn acquire_prefix(&mut self, blocks: &[u64]) -> usize {
        let mut n = 0;
        for h in blocks {
            match self.refs.get_mut(h) {
                Some(r) => {
                    if *r == 0 {
                        self.evictable.pop(h);
                    }
                    *r += 1;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Hands a sequence's freshly computed full block `h` (its pages, owned until now) to the
    /// cache, keeping a reference for the sequence. If the block is already cached (another
    /// sequence computed it meanwhile), the sequence's copy is freed instead.
    pub fn publish(&mut self, h: u64) {
        self.owned = self.owned.checked_sub(self.block_pages).expect("the block's pages were owned");
        // Local tiers stay exclusive: a block computed again (its prefix was not found in
        // front of it) leaves any tier that still held it.
        for t in &mut self.tiers {
            t.remove(h);
        }
        match self.refs.get_mut(&h) {
            Some(r) => {
                if *r == 0 {
                    self.evictable.pop(&h);
                }
                *r += 1;
            }
            None => {
                self.refs.insert(h, 1);
            }
        }
    }

    /// Drops a sequence's references to `blocks`; unreferenced blocks stay resident, evictable.
    /// They join the eviction order from the last block to the first (vLLM's `free` does the
    /// same): a sequence's tail is evicted before its head, so the leading blocks — the prefix
    /// another request, or the same one readmitted, can match — last longest.
    pub fn release_prefix(&mut self, blocks: &[u64]) {
        for h in blocks.iter().rev() {
            let r = self.refs.get_mut(h).expect("a released block was acquired");
            *r -= 1;
            if *r == 0 {
                self.evictable.put(*h, ());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_blocks_are_shared_then_evicted_lru_when_memory_is_needed() {
        let mut kv = KvPool::new(10, 2);
        assert!(kv.alloc(4)); // a sequence computes two blocks (2 pages each)
        kv.publish(7);
        kv.publish(8);
        assert_eq!((kv.owned(), kv.used(), kv.cached_blocks()), (0, 4, 2));
        // A second sequence reuses both; both sequences finish.
        assert_eq!(kv.acquire_prefix(&[7, 8, 9]), 2);
        kv.release_prefix(&[7, 8]);
        kv.release_prefix(&[7, 8]);
        assert_eq!((kv.used(), kv.available()), (4, 10));
        // Released tail first: needing 8 pages evicts one block, the tail (8), and keeps the
        // head (7) that a later request can still match.
        assert!(kv.alloc(8));
        assert_eq!((kv.evictions(), kv.cached_blocks()), (1, 1));
        assert_eq!(kv.acquire_prefix(&[8]), 0);
        assert_eq!(kv.acquire_prefix(&[7, 8]), 1);
        kv.release_prefix(&[7]);
        assert!(kv.alloc(2), "the last cached block makes room");
        assert_eq!((kv.evictions(), kv.cached_blocks(), kv.used()), (2, 0, 10));
        assert!(!kv.alloc(1), "full of owned pages: nothing to evict");
        kv.free(10);
        assert_eq!(kv.used(), 0);
    }

    #[test]
    fn evicted_blocks_move_down_the_tiers_and_come_back_once() {
        let tiers = vec![TierCache::new(1, TierPolicy::Lru), TierCache::new(1, TierPolicy::Lru)];
        let mut kv = KvPool::new(4, 2).with_tiers(tiers, true);
        assert!(kv.alloc(4));
        kv.publish(1);
        kv.publish(2);
        // A sequence of blocks 2 then 1 releases its tail (1) first.
        kv.release_prefix(&[2, 1]);
        // Two pages needed: block 1 (least recent) leaves the GPU for the first tier.
        assert!(kv.alloc(2));
        assert_eq!((kv.cached_blocks(), kv.locate(1)), (1, Some(0)));
        // Two more: block 2 goes to the first tier and pushes block 1 to the second.
        assert!(kv.alloc(2));
        assert_eq!((kv.cached_blocks(), kv.locate(1), kv.locate(2)), (0, Some(1), Some(0)));
        assert!(kv.take_spilled().is_empty());
        assert!(kv.take(2, 0), "loaded back: it leaves its tier");
        assert!(!kv.take(2, 0));
        assert_eq!(kv.locate(2), None);
        assert_eq!(kv.used(), 4, "tiers cost no GPU pages");
        kv.free(4);
        // Blocks 3 and 4 cascade: 1 falls off the last tier, kept for a shared tier.
        assert!(kv.alloc(4));
        kv.publish(3);
        kv.publish(4);
        kv.release_prefix(&[4, 3]);
        assert!(kv.alloc(4));
        assert_eq!(kv.take_spilled(), vec![1]);
        assert_eq!((kv.locate(3), kv.locate(4)), (Some(1), Some(0)));
    }

    #[test]
    fn a_block_computed_again_leaves_the_tiers_that_held_it() {
        let tiers = vec![TierCache::new(4, TierPolicy::Lru), TierCache::new(4, TierPolicy::Lru)];
        let mut kv = KvPool::new(2, 2).with_tiers(tiers, false);
        for h in [1, 2] {
            assert!(kv.alloc(2));
            kv.publish(h);
            kv.release_prefix(&[h]);
        }
        assert_eq!(kv.locate(1), Some(0));
        // Block 1 is computed again (a request found it nowhere in front of it): published
        // anew, it leaves the tier; evicted later, it is in one tier only.
        assert!(kv.alloc(2));
        kv.publish(1);
        assert_eq!((kv.locate(1), kv.tier(0).len()), (None, 1));
        kv.release_prefix(&[1]);
        assert!(kv.alloc(2));
        assert_eq!(kv.locate(1), Some(0));
        assert_eq!(kv.tier(0).len() + kv.tier(1).len(), 2, "blocks 1 and 2, once each");
    }

    #[test]
    fn segmented_lru_keeps_reused_blocks_through_a_scan() {
        let mut evicted = Vec::new();
        for (policy, survives) in [(TierPolicy::Lru, false), (TierPolicy::Slru, true)] {
            let mut t = TierCache::new(5, policy);
            t.insert(7, &mut evicted);
            assert!(t.take(7), "hit once: moves up");
            t.insert(7, &mut evicted); // evicted from above again: a reused block
            for h in 100..105 {
                t.insert(h, &mut evicted); // five blocks seen once
            }
            assert_eq!(t.contains(7), survives, "{policy:?}");
            assert_eq!((t.len(), t.evictions()), (5, 1));
        }
        // An inclusive tier's hit protects in place.
        let mut t = TierCache::new(2, TierPolicy::Slru);
        t.insert(1, &mut evicted);
        t.insert(2, &mut evicted);
        t.touch(1);
        t.insert(3, &mut evicted);
        assert!(t.contains(1) && !t.contains(2) && t.contains(3));
        let mut zero = TierCache::new(0, TierPolicy::Lru);
        let mut out = Vec::new();
        zero.insert(9, &mut out);
        assert_eq!((out, zero.len()), (vec![9], 0));
    }

    #[test]
    fn publishing_a_block_someone_else_cached_frees_the_copy() {
        let mut kv = KvPool::new(10, 2);
        assert!(kv.alloc(2));
        assert!(kv.alloc(2));
        kv.publish(1);
        kv.publish(1);
        assert_eq!((kv.used(), kv.cached_blocks()), (2, 1));
        kv.release_prefix(&[1]);
        assert_eq!(kv.available(), 8);
        kv.release_prefix(&[1]);
        assert_eq!(kv.available(), 10);
    }
}
