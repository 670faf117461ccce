//! Random streams: `traces::rng` (SHA-256(seed, label) → `Pcg64`), one per stochastic source.
//!
//! Labels used here: `kernels/split`, `kernels/<model>/init`, `kernels/<model>/shuffle`.

use rand::RngExt;
pub use traces::rng::{StreamRng, stream};

/// Fisher–Yates shuffle (written out so the permutation depends only on the stream, not on a
/// library's choice of algorithm).
pub fn shuffle<T>(items: &mut [T], rng: &mut StreamRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

/// A uniform draw from `[-limit, limit)`.
pub fn symmetric(rng: &mut StreamRng, limit: f32) -> f32 {
    (rng.random::<f32>() * 2.0 - 1.0) * limit
}
