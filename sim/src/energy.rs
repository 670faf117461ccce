//! Energy and carbon: a device's power as a function of how busy it is, integrated over the run.
//!
//! A replica that is on (ready, starting or draining) draws
//!
//! ```text
//! P(u) = idle_w + (max_w − idle_w) · f(u),   u = busy servers / servers of the replica
//! ```
//!
//! with f the identity (linear, the default) or the piecewise-linear `curve` of (u, f) points.
//! u is a step function of time (it changes only when a batch starts or ends, or a replica turns
//! on or off), so energy = Σ P · Δt over its steps is the exact integral ∫ P dt, and carbon =
//! ∫ P(t) · PUE · CI(t) dt with the carbon intensity CI constant or a step series. A replica
//! that is off draws nothing.

use crate::check::{ConfigError, non_negative, positive};
use serde::{Deserialize, Serialize};
use traces::SimTime;

/// A device kind's power (`power = { idle_w, max_w, … }` in the catalog or a device group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSpec {
    /// Power on and idle (model loaded), W.
    pub idle_w: f64,
    /// Power fully busy, W (the board power limit, TDP, unless measured lower).
    pub max_w: f64,
    /// Utilization → share of the idle-to-max range, as (u, f) points from (0, 0) to (1, 1)
    /// (absent: linear).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<[f64; 2]>,
    /// Where the numbers come from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

