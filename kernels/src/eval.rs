//! Metrics over probability matrices (one row per example).

use nalgebra::DMatrix;

/// Index of the largest value in each row (first one on ties).
pub fn argmax_rows(m: &DMatrix<f32>) -> Vec<usize> {
    (0..m.nrows())
        .map(|r| {
            let row = m.row(r);
            let mut best = 0;
            for c in 1..row.len() {
                if row[c] > row[best] {
                    best = c;
                }
            }
            best
        })
        .collect()
}

/// Share of rows whose top-1 class equals the label.
pub fn accuracy(probs: &DMatrix<f32>, labels: &[usize]) -> f64 {
    let pred = argmax_rows(probs);
    pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / labels.len().max(1) as f64
}

/// Share of rows where both matrices pick the same top-1 class.
pub fn agreement(a: &DMatrix<f32>, b: &DMatrix<f32>) -> f64 {
    let (pa, pb) = (argmax_rows(a), argmax_rows(b));
    pa.iter().zip(&pb).filter(|(x, y)| x == y).count() as f64 / pa.len().max(1) as f64
}

/// Mean over rows of KL(p ‖ q) in nats; `q` is floored at 1e-12 so a zero never gives infinity.
pub fn mean_kl(p: &DMatrix<f32>, q: &DMatrix<f32>) -> f64 {
    let mut total = 0f64;
    for (pv, qv) in p.iter().zip(q.iter()) {
        let (pv, qv) = (*pv as f64, (*qv as f64).max(1e-12));
        if pv > 0.0 {
            total += pv * (pv.max(1e-12) / qv).ln();
        }
    }
    total / p.nrows().max(1) as f64
}

/// Mean cross-entropy (nats) of the labels under `probs`.
pub fn cross_entropy(probs: &DMatrix<f32>, labels: &[usize]) -> f64 {
    labels.iter().enumerate().map(|(r, &y)| -(probs[(r, y)].max(1e-12) as f64).ln()).sum::<f64>()
        / labels.len().max(1) as f64
}

/// Largest absolute element-wise difference.
pub fn max_abs_diff(a: &DMatrix<f32>, b: &DMatrix<f32>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs() as f64).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_a_hand_computed_case() {
        let p = DMatrix::from_row_slice(2, 2, &[0.9, 0.1, 0.4, 0.6]);
        let q = DMatrix::from_row_slice(2, 2, &[0.6, 0.4, 0.5, 0.5]);
        assert_eq!(argmax_rows(&p), vec![0, 1]);
        assert_eq!(accuracy(&p, &[0, 0]), 0.5);
        assert_eq!(agreement(&p, &q), 0.5);
        let kl = (0.9f64 * (0.9f64 / 0.6).ln()
            + 0.1 * (0.1f64 / 0.4).ln()
            + 0.4 * (0.4f64 / 0.5).ln()
            + 0.6 * (0.6f64 / 0.5).ln())
            / 2.0;
        assert!((mean_kl(&p, &q) - kl).abs() < 1e-6);
        assert_eq!(mean_kl(&p, &p), 0.0);
        assert!((cross_entropy(&p, &[0, 1]) - (-(0.9f64.ln() + 0.6f64.ln()) / 2.0)).abs() < 1e-6);
        assert!((max_abs_diff(&p, &q) - 0.3).abs() < 1e-6);
    }
}
