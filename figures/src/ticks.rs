//! Axis ranges, tick positions and tick labels.
//!
//! Every chart draws on plain linear plotters coordinates: a logarithmic axis is drawn by mapping
//! values to `log10(v)` here and labelling the ticks with the original values. Doing the scale
//! ourselves keeps one coordinate type for all charts and makes ticks predictable (1-2-5 steps on
//! linear axes, decades, with 2 and 5 in between on short log axes).

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

use crate::spec::Scale;

/// One axis after fitting: its range and ticks in plot coordinates.
#[derive(Clone, Debug)]
pub(crate) struct AxisMap {
    pub scale: Scale,
    /// Lower end, in plot coordinates (log10 of the value on a log axis).
    pub lo: f64,
    /// Upper end, in plot coordinates.
    pub hi: f64,
    /// Tick positions in plot coordinates.
    pub ticks: Vec<f64>,
    /// Decimals for linear tick labels.
    decimals: usize,
    /// Log axis: label every tick as a power of ten (10⁻⁵, 2×10³), not as a decimal.
    powers: bool,
}

impl AxisMap {
    /// Fits an axis to the values it must show (already checked: finite, and > 0 on a log axis).
    /// `from_zero` starts a linear axis at zero when the data are non-negative and not far from it.
    pub fn fit(scale: Scale, values: &[f64], from_zero: bool) -> AxisMap {
        AxisMap::fit_padded(scale, values, from_zero, 0.05)
    }

    /// [`AxisMap::fit`] with a chosen padding, as a fraction of the data span on each side.
    pub fn fit_padded(scale: Scale, values: &[f64], from_zero: bool, pad: f64) -> AxisMap {
        let mapped: Vec<f64> = values.iter().map(|&v| to_plot(scale, v)).collect();
        let (mut lo, mut hi) =
            mapped.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        if !lo.is_finite() {
            (lo, hi) = match scale {
                Scale::Linear => (0.0, 1.0),
                Scale::Log => (0.0, 1.0),
            };
        }
        match scale {
            Scale::Linear => {
                if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
                    let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
                    lo -= pad;
                    hi += pad;
                    if from_zero && values.iter().all(|&v| v >= 0.0) {
                        lo = lo.max(0.0);
                    }
                } else {
                    let span = hi - lo;
                    let zero = from_zero && lo >= 0.0 && lo <= span;
                    lo = if zero { 0.0 } else { lo - pad * span };
                    hi += pad * (hi - lo);
                }
                let step = nice_step((hi - lo) / 6.0);
                let first = (lo / step).ceil() as i64;
                let last = (hi / step).floor() as i64;
                let ticks: Vec<f64> =
                    (first..=last).map(|k| k as f64 * step).map(|t| if t == 0.0 { 0.0 } else { t }).collect();
                let decimals =
                    if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize + usize::from(is_quarter(step)) };
                AxisMap { scale, lo, hi, ticks, decimals, powers: false }
            }
            Scale::Log => {
                let pad = ((hi - lo) * pad).max(0.08);
                lo -= pad;
                hi += pad;
                let mut ticks: Vec<f64> = (lo.ceil() as i64..=hi.floor() as i64).map(|k| k as f64).collect();
                if ticks.len() < 3 {
                    let mut more = Vec::new();
                    for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
                        for m in [1.0_f64, 2.0, 5.0] {
                            let t = k as f64 + m.log10();
                            if t >= lo && t <= hi {
                                more.push(t);
                            }
                        }
                    }
                    ticks = more;
                }
                // One format per axis: decimals while every tick reads short (0.01 … 10000),
                // powers of ten for all of them as soon as one would not.
                let powers = ticks.iter().any(|&t| !(-2.0 - 1e-9..=4.0 + 1e-9).contains(&t));
                AxisMap { scale, lo, hi, ticks, decimals: 0, powers }
            }
        }
    }

    /// A value in plot coordinates.
    pub fn map(&self, v: f64) -> f64 {
        to_plot(self.scale, v)
    }

    /// The label of a tick given in plot coordinates.
    pub fn label(&self, t: f64) -> String {
        match self.scale {
            Scale::Linear => format_linear(t, self.decimals),
            Scale::Log if self.powers => format_power(t),
            Scale::Log => format_log(t),
        }
    }
}

