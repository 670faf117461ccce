//! Multi-layer perceptrons in nalgebra: ReLU hidden layers, softmax output, f32.
//!
//! Activations are batches with one example per row (`N × features`); a layer's weight matrix
//! is `in × out`, the layout of ONNX `MatMul`'s second input, so export writes it unchanged.
//! Every large product goes through nalgebra's `gemm`, which hands dynamic matrices to
//! `matrixmultiply` (blocked, SIMD); transposes are stride-swapped views, never copies.

use nalgebra::{DMatrix, DMatrixView, DVector, Dyn};

use crate::rng::{StreamRng, symmetric};

/// One affine layer: `x · w + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Weights, `in × out`.
    pub w: DMatrix<f32>,
    /// Bias, one per output.
    pub b: DVector<f32>,
}

/// A multi-layer perceptron: ReLU after every layer but the last, whose outputs are logits.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// The layers, input first.
    pub layers: Vec<Dense>,
}

/// nalgebra hands a product to matrixmultiply only when the output and the left factor have
/// more than 5 rows and columns; below that it runs a gemv loop that mishandles row-strided
/// views (a UB check fires), so small products use owned transposes instead.
fn blocked(out_rows: usize, out_cols: usize, a_rows: usize, a_cols: usize) -> bool {
    out_rows > 5 && out_cols > 5 && a_rows > 5 && a_cols > 5
}

/// A transposed view of `m` (no copy: the strides are swapped).
fn t(m: &DMatrix<f32>) -> DMatrixView<'_, f32, Dyn, Dyn> {
    DMatrixView::from_slice_with_strides(m.as_slice(), m.ncols(), m.nrows(), m.nrows(), 1)
}

/// `a · b` through `gemm` (matrixmultiply for all but tiny shapes).
pub(crate) fn matmul(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let mut out = DMatrix::zeros(a.nrows(), b.ncols());
    out.gemm(1.0, a, b, 0.0);
    out
}

/// `aᵀ · b` without materializing `aᵀ` when the product is large.
pub(crate) fn matmul_tn(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let mut out = DMatrix::zeros(a.ncols(), b.ncols());
    if blocked(a.ncols(), b.ncols(), a.ncols(), a.nrows()) {
        out.gemm(1.0, &t(a), b, 0.0);
    } else {
        out.gemm(1.0, &a.transpose(), b, 0.0);
    }
    out
}

/// `a · bᵀ` without materializing `bᵀ` when the product is large.
pub(crate) fn matmul_nt(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let mut out = DMatrix::zeros(a.nrows(), b.nrows());
    if blocked(a.nrows(), b.nrows(), a.nrows(), a.ncols()) {
        out.gemm(1.0, a, &t(b), 0.0);
    } else {
        out.gemm(1.0, a, &b.transpose(), 0.0);
    }
    out
}

impl Dense {
    /// `x · w + b` for a batch `x` (`N × in`).
    pub fn affine(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let mut z = matmul(x, &self.w);
        for (j, mut col) in z.column_iter_mut().enumerate() {
            col.add_scalar_mut(self.b[j]);
        }
        z
    }
}

impl Mlp {
    /// A freshly initialized network with layer widths `sizes` (input first, classes last):
    /// He-uniform weights (suited to ReLU), zero biases, drawn from `rng` layer by layer.
    pub fn new(sizes: &[usize], rng: &mut StreamRng) -> Mlp {
        let layers = sizes
            .windows(2)
            .map(|io| {
                let limit = (6.0 / io[0] as f32).sqrt();
                // `from_fn` fills column by column: that draw order is part of the seeded contract.
                let w = DMatrix::from_fn(io[0], io[1], |_, _| symmetric(rng, limit));
                Dense { w, b: DVector::zeros(io[1]) }
            })
            .collect();
        Mlp { layers }
    }

