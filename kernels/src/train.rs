//! Training: mini-batch Adam on cross-entropy or on a distillation loss, with early stopping.
//!
//! Deterministic for a seed: initialization and batch order come from their own streams
//! (`kernels/<model>/init`, `kernels/<model>/shuffle`), the products are single-threaded
//! `matrixmultiply` kernels (fixed summation order), and nothing depends on wall-clock time.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::KernelsError;
use crate::data::Dataset;
use crate::eval;
use crate::mlp::{Mlp, log_softmax_rows, matmul_nt, matmul_tn, relu_mut};
use crate::rng::{shuffle, stream};

/// Optimizer and schedule settings for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Hidden layer widths (inputs and classes come from the data).
    pub hidden: Vec<usize>,
    /// Upper bound on epochs.
    pub max_epochs: usize,
    /// Mini-batch size (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// Adam first-moment decay.
    pub beta1: f32,
    /// Adam second-moment decay.
    pub beta2: f32,
    /// Adam denominator guard.
    pub epsilon: f32,
    /// Stop after this many epochs without a lower validation loss; the best epoch's weights are kept.
    pub patience: usize,
}

impl TrainConfig {
    /// Adam defaults with the given architecture and schedule.
    pub fn new(hidden: Vec<usize>, max_epochs: usize, batch_size: usize, learning_rate: f32, patience: usize) -> Self {
        TrainConfig { hidden, max_epochs, batch_size, learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, patience }
    }

    /// Rejects empty or non-finite settings.
    pub fn validate(&self) -> Result<(), KernelsError> {
        let bad = |field, reason: &str| Err(KernelsError::InvalidOption { field, reason: reason.into() });
        if self.hidden.contains(&0) {
            return bad("hidden", "a hidden layer has width 0");
        }
        if self.max_epochs == 0 {
            return bad("max_epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", "must be positive and finite");
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return bad("beta1/beta2", "must lie in [0, 1)");
        }
        Ok(())
    }
}

/// Distillation settings: loss = α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE(labels).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    /// Softmax temperature T applied to both teacher and student logits in the KL term.
    pub temperature: f32,
    /// Weight α of the soft-target term.
    pub alpha: f32,
}

/// What a model is trained to fit.
#[derive(Debug, Clone, Copy)]
pub enum Objective<'a> {
    /// Cross-entropy on the labels.
    HardLabels,
    /// The distillation loss against a teacher's logits on the training split (same row order).
    Distill {
        /// Teacher logits, one row per training example.
        teacher_logits: &'a DMatrix<f32>,
        /// Temperature and mixing weight.
        config: DistillConfig,
    },
}

/// Losses after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training objective over the epoch's batches.
    pub train_loss: f64,
    /// Validation cross-entropy on the labels (the early-stopping criterion).
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
}

/// How a model was trained: recorded in its card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
    /// Optimizer and schedule.
    pub config: TrainConfig,
    /// `hard-labels` or `distillation`.
    pub objective: String,
    /// Distillation settings, when distilled.
    pub distillation: Option<DistillConfig>,
    /// Seed of the init and shuffle streams.
    pub seed: u64,
    /// Epochs actually run.
    pub epochs_run: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Validation cross-entropy at the best epoch.
    pub best_val_loss: f64,
    /// Validation accuracy at the best epoch.
    pub best_val_accuracy: f64,
    /// Whether patience ran out before `max_epochs`.
    pub stopped_early: bool,
}

struct Adam {
    m: Vec<(DMatrix<f32>, DVector<f32>)>,
    v: Vec<(DMatrix<f32>, DVector<f32>)>,
    step: i32,
}

impl Adam {
    fn new(model: &Mlp) -> Adam {
        let zeros = || model.layers.iter().map(|l| (l.w.map(|_| 0.0), l.b.map(|_| 0.0))).collect();
        Adam { m: zeros(), v: zeros(), step: 0 }
    }

    fn update(cfg: &TrainConfig, corr: (f32, f32), p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (c1, c2) = corr;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = cfg.beta1 * *m + (1.0 - cfg.beta1) * g;
            *v = cfg.beta2 * *v + (1.0 - cfg.beta2) * g * g;
            *p -= cfg.learning_rate * (*m / c1) / ((*v / c2).sqrt() + cfg.epsilon);
        }
    }
}

