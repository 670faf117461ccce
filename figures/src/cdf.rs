//! Empirical CDFs as drawable step curves.

/// Above this many samples the empirical CDF is drawn through this many evenly spaced quantile
/// points (plus the exact minimum and maximum) instead of one step per sample: the curve looks
/// the same at 1200 px and the SVG stays small.
pub const MAX_CDF_POINTS: usize = 2000;

/// The empirical CDF of finite samples as a step curve of `[value, fraction]` points.
pub(crate) fn empirical(samples: &[f64]) -> Vec<[f64; 2]> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let nf = n as f64;
    if n <= MAX_CDF_POINTS {
        let mut out = Vec::with_capacity(2 * n);
        out.push([sorted[0], 0.0]);
        for (i, &v) in sorted.iter().enumerate() {
            // The CDF jumps at each sample: from i/n to (i+1)/n.
            out.push([v, i as f64 / nf]);
            out.push([v, (i + 1) as f64 / nf]);
        }
        out.dedup();
        out
    } else {
        let mut out = Vec::with_capacity(MAX_CDF_POINTS + 2);
        out.push([sorted[0], 0.0]);
        for k in 1..=MAX_CDF_POINTS {
            let p = k as f64 / MAX_CDF_POINTS as f64;
            // Smallest sample whose empirical CDF reaches p.
            let idx = ((p * nf).ceil() as usize).clamp(1, n) - 1;
            out.push([sorted[idx], p]);
        }
        out
    }
}

/// Quantile points `[p, value]` as a curve of `[value, p]`, sorted by p.
pub(crate) fn from_quantiles(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = points.iter().map(|&[p, v]| [v, p]).collect();
    out.sort_by(|a, b| a[1].total_cmp(&b[1]).then(a[0].total_cmp(&b[0])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_samples_step_exactly() {
        let c = empirical(&[2.0, 1.0]);
        assert_eq!(c, vec![[1.0, 0.0], [1.0, 0.5], [2.0, 0.5], [2.0, 1.0]]);
    }

    #[test]
    fn large_samples_are_reduced() {
        let s: Vec<f64> = (0..100_000).map(f64::from).collect();
        let c = empirical(&s);
        assert_eq!(c.len(), MAX_CDF_POINTS + 1);
        assert_eq!(c.last(), Some(&[99_999.0, 1.0]));
        assert_eq!(c[MAX_CDF_POINTS / 2], [49_999.0, 0.5]);
    }
}