// The fitted axis is itself the plotters coordinate: its key points are our ticks (no light
// grid lines) and its labels our formatting.
impl Ranged for AxisMap {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let frac = (value - self.lo) / (self.hi - self.lo);
        let len = f64::from(limit.1 - limit.0);
        limit.0 + (frac * len).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for AxisMap {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

fn to_plot(scale: Scale, v: f64) -> f64 {
    match scale {
        Scale::Linear => v,
        Scale::Log => v.log10(),
    }
}

/// The 1-2-2.5-5 × 10^k step nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = if raw > 0.0 && raw.is_finite() { raw } else { 1.0 };
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn is_quarter(step: f64) -> bool {
    let mag = 10f64.powf(step.log10().floor());
    ((step / mag) - 2.5).abs() < 1e-9
}

fn format_linear(t: f64, decimals: usize) -> String {
    if t.abs() >= 1e6 {
        return trim_exp(format!("{t:.2e}"));
    }
    let s = format!("{t:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_string() } else { s }
}

/// `10⁻⁵`, `10²`, or `m×10ᵏ` for a 2 or a 5 between decades.
fn format_power(t: f64) -> String {
    let k = (t + 1e-9).floor();
    let m = 10f64.powf(t - k).round();
    let sup: String = (k as i64)
        .to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect();
    if m == 1.0 { format!("10{sup}") } else { format!("{m}×10{sup}") }
}

fn format_log(t: f64) -> String {
    let v = 10f64.powf(t);
    // Ticks are 1, 2 or 5 × 10^k: round to three significant digits, then drop noise.
    let digits = (2 - v.log10().floor() as i64).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

fn trim_exp(s: String) -> String {
    // "1.50e6" -> "1.5e6"
    match s.split_once('e') {
        Some((m, e)) => {
            let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
            format!("{m}e{e}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside() {
        let a = AxisMap::fit(Scale::Linear, &[3.0, 97.0], true);
        assert_eq!(a.lo, 0.0);
        assert!(a.ticks.iter().all(|&t| t >= a.lo && t <= a.hi));
        let labels: Vec<String> = a.ticks.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["0", "20", "40", "60", "80", "100"]);
    }

    #[test]
    fn small_steps_get_decimals() {
        let a = AxisMap::fit(Scale::Linear, &[0.0, 1.0], true);
        let labels: Vec<String> = a.ticks.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    }

    #[test]
    fn constant_data_gets_a_range() {
        let a = AxisMap::fit(Scale::Linear, &[5.0], false);
        assert!(a.lo < 5.0 && a.hi > 5.0 && !a.ticks.is_empty());
        let z = AxisMap::fit(Scale::Linear, &[0.0, 0.0], true);
        assert!(z.lo == 0.0 && z.hi > 0.0);
    }

    #[test]
    fn log_ticks_are_decades_or_1_2_5() {
        let a = AxisMap::fit(Scale::Log, &[0.5, 2000.0], false);
        let labels: Vec<String> = a.ticks.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["1", "10", "100", "1000"]);
        let b = AxisMap::fit(Scale::Log, &[3.0, 40.0], false);
        let labels: Vec<String> = b.ticks.iter().map(|&t| b.label(t)).collect();
        assert_eq!(labels, ["5", "10", "20"]);
        let c = AxisMap::fit(Scale::Log, &[1e-9, 1e-7], false);
        assert_eq!(c.label(-8.0), "10⁻⁸");
        assert_eq!(c.label(-3.0), "10⁻³");
        assert_eq!(c.label(-8.0 + 2f64.log10()), "2×10⁻⁸");
    }

    #[test]
    fn one_log_axis_has_one_label_format() {
        // From 1e-5 to 100: every decade as a power of ten, none as "0.0001" beside "1e-5".
        let a = AxisMap::fit(Scale::Log, &[1e-5, 100.0], false);
        let labels: Vec<String> = a.ticks.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹", "10²"]);
        let b = AxisMap::fit(Scale::Log, &[0.05, 2000.0], false);
        let labels: Vec<String> = b.ticks.iter().map(|&t| b.label(t)).collect();
        assert_eq!(labels, ["0.1", "1", "10", "100", "1000"]);
    }
}
