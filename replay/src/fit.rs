//! Least-squares fits of batch service time against batch size (nalgebra).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// `t(B) = a + b·B`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffineFit {
    /// Fixed cost per batch, ms.
    pub a_ms: f64,
    /// Cost per request, ms.
    pub b_ms: f64,
    /// Coefficient of determination over the fitted points.
    pub r2: f64,
    /// Measured − fitted at each point, ms.
    pub residuals_ms: Vec<f64>,
}

/// `t(B) = max(c, a + b·B)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffineFloorFit {
    /// Fixed cost per batch, ms.
    pub a_ms: f64,
    /// Cost per request, ms.
    pub b_ms: f64,
    /// Floor `c`, ms.
    pub floor_ms: f64,
    /// Coefficient of determination.
    pub r2: f64,
    /// Measured − fitted at each point, ms.
    pub residuals_ms: Vec<f64>,
}

impl AffineFloorFit {
    /// The model's time for batch size `b`, ms.
    pub fn eval(&self, b: f64) -> f64 {
        self.floor_ms.max(self.a_ms + self.b_ms * b)
    }
}

/// R² of `fitted` against `y` (1 when `y` is constant and matched exactly).
pub fn r_squared(y: &[f64], fitted: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_tot: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let ss_res: f64 = y.iter().zip(fitted).map(|(v, f)| (v - f).powi(2)).sum();
    if ss_tot == 0.0 { if ss_res == 0.0 { 1.0 } else { 0.0 } } else { 1.0 - ss_res / ss_tot }
}

/// Least-squares `(a, b)` of `y ≈ a + b·x` (SVD; needs two distinct x).
fn solve_line(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    if x.len() < 2 || x.iter().all(|v| *v == x[0]) {
        return None;
    }
    let design = DMatrix::from_fn(x.len(), 2, |r, c| if c == 0 { 1.0 } else { x[r] });
    let rhs = DVector::from_column_slice(y);
    let sol = design.svd(true, true).solve(&rhs, 1e-12).ok()?;
    Some((sol[0], sol[1]))
}

/// Fits `a + b·B` to (batch sizes, times in ms). `None` with fewer than two distinct sizes.
pub fn fit_affine(batch: &[f64], ms: &[f64]) -> Option<AffineFit> {
    let (a, b) = solve_line(batch, ms)?;
    let fitted: Vec<f64> = batch.iter().map(|x| a + b * x).collect();
    Some(AffineFit {
        a_ms: a,
        b_ms: b,
        r2: r_squared(ms, &fitted),
        residuals_ms: ms.iter().zip(&fitted).map(|(m, f)| m - f).collect(),
    })
}

/// Fits `max(c, a + b·B)`: for each split of the sorted points into a floor part (the first k,
/// fitted by their mean) and an affine part (the rest, at least two points), solves both by least
/// squares and keeps the split with the least total squared error of the max-model. k = 0 is the
/// plain line (floor = its value at the smallest size).
pub fn fit_affine_floor(batch: &[f64], ms: &[f64]) -> Option<AffineFloorFit> {
    let n = batch.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| batch[i].total_cmp(&batch[j]));
    let xs: Vec<f64> = order.iter().map(|&i| batch[i]).collect();
    let ys: Vec<f64> = order.iter().map(|&i| ms[i]).collect();
    let mut best: Option<(f64, f64, f64, f64)> = None;
    for k in 0..n.saturating_sub(1) {
        let Some((a, b)) = solve_line(&xs[k..], &ys[k..]) else { continue };
        let floor = if k == 0 { a + b * xs[0] } else { ys[..k].iter().sum::<f64>() / k as f64 };
        let sse: f64 = xs.iter().zip(&ys).map(|(x, y)| (y - floor.max(a + b * x)).powi(2)).sum();
        if best.is_none_or(|(s, ..)| sse < s - 1e-15) {
            best = Some((sse, a, b, floor));
        }
    }
    let (_, a, b, floor) = best?;
    let fit = AffineFloorFit { a_ms: a, b_ms: b, floor_ms: floor, r2: 0.0, residuals_ms: Vec::new() };
    let fitted: Vec<f64> = batch.iter().map(|x| fit.eval(*x)).collect();
    Some(AffineFloorFit {
        r2: r_squared(ms, &fitted),
        residuals_ms: ms.iter().zip(&fitted).map(|(m, f)| m - f).collect(),
        ..fit
    })
}

/// The `q`-quantile (0..=1) of `v` by linear interpolation between order statistics.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_recovers_an_exact_line() {
        let b = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
        let y: Vec<f64> = b.iter().map(|x| 0.3 + 0.05 * x).collect();
        let f = fit_affine(&b, &y).unwrap();
        assert!((f.a_ms - 0.3).abs() < 1e-12 && (f.b_ms - 0.05).abs() < 1e-12, "{f:?}");
        assert!((f.r2 - 1.0).abs() < 1e-12);
        assert!(f.residuals_ms.iter().all(|r| r.abs() < 1e-12));
    }

    #[test]
    fn floor_recovers_an_exact_hinge() {
        let b = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
        let truth = AffineFloorFit { a_ms: 0.2, b_ms: 0.1, floor_ms: 1.0, r2: 1.0, residuals_ms: vec![] };
        let y: Vec<f64> = b.iter().map(|x| truth.eval(*x)).collect();
        let f = fit_affine_floor(&b, &y).unwrap();
        assert!((f.a_ms - 0.2).abs() < 1e-9 && (f.b_ms - 0.1).abs() < 1e-9 && (f.floor_ms - 1.0).abs() < 1e-9, "{f:?}");
        assert!((f.r2 - 1.0).abs() < 1e-12);
        // A plain line is a hinge with the floor at its first point.
        let line: Vec<f64> = b.iter().map(|x| 0.5 + 0.02 * x).collect();
        let g = fit_affine_floor(&b, &line).unwrap();
        assert!((g.r2 - 1.0).abs() < 1e-12 && (g.b_ms - 0.02).abs() < 1e-12, "{g:?}");
    }

    #[test]
    fn noisy_fit_has_residuals_that_sum_to_zero() {
        let b = [1.0, 2.0, 4.0, 8.0];
        let y = [1.0, 1.3, 1.7, 2.9];
        let f = fit_affine(&b, &y).unwrap();
        assert!(f.residuals_ms.iter().sum::<f64>().abs() < 1e-9);
        assert!(f.r2 > 0.9 && f.r2 < 1.0);
        assert!(fit_affine(&[4.0, 4.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9), 4.6);
    }
}
