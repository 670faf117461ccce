//! Paged KV memory of one replica, with block-level prefix caching.
//!
//! Memory is counted in pages of `block_size` tokens (vLLM's paged attention). A sequence owns
//! the pages of its private tokens. Full prompt blocks that carry a prefix id (Mooncake's
//! `hash_ids`, 512 tokens each by default) move into a shared prefix cache once their prefill
//! is done: a cached block is referenced by every running sequence that uses it, and when no
//! sequence does it stays resident but evictable, least recently used first. Allocation evicts
//! unreferenced cached blocks before it fails, so the cache only ever uses memory nobody else
//! needs.
//!
//! With CPU offload (vLLM's `kv_offloading_size`), a cached block evicted from the GPU moves to
//! a second tier in host memory of `cpu_blocks` blocks (least recently evicted dropped first);
//! a later request whose prefix continues there loads those blocks back instead of computing
//! them ([`KvPool::take_offloaded`]). The tier only holds ids: it costs no GPU pages.
//!
//! **Invariant:** owned pages + cached blocks × pages per block ≤ capacity, always.

use lru::LruCache;
use rustc_hash::{FxBuildHasher, FxHashMap};

/// The KV pages of one replica.
pub struct KvPool {
    capacity: u64,
    owned: u64,
    block_pages: u64,
    refs: FxHashMap<u64, u32>,
    evictable: LruCache<u64, (), FxBuildHasher>,
    evictions: u64,
    offloaded: Option<LruCache<u64, (), FxBuildHasher>>,
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
            offloaded: None,
        }
    }

    /// The same pool with a CPU tier of `blocks` prefix blocks (0: none).
    pub fn with_offload(mut self, blocks: u64) -> KvPool {
        self.offloaded = std::num::NonZeroUsize::new(usize::try_from(blocks).unwrap_or(usize::MAX))
            .map(|n| LruCache::with_hasher(n, FxBuildHasher));
        self
    }

    /// Blocks held by the CPU tier.
    pub fn offloaded_blocks(&self) -> u64 {
        self.offloaded.as_ref().map_or(0, |c| c.len() as u64)
    }

    /// Number of leading `blocks` in the CPU tier (no change).
    pub fn peek_offloaded(&self, blocks: &[u64]) -> usize {
        self.offloaded.as_ref().map_or(0, |cpu| blocks.iter().take_while(|h| cpu.contains(h)).count())
    }

    /// Number of leading `blocks` in the CPU tier; they leave it (they are loaded back into pages
    /// the caller allocates).
    pub fn take_offloaded(&mut self, blocks: &[u64]) -> usize {
        let n = self.peek_offloaded(blocks);
        let Some(cpu) = self.offloaded.as_mut() else { return 0 };
        for h in &blocks[..n] {
            cpu.pop(h);
        }
        n
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
            if let Some(cpu) = self.offloaded.as_mut() {
                cpu.put(h, ());
            }
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
    pub fn release_prefix(&mut self, blocks: &[u64]) {
        for h in blocks {
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
        // Block 7 was touched before 8 on release: needing 8 pages evicts one block (7 first).
        assert!(kv.alloc(8));
        assert_eq!((kv.evictions(), kv.cached_blocks()), (1, 1));
        assert_eq!(kv.acquire_prefix(&[7]), 0);
        assert!(kv.alloc(2), "the last cached block makes room");
        assert_eq!((kv.evictions(), kv.cached_blocks(), kv.used()), (2, 0, 10));
        assert!(!kv.alloc(1), "full of owned pages: nothing to evict");
        kv.free(10);
        assert_eq!(kv.used(), 0);
    }

    #[test]
    fn evicted_blocks_move_to_the_cpu_tier_and_come_back_once() {
        let mut kv = KvPool::new(4, 2).with_offload(1);
        assert!(kv.alloc(4));
        kv.publish(1);
        kv.publish(2);
        kv.release_prefix(&[1, 2]);
        // Two pages needed: block 1 (least recent) leaves the GPU for the CPU tier.
        assert!(kv.alloc(2));
        assert_eq!((kv.cached_blocks(), kv.offloaded_blocks()), (1, 1));
        // Two more: block 2 goes too; the tier holds one block, so block 1 is dropped.
        assert!(kv.alloc(2));
        assert_eq!((kv.cached_blocks(), kv.offloaded_blocks()), (0, 1));
        assert_eq!(kv.take_offloaded(&[1, 2]), 0, "block 1 was dropped; a prefix must lead");
        assert_eq!(kv.peek_offloaded(&[2, 9]), 1);
        assert_eq!(kv.take_offloaded(&[2, 9]), 1);
        assert_eq!(kv.take_offloaded(&[2]), 0, "taken: it is in GPU pages now");
        assert_eq!(kv.used(), 4, "the tier costs no GPU pages");
        let mut plain = KvPool::new(4, 2);
        assert_eq!(plain.take_offloaded(&[1]), 0);
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