/// Trains a fresh `data.n_features() → hidden… → data.n_classes()` network.
///
/// `name` labels the random streams and errors; `on_epoch` sees every epoch's statistics.
/// Returns the weights of the epoch with the lowest validation cross-entropy.
pub fn train(
    name: &str,
    data: &Dataset,
    cfg: &TrainConfig,
    objective: Objective<'_>,
    seed: u64,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<(Mlp, TrainRecord), KernelsError> {
    cfg.validate()?;
    if let Objective::Distill { teacher_logits, config } = objective {
        if teacher_logits.nrows() != data.train.len() || teacher_logits.ncols() != data.n_classes() {
            return Err(KernelsError::InvalidOption {
                field: "teacher_logits",
                reason: format!("shape {:?} does not match the training split", teacher_logits.shape()),
            });
        }
        if !(config.temperature > 0.0 && (0.0..=1.0).contains(&config.alpha)) {
            return Err(KernelsError::InvalidOption {
                field: "distillation",
                reason: "temperature must be > 0 and alpha in [0, 1]".into(),
            });
        }
    }
    let mut sizes = vec![data.n_features()];
    sizes.extend(&cfg.hidden);
    sizes.push(data.n_classes());
    let mut model = Mlp::new(&sizes, &mut stream(seed, &format!("kernels/{name}/init")));
    let mut order_rng = stream(seed, &format!("kernels/{name}/shuffle"));
    let mut adam = Adam::new(&model);
    let mut order: Vec<usize> = (0..data.train.len()).collect();

    let mut best = (model.clone(), 0usize, f64::INFINITY, 0.0f64);
    let mut since_best = 0;
    let mut epochs_run = 0;
    for epoch in 1..=cfg.max_epochs {
        epochs_run = epoch;
        shuffle(&mut order, &mut order_rng);
        let mut loss_sum = 0f64;
        let mut batches = 0;
        for idx in order.chunks(cfg.batch_size) {
            let (xb, yb) = data.train.select(idx);
            let target = match objective {
                Objective::HardLabels => None,
                Objective::Distill { teacher_logits, config } => {
                    let tl = DMatrix::from_fn(idx.len(), teacher_logits.ncols(), |r, c| teacher_logits[(idx[r], c)]);
                    Some((tl, config))
                }
            };
            let loss = step(&mut model, &mut adam, cfg, &xb, &yb, target.as_ref().map(|(tl, c)| (tl, *c)));
            if !loss.is_finite() {
                return Err(KernelsError::Diverged { model: name.into(), epoch, loss });
            }
            loss_sum += loss as f64;
            batches += 1;
        }
        let probs = model.probabilities(&data.val.x);
        let stats = EpochStats {
            epoch,
            train_loss: loss_sum / batches as f64,
            val_loss: eval::cross_entropy(&probs, &data.val.y),
            val_accuracy: eval::accuracy(&probs, &data.val.y),
        };
        on_epoch(&stats);
        if stats.val_loss < best.2 {
            best = (model.clone(), epoch, stats.val_loss, stats.val_accuracy);
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= cfg.patience {
                break;
            }
        }
    }
    let (model, best_epoch, best_val_loss, best_val_accuracy) = best;
    let record = TrainRecord {
        config: cfg.clone(),
        objective: match objective {
            Objective::HardLabels => "hard-labels".into(),
            Objective::Distill { .. } => "distillation".into(),
        },
        distillation: match objective {
            Objective::HardLabels => None,
            Objective::Distill { config, .. } => Some(config),
        },
        seed,
        epochs_run,
        best_epoch,
        best_val_loss,
        best_val_accuracy,
        stopped_early: epochs_run < cfg.max_epochs,
    };
    Ok((model, record))
}

/// One Adam step on a batch; returns the batch loss before the step.
fn step(
    model: &mut Mlp,
    adam: &mut Adam,
    cfg: &TrainConfig,
    xb: &DMatrix<f32>,
    yb: &[usize],
    distill: Option<(&DMatrix<f32>, DistillConfig)>,
) -> f32 {
    let (loss, grads) = loss_and_gradients(model, xb, yb, distill);
    adam.step += 1;
    let corr = (1.0 - cfg.beta1.powi(adam.step), 1.0 - cfg.beta2.powi(adam.step));
    for (l, (gw, gb)) in grads.iter().enumerate() {
        let layer = &mut model.layers[l];
        let (mw, mb) = &mut adam.m[l];
        let (vw, vb) = &mut adam.v[l];
        Adam::update(cfg, corr, layer.w.as_mut_slice(), gw.as_slice(), mw.as_mut_slice(), vw.as_mut_slice());
        Adam::update(cfg, corr, layer.b.as_mut_slice(), gb.as_slice(), mb.as_mut_slice(), vb.as_mut_slice());
    }
    loss
}

/// A layer's gradient: weights, bias.
pub(crate) type Gradient = (DMatrix<f32>, DVector<f32>);

/// The batch-mean objective and its gradient per layer (weights, bias), by backpropagation.
pub(crate) fn loss_and_gradients(
    model: &Mlp,
    xb: &DMatrix<f32>,
    yb: &[usize],
    distill: Option<(&DMatrix<f32>, DistillConfig)>,
) -> (f32, Vec<Gradient>) {
    let n_layers = model.layers.len();
    // Forward, keeping every hidden activation (after ReLU) for the backward pass.
    let mut acts: Vec<DMatrix<f32>> = Vec::with_capacity(n_layers - 1);
    let mut z = model.layers[0].affine(xb);
    for l in 1..n_layers {
        relu_mut(&mut z);
        acts.push(z);
        z = model.layers[l].affine(&acts[l - 1]);
    }
    let n = xb.nrows() as f32;
    let log_p = log_softmax_rows(&z, 1.0);
    let ce = yb.iter().enumerate().map(|(r, &y)| -log_p[(r, y)]).sum::<f32>() / n;
    let mut dz = log_p.map(f32::exp);
    for (r, &y) in yb.iter().enumerate() {
        dz[(r, y)] -= 1.0;
    }
    let loss = match distill {
        None => ce,
        Some((teacher, DistillConfig { temperature: tt, alpha })) => {
            let log_pt = log_softmax_rows(teacher, tt);
            let pt = log_pt.map(f32::exp);
            let log_ps = log_softmax_rows(&z, tt);
            let kl =
                pt.iter().zip(log_pt.iter()).zip(log_ps.iter()).map(|((p, lp), ls)| p * (lp - ls)).sum::<f32>() / n;
            // d/dz of α·T²·KL(pt ‖ softmax(z/T)) is α·T·(softmax(z/T) − pt).
            let soft = (log_ps.map(f32::exp) - pt) * (alpha * tt);
            dz = soft + dz * (1.0 - alpha);
            alpha * tt * tt * kl + (1.0 - alpha) * ce
        }
    };
    dz /= n;

    let mut grads = Vec::with_capacity(n_layers);
    for l in (0..n_layers).rev() {
        let input = if l == 0 { xb } else { &acts[l - 1] };
        let gw = matmul_tn(input, &dz);
        let gb = dz.row_sum().transpose();
        if l > 0 {
            let mut da = matmul_nt(&dz, &model.layers[l].w);
            da.zip_apply(&acts[l - 1], |d, a| {
                if a <= 0.0 {
                    *d = 0.0;
                }
            });
            dz = da;
        }
        grads.push((gw, gb));
    }
    grads.reverse();
    (loss, grads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::symmetric;

    /// Central differences in f32 are noisy; a small net and a loose relative bound suffice
    /// to catch a wrong sign, a missing factor T or a transposed gradient.
    fn check_gradients(distill: Option<DistillConfig>) {
        let mut rng = stream(5, "grad");
        let mut model = Mlp::new(&[4, 6, 5, 3], &mut rng);
        // Non-zero biases: with zero biases an example whose hidden units are all off sits exactly
        // on the next layer's ReLU kink, where finite differences are one-sided.
        for layer in &mut model.layers {
            layer.b.apply(|b| *b = symmetric(&mut rng, 0.5));
        }
        let x = DMatrix::from_fn(7, 4, |_, _| symmetric(&mut rng, 2.0));
        let y: Vec<usize> = (0..7).map(|i| i % 3).collect();
        let teacher = DMatrix::from_fn(7, 3, |_, _| symmetric(&mut rng, 3.0));
        let d = distill.map(|c| (&teacher, c));
        let (_, grads) = loss_and_gradients(&model, &x, &y, d);
        let h = 1e-3f32;
        let mut checked = 0;
        #[allow(clippy::needless_range_loop)] // `l` indexes the model, its clones and the gradients alike
        for l in 0..model.layers.len() {
            for k in 0..model.layers[l].w.len() {
                let mut plus = model.clone();
                plus.layers[l].w.as_mut_slice()[k] += h;
                let mut minus = model.clone();
                minus.layers[l].w.as_mut_slice()[k] -= h;
                let num =
                    (loss_and_gradients(&plus, &x, &y, d).0 - loss_and_gradients(&minus, &x, &y, d).0) / (2.0 * h);
                let ana = grads[l].0.as_slice()[k];
                assert!((num - ana).abs() <= 2e-3 + 0.05 * ana.abs(), "layer {l} weight {k}: {num} vs {ana}");
                checked += 1;
            }
            for k in 0..model.layers[l].b.len() {
                let mut plus = model.clone();
                plus.layers[l].b[k] += h;
                let mut minus = model.clone();
                minus.layers[l].b[k] -= h;
                let num =
                    (loss_and_gradients(&plus, &x, &y, d).0 - loss_and_gradients(&minus, &x, &y, d).0) / (2.0 * h);
                let ana = grads[l].1[k];
                assert!((num - ana).abs() <= 2e-3 + 0.05 * ana.abs(), "layer {l} bias {k}: {num} vs {ana}");
            }
        }
        assert_eq!(checked, model.layers.iter().map(|l| l.w.len()).sum::<usize>());
    }

    #[test]
    fn cross_entropy_gradients_match_finite_differences() {
        check_gradients(None);
    }

    #[test]
    fn distillation_gradients_match_finite_differences() {
        check_gradients(Some(DistillConfig { temperature: 3.0, alpha: 0.7 }));
    }

    #[test]
    fn distillation_targets_must_match_the_training_split() {
        let raw = crate::data::RawData::wine_quality();
        let data = Dataset::split(&raw, 1).unwrap();
        let cfg = TrainConfig::new(vec![4], 1, 64, 1e-3, 1);
        let wrong = DMatrix::zeros(10, 3);
        let objective =
            Objective::Distill { teacher_logits: &wrong, config: DistillConfig { temperature: 2.0, alpha: 0.5 } };
        let err = train("s", &data, &cfg, objective, 1, &mut |_| {}).unwrap_err();
        assert!(matches!(err, KernelsError::InvalidOption { field: "teacher_logits", .. }), "{err}");
    }

    #[test]
    fn training_lowers_the_loss_and_is_reproducible() {
        let data = Dataset::split(&crate::data::RawData::wine_quality(), 2).unwrap();
        let cfg = TrainConfig::new(vec![16], 15, 64, 3e-3, 100);
        let mut losses = Vec::new();
        let (a, rec) = train("m", &data, &cfg, Objective::HardLabels, 2, &mut |s| losses.push(s.train_loss)).unwrap();
        let (b, _) = train("m", &data, &cfg, Objective::HardLabels, 2, &mut |_| {}).unwrap();
        assert_eq!(a, b);
        assert_eq!(rec.epochs_run, 15);
        assert!(losses[14] < 0.9 * losses[0], "{losses:?}");
        let (c, _) = train("m", &data, &cfg, Objective::HardLabels, 3, &mut |_| {}).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn config_validation_names_the_field() {
        let mut cfg = TrainConfig::new(vec![8], 10, 0, 1e-3, 3);
        assert!(matches!(cfg.validate(), Err(KernelsError::InvalidOption { field: "batch_size", .. })));
        cfg.batch_size = 4;
        cfg.learning_rate = f32::NAN;
        assert!(matches!(cfg.validate(), Err(KernelsError::InvalidOption { field: "learning_rate", .. })));
    }
}