impl PowerSpec {
    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        non_negative(&format!("{key}.idle_w"), self.idle_w)?;
        positive(&format!("{key}.max_w"), self.max_w)?;
        if self.max_w < self.idle_w {
            return Err(ConfigError::invalid(
                &format!("{key}.max_w"),
                format!("{} W is below idle_w = {} W", self.max_w, self.idle_w),
            ));
        }
        if !self.curve.is_empty() {
            let c = &self.curve;
            if c[0] != [0.0, 0.0] || c[c.len() - 1] != [1.0, 1.0] {
                return Err(ConfigError::invalid(&format!("{key}.curve"), "must start at [0, 0] and end at [1, 1]"));
            }
            for (i, w) in c.windows(2).enumerate() {
                if !(w[1][0] > w[0][0] && w[1][1] >= w[0][1]) {
                    return Err(ConfigError::invalid(
                        &format!("{key}.curve[{}]", i + 1),
                        "utilization must increase and power must not decrease",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Watts of one replica with `busy` of `servers` servers busy.
    pub fn watts(&self, busy: f64, servers: f64) -> f64 {
        let u = if servers > 0.0 { (busy / servers).clamp(0.0, 1.0) } else { 0.0 };
        let f = if self.curve.is_empty() {
            u
        } else {
            let i = self.curve.partition_point(|p| p[0] < u).clamp(1, self.curve.len() - 1);
            let ([u0, f0], [u1, f1]) = (self.curve[i - 1], self.curve[i]);
            f0 + (f1 - f0) * (u - u0) / (u1 - u0)
        };
        self.idle_w + (self.max_w - self.idle_w) * f
    }
}

/// `[energy]`: how energy becomes carbon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergySpec {
    /// Power usage effectiveness of the data centre: facility energy / IT energy (default 1).
    #[serde(default = "one")]
    pub pue: f64,
    /// Constant carbon intensity, gCO₂e per kWh (default 0 unless `carbon` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbon_g_per_kwh: Option<f64>,
    /// Carbon intensity over time: steps (sorted by `at_s`), repeated every `carbon_period_s`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carbon: Vec<CarbonStep>,
    /// Period of `carbon`, s (absent: the last step holds forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbon_period_s: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// From `at_s` on, `g_per_kwh`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonStep {
    /// Start, s (within the period).
    pub at_s: f64,
    /// gCO₂e per kWh.
    pub g_per_kwh: f64,
}

impl Default for EnergySpec {
    fn default() -> Self {
        EnergySpec { pue: 1.0, carbon_g_per_kwh: None, carbon: Vec::new(), carbon_period_s: None }
    }
}

impl EnergySpec {
    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !(self.pue.is_finite() && self.pue >= 1.0) {
            return Err(ConfigError::invalid(&format!("{key}.pue"), format!("must be at least 1, got {}", self.pue)));
        }
        if let Some(c) = self.carbon_g_per_kwh {
            non_negative(&format!("{key}.carbon_g_per_kwh"), c)?;
            if !self.carbon.is_empty() {
                return Err(ConfigError::invalid(
                    &format!("{key}.carbon"),
                    "give carbon_g_per_kwh or a carbon series, not both",
                ));
            }
        }
        for (i, s) in self.carbon.iter().enumerate() {
            non_negative(&format!("{key}.carbon[{i}].at_s"), s.at_s)?;
            non_negative(&format!("{key}.carbon[{i}].g_per_kwh"), s.g_per_kwh)?;
            if i > 0 && s.at_s <= self.carbon[i - 1].at_s {
                return Err(ConfigError::invalid(
                    &format!("{key}.carbon[{i}].at_s"),
                    "steps must be in increasing order of at_s",
                ));
            }
        }
        if let Some(p) = self.carbon_period_s {
            positive(&format!("{key}.carbon_period_s"), p)?;
            if self.carbon.last().is_some_and(|s| s.at_s >= p) {
                return Err(ConfigError::invalid(
                    &format!("{key}.carbon_period_s"),
                    format!("every step's at_s must be below the period {p}"),
                ));
            }
        }
        Ok(())
    }

    /// Carbon intensity at `t` seconds and when it next changes (∞: never).
    fn intensity(&self, t: f64) -> (f64, f64) {
        if self.carbon.is_empty() {
            return (self.carbon_g_per_kwh.unwrap_or(0.0), f64::INFINITY);
        }
        let (base, local) = match self.carbon_period_s {
            Some(p) => {
                let k = (t / p).floor();
                (k * p, t - k * p)
            }
            None => (0.0, t),
        };
        let i = self.carbon.partition_point(|s| s.at_s <= local);
        let ci = self.carbon[i.saturating_sub(1)].g_per_kwh;
        let next = match (self.carbon.get(i), self.carbon_period_s) {
            (Some(s), _) => base + s.at_s,
            (None, Some(p)) => base + p,
            (None, None) => f64::INFINITY,
        };
        // Before the first step (at_s > 0) the first step's value applies.
        (ci, if next > t { next } else { f64::INFINITY })
    }
}

/// Integrates a piecewise-constant power over time: energy (J) and carbon (g).
#[derive(Clone, Debug, Default)]
pub struct EnergyMeter {
    watts: f64,
    since: SimTime,
    joules: f64,
    grams: f64,
}

impl EnergyMeter {
    /// The power changes to `watts` at `now` (times must not decrease).
    #[inline]
    pub fn set(&mut self, now: SimTime, watts: f64, spec: &EnergySpec) {
        if now > self.since {
            self.integrate(now, spec);
        }
        self.watts = watts;
    }

    fn integrate(&mut self, now: SimTime, spec: &EnergySpec) {
        let (mut t, end) = (self.since.as_secs_f64(), now.as_secs_f64());
        let facility_w = self.watts * spec.pue;
        self.joules += facility_w * (end - t);
        while t < end {
            let (ci, next) = spec.intensity(t);
            let stop = next.min(end);
            self.grams += facility_w * (stop - t) / 3.6e6 * ci;
            t = stop;
        }
        self.since = now;
    }

    /// Facility energy (IT energy × PUE) and carbon up to `end`: (kWh, gCO₂e).
    pub fn until(&self, end: SimTime, spec: &EnergySpec) -> (f64, f64) {
        let mut m = self.clone();
        if end > m.since {
            m.integrate(end, spec);
        }
        (m.joules / 3.6e6, m.grams)
    }

    /// Current power, W (IT, before PUE).
    pub fn watts(&self) -> f64 {
        self.watts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: f64) -> SimTime {
        SimTime::from_secs_f64(v).unwrap()
    }

    #[test]
    fn power_is_linear_or_follows_its_curve() {
        let p = PowerSpec { idle_w: 100.0, max_w: 700.0, curve: vec![], source: String::new() };
        assert_eq!([p.watts(0.0, 2.0), p.watts(1.0, 2.0), p.watts(2.0, 2.0)], [100.0, 400.0, 700.0]);
        let c = PowerSpec { curve: vec![[0.0, 0.0], [0.25, 0.5], [1.0, 1.0]], ..p };
        assert!((c.watts(1.0, 8.0) - (100.0 + 600.0 * 0.25)).abs() < 1e-9); // u = 0.125 -> f 0.25
        assert!((c.watts(4.0, 8.0) - (100.0 + 600.0 * (0.5 + 0.5 * 0.25 / 0.75))).abs() < 1e-9);
    }

    #[test]
    fn energy_and_carbon_are_the_exact_integrals_of_a_step_power() {
        // 100 W for 10 s, 400 W for 20 s, 0 W after: 1000 + 8000 J; PUE 1.5 -> 13,500 J.
        // Carbon: 100 g/kWh for [0, 15) then 300 g/kWh, repeated every 40 s.
        let spec = EnergySpec {
            pue: 1.5,
            carbon_g_per_kwh: None,
            carbon: vec![CarbonStep { at_s: 0.0, g_per_kwh: 100.0 }, CarbonStep { at_s: 15.0, g_per_kwh: 300.0 }],
            carbon_period_s: Some(40.0),
        };
        let mut m = EnergyMeter::default();
        m.set(s(0.0), 100.0, &spec);
        m.set(s(10.0), 400.0, &spec);
        m.set(s(30.0), 0.0, &spec);
        let (kwh, g) = m.until(s(50.0), &spec);
        assert!((kwh * 3.6e6 - 13_500.0).abs() < 1e-6, "{kwh}");
        // 150 W·10 s at 100; 600 W·5 s at 100; 600 W·15 s at 300 (J / 3.6e6 = kWh).
        let expect = (1500.0 * 100.0 + 3000.0 * 100.0 + 9000.0 * 300.0) / 3.6e6;
        assert!((g - expect).abs() < 1e-9, "{g} vs {expect}");
    }

    #[test]
    fn bad_specs_name_the_key() {
        let e = EnergySpec { pue: 0.9, ..EnergySpec::default() }.validate("energy").unwrap_err();
        assert!(e.to_string().contains("energy.pue"), "{e}");
        let p = PowerSpec { idle_w: 100.0, max_w: 50.0, curve: vec![], source: String::new() };
        assert!(p.validate("k.power").unwrap_err().to_string().contains("k.power.max_w"));
    }
}