    /// Layer widths, input first.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.layers[0].w.nrows()];
        s.extend(self.layers.iter().map(|l| l.w.ncols()));
        s
    }

    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.layers[0].w.nrows()
    }

    /// Number of outputs (classes).
    pub fn n_outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.w.ncols())
    }

    /// Weights plus biases.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// Logits for a batch (`N × in` → `N × classes`).
    pub fn logits(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let mut h = self.layers[0].affine(x);
        for layer in &self.layers[1..] {
            relu_mut(&mut h);
            h = layer.affine(&h);
        }
        h
    }

    /// Logits for a large batch, computed in chunks of `chunk` rows to bound memory.
    pub fn logits_chunked(&self, x: &DMatrix<f32>, chunk: usize) -> DMatrix<f32> {
        let mut out = DMatrix::zeros(x.nrows(), self.n_outputs());
        let mut start = 0;
        while start < x.nrows() {
            let n = chunk.min(x.nrows() - start);
            let part = self.logits(&x.rows(start, n).clone_owned());
            out.rows_mut(start, n).copy_from(&part);
            start += n;
        }
        out
    }

    /// Class probabilities (softmax of the logits).
    pub fn probabilities(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        softmax_rows(&self.logits_chunked(x, 256), 1.0)
    }
}

/// ReLU in place.
pub fn relu_mut(m: &mut DMatrix<f32>) {
    m.apply(|v| *v = v.max(0.0));
}

/// Row-wise softmax of `logits / temperature` (max-subtracted, so it never overflows).
pub fn softmax_rows(logits: &DMatrix<f32>, temperature: f32) -> DMatrix<f32> {
    let mut p = logits / temperature;
    for r in 0..p.nrows() {
        let mut row = p.row_mut(r);
        let max = row.max();
        row.apply(|v| *v = (*v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    p
}

/// Row-wise log-softmax of `logits / temperature`.
pub fn log_softmax_rows(logits: &DMatrix<f32>, temperature: f32) -> DMatrix<f32> {
    let mut p = logits / temperature;
    for r in 0..p.nrows() {
        let mut row = p.row_mut(r);
        let max = row.max();
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
        row.add_scalar_mut(-lse);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_with_transposed_views_matches_naive_products() {
        let mut rng = crate::rng::stream(1, "test");
        let a = DMatrix::from_fn(9, 7, |_, _| symmetric(&mut rng, 1.0));
        let b = DMatrix::from_fn(9, 8, |_, _| symmetric(&mut rng, 1.0));
        let c = DMatrix::from_fn(6, 8, |_, _| symmetric(&mut rng, 1.0));
        let d = DMatrix::from_fn(3, 8, |_, _| symmetric(&mut rng, 1.0));
        let e = DMatrix::from_fn(9, 3, |_, _| symmetric(&mut rng, 1.0));
        assert!((matmul_tn(&a, &b) - a.transpose() * &b).amax() < 1e-5);
        assert!((matmul_tn(&a, &e) - a.transpose() * &e).amax() < 1e-5);
        assert!((matmul_nt(&b, &c) - &b * c.transpose()).amax() < 1e-5);
        assert!((matmul_nt(&b, &d) - &b * d.transpose()).amax() < 1e-5);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_log_softmax_agrees() {
        let z = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 1000.0, -1000.0, 0.0]);
        let p = softmax_rows(&z, 2.0);
        for r in 0..2 {
            assert!((p.row(r).sum() - 1.0).abs() < 1e-6);
        }
        let lp = log_softmax_rows(&z, 2.0);
        assert!((lp.map(f32::exp) - p).amax() < 1e-6);
    }

    #[test]
    fn init_is_seeded_and_shapes_follow_sizes() {
        let a = Mlp::new(&[11, 8, 3], &mut crate::rng::stream(3, "init"));
        let b = Mlp::new(&[11, 8, 3], &mut crate::rng::stream(3, "init"));
        assert_eq!(a, b);
        assert_eq!(a.sizes(), vec![11, 8, 3]);
        assert_eq!(a.param_count(), 11 * 8 + 8 + 8 * 3 + 3);
        let x = DMatrix::from_element(5, 11, 0.5);
        assert_eq!(a.logits(&x).shape(), (5, 3));
        assert_eq!(a.logits_chunked(&x, 2), a.logits(&x));
    }
}
