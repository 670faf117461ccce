//! Release gates: compare a candidate run with a baseline under declared rules, and decide.
//!
//! A rule bounds one metric (a dotted path into `summary.json`, e.g. `latency_ms.p99`), either
//! absolutely or relative to the baseline, and names the action its failure calls for. The
//! verdict is the most severe action among failed rules: `rollback` > `block` > `warn` >
//! `accept`. A metric missing from either run fails its rule (what cannot be checked cannot be
//! promoted). Every rule's evidence is kept in the decision.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a failed rule calls for, least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Promote, but tell the owner.
    Warn,
    /// Do not promote.
    Block,
    /// Do not promote, and roll back what is already out.
    Rollback,
}

/// The outcome of a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule passed.
    Accept,
    /// Only `warn` rules failed.
    Warn,
    /// A `block` rule failed (and no `rollback` rule).
    Block,
    /// A `rollback` rule failed.
    Rollback,
}

impl Verdict {
    /// The process exit code `servesim gate` uses for this verdict.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Accept => 0,
            Verdict::Warn => 3,
            Verdict::Block => 4,
            Verdict::Rollback => 5,
        }
    }
}

/// How a rule compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// candidate ≥ limit.
    Min,
    /// candidate ≤ limit.
    Max,
    /// candidate ≤ baseline × (1 + limit).
    MaxRelativeIncrease,
    /// candidate ≥ baseline × (1 − limit).
    MaxRelativeDecrease,
    /// candidate ≤ baseline + limit.
    MaxAbsoluteIncrease,
    /// candidate ≥ baseline − limit.
    MaxAbsoluteDecrease,
}

/// One declared rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Dotted metric path in `summary.json`, e.g. `latency_ms.p99`, `slo.attainment`.
    pub metric: String,
    /// Comparison.
    pub kind: RuleKind,
    /// Threshold (absolute for `min`/`max`/`max_absolute_*`, a fraction for `max_relative_*`).
    pub limit: f64,
    /// What failing calls for.
    pub action: Action,
    /// Who is told.
    #[serde(default)]
    pub owner: String,
    /// Why the rule exists (shown with the evidence).
    #[serde(default)]
    pub why: String,
    /// The rule applies only when one of these metrics differs between the runs (e.g. a quality
    /// rule when `model.weight_bits` changed); otherwise it passes as not applicable. Then a
    /// metric missing from the candidate fails: no evidence, no release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_changed: Vec<String>,
}

/// A set of rules (`rules.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Name.
    pub name: String,
    /// The rules.
    pub rule: Vec<Rule>,
}

/// The evidence for one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    /// The rule.
    #[serde(flatten)]
    pub rule: Rule,
    /// Baseline value (absent if the metric is missing).
    pub baseline: Option<f64>,
    /// Candidate value (absent if the metric is missing).
    pub candidate: Option<f64>,
    /// The bound the candidate had to meet.
    pub bound: Option<f64>,
    /// Whether it passed.
    pub passed: bool,
    /// What that means.
    pub outcome: String,
}

/// A gate decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// Rule set name.
    pub rules: String,
    /// Per-rule evidence, in rule order.
    pub evidence: Vec<Evidence>,
}

impl RuleSet {
    /// Parses and checks a rule set.
    pub fn parse(text: &str) -> Result<RuleSet, crate::ConfigError> {
        let r: RuleSet =
            toml::from_str(text).map_err(|e| crate::ConfigError::Parse(e.to_string().trim_end().into()))?;
        if r.rule.is_empty() {
            return Err(crate::ConfigError::invalid("rule", "a rule set needs at least one [[rule]]"));
        }
        for (i, rule) in r.rule.iter().enumerate() {
            if rule.metric.trim().is_empty() {
                return Err(crate::ConfigError::invalid(&format!("rule[{i}].metric"), "must not be empty"));
            }
            if !rule.limit.is_finite() {
                return Err(crate::ConfigError::invalid(&format!("rule[{i}].limit"), "must be finite"));
            }
            let relative = matches!(rule.kind, RuleKind::MaxRelativeIncrease | RuleKind::MaxRelativeDecrease);
            if relative && rule.limit < 0.0 {
                return Err(crate::ConfigError::invalid(
                    &format!("rule[{i}].limit"),
                    "a relative limit is a non-negative fraction",
                ));
            }
        }
        Ok(r)
    }

    /// Evaluates the rules on flattened metrics of the two runs.
    pub fn evaluate(&self, baseline: &BTreeMap<String, f64>, candidate: &BTreeMap<String, f64>) -> Decision {
        let mut verdict = Verdict::Accept;
        let evidence = self
            .rule
            .iter()
            .map(|rule| {
                let (b, c) = (baseline.get(&rule.metric).copied(), candidate.get(&rule.metric).copied());
                let changed: Vec<&str> = rule
                    .when_changed
                    .iter()
                    .filter(|m| baseline.get(*m) != candidate.get(*m))
                    .map(String::as_str)
                    .collect();
                // A metric missing from one run counts as changed: without it nobody can tell,
                // and a gate errs on the side of asking for the evidence.
                if !rule.when_changed.is_empty() && changed.is_empty() {
                    let outcome = format!("not applicable: {} unchanged", rule.when_changed.join(", "));
                    return Evidence {
                        rule: rule.clone(),
                        baseline: b,
                        candidate: c,
                        bound: None,
                        passed: true,
                        outcome,
                    };
                }
                let bound = match rule.kind {
                    RuleKind::Min | RuleKind::Max => Some(rule.limit),
                    RuleKind::MaxRelativeIncrease => b.map(|b| b * (1.0 + rule.limit)),
                    RuleKind::MaxRelativeDecrease => b.map(|b| b * (1.0 - rule.limit)),
                    RuleKind::MaxAbsoluteIncrease => b.map(|b| b + rule.limit),
                    RuleKind::MaxAbsoluteDecrease => b.map(|b| b - rule.limit),
                };
                let upper =
                    matches!(rule.kind, RuleKind::Max | RuleKind::MaxRelativeIncrease | RuleKind::MaxAbsoluteIncrease);
                let (passed, outcome) = match (c, bound) {
                    (Some(c), Some(bound)) => {
                        let ok = if upper { c <= bound } else { c >= bound };
                        let cmp = if upper { "<=" } else { ">=" };
                        (ok, format!("{} {c} {cmp} {bound}", if ok { "pass:" } else { "FAIL: needed" }))
                    }
                    (None, _) => (false, format!("FAIL: metric `{}` missing from the candidate", rule.metric)),
                    (Some(_), None) => (false, format!("FAIL: metric `{}` missing from the baseline", rule.metric)),
                };
                if !passed {
                    let v = match rule.action {
                        Action::Warn => Verdict::Warn,
                        Action::Block => Verdict::Block,
                        Action::Rollback => Verdict::Rollback,
                    };
                    verdict = verdict.max(v);
                }
                let outcome = if changed.is_empty() {
                    outcome
                } else {
                    format!("{outcome} (applies: {} changed)", changed.join(", "))
                };
                Evidence { rule: rule.clone(), baseline: b, candidate: c, bound, passed, outcome }
            })
            .collect();
        Decision { verdict, rules: self.name.clone(), evidence }
    }
}

/// Built-in rule sets for the course: (name, TOML).
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    ("int8-vs-fp32", include_str!("../rules/int8-vs-fp32.toml")),
    ("student-vs-teacher", include_str!("../rules/student-vs-teacher.toml")),
    ("hardware-mix", include_str!("../rules/hardware-mix.toml")),
    ("llm-release", include_str!("../rules/llm-release.toml")),
];

/// The gate's metrics of a run summary (any engine's `summary.json`): every numeric leaf under
/// its dotted path — array elements by index, and by `name` when they have one
/// (`devices.gpu.utilization`).
pub fn metrics_of(summary: &serde_json::Value) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    flatten(summary, "", &mut out);
    out
}

/// [`metrics_of`] without the time series (an LLM summary's `timeline`): the one-row-per-run
/// metrics of a sweep's table and a report's summary.
pub fn point_metrics_of(summary: &serde_json::Value) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    match summary.as_object() {
        Some(m) => m.iter().filter(|(k, _)| *k != "timeline").for_each(|(k, v)| flatten(v, k, &mut out)),
        None => flatten(summary, "", &mut out),
    }
    out
}

/// Every numeric leaf of `v` under its dotted path (array elements by index, and by `name`
/// when they have one: `devices.gpu.utilization`).
fn flatten(v: &serde_json::Value, prefix: &str, out: &mut std::collections::BTreeMap<String, f64>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        serde_json::Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| flatten(v, &join(k), out)),
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(v, &join(&i.to_string()), out);
                if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
                    flatten(v, &join(name), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_every_numeric_leaf_by_dotted_path_and_by_name() {
        let v = serde_json::json!({
            "latency_ms": {"p99": 8.5},
            "devices": [{"name": "gpu", "utilization": 0.5}],
            "scenario": "s1",
            "ok": true
        });
        let m = metrics_of(&v);
        assert_eq!(m["latency_ms.p99"], 8.5);
        assert_eq!(m["devices.0.utilization"], 0.5);
        assert_eq!(m["devices.gpu.utilization"], 0.5);
        assert_eq!(m.len(), 3, "text and booleans are not metrics: {m:?}");
    }

    #[test]
    fn point_metrics_leave_the_timeline_out() {
        let v = serde_json::json!({"latency_ms": {"p99": 8.5}, "timeline": {"t_s": [0.0, 1.0], "running": [1, 2]}});
        assert_eq!(metrics_of(&v).len(), 5);
        let m = point_metrics_of(&v);
        assert_eq!(m.into_iter().collect::<Vec<_>>(), [("latency_ms.p99".to_string(), 8.5)]);
    }

    fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn set(rules: &str) -> RuleSet {
        RuleSet::parse(&format!("name = \"t\"\n{rules}")).unwrap()
    }

    const P99: &str =
        "[[rule]]\nmetric = \"latency_ms.p99\"\nkind = \"max_relative_increase\"\nlimit = 0.1\naction = \"block\"\n";
    const Q: &str =
        "[[rule]]\nmetric = \"quality\"\nkind = \"max_absolute_decrease\"\nlimit = 0.01\naction = \"rollback\"\n";
    const SLO: &str = "[[rule]]\nmetric = \"slo.attainment\"\nkind = \"min\"\nlimit = 0.99\naction = \"warn\"\n";

    #[test]
    fn a_precision_change_needs_its_quality_evidence() {
        // The quality rule of the built-in llm-release set, alone.
        let all = RuleSet::parse(BUILTIN_RULES.iter().find(|(n, _)| *n == "llm-release").unwrap().1).unwrap();
        let rules = RuleSet { rule: all.rule.into_iter().filter(|r| !r.when_changed.is_empty()).collect(), ..all };
        assert_eq!(rules.rule.len(), 1);
        let fp16 = metrics(&[("model.weight_bits", 16.0), ("model.kv_cache_bits", 16.0)]);
        let fp8 = |q: Option<f64>| {
            let mut m = metrics(&[("model.weight_bits", 8.0), ("model.kv_cache_bits", 16.0)]);
            if let Some(q) = q {
                m.insert("quality.delta".into(), q);
            }
            m
        };
        // A scheduler change keeps the precision: nothing to show.
        let same = rules.evaluate(&fp16, &fp16);
        assert_eq!(same.verdict, Verdict::Accept);
        assert!(same.evidence[0].outcome.starts_with("not applicable"));
        // fp8 weights without evidence: blocked; with a small loss: accepted; a large one: blocked.
        let none = rules.evaluate(&fp16, &fp8(None));
        assert_eq!(none.verdict, Verdict::Block);
        assert!(none.evidence[0].outcome.contains("`quality.delta` missing from the candidate"));
        assert!(none.evidence[0].outcome.contains("(applies: model.weight_bits changed)"));
        // A baseline that does not say its precision: the rule applies (nobody can tell).
        let unknown = rules.evaluate(&metrics(&[]), &fp8(None));
        assert_eq!(unknown.verdict, Verdict::Block);
        assert_eq!(rules.evaluate(&fp16, &fp8(Some(-0.004))).verdict, Verdict::Accept);
        assert_eq!(rules.evaluate(&fp16, &fp8(Some(-0.03))).verdict, Verdict::Block);
    }

    #[test]
    fn every_verdict_is_reachable_and_the_most_severe_failure_wins() {
        let rules = set(&format!("{P99}{Q}{SLO}"));
        let base = metrics(&[("latency_ms.p99", 100.0), ("quality", 0.90), ("slo.attainment", 0.995)]);
        let decide = |p99: f64, q: f64, slo: f64| {
            rules.evaluate(&base, &metrics(&[("latency_ms.p99", p99), ("quality", q), ("slo.attainment", slo)])).verdict
        };
        assert_eq!(decide(109.0, 0.895, 0.995), Verdict::Accept);
        assert_eq!(decide(109.0, 0.895, 0.98), Verdict::Warn);
        assert_eq!(decide(111.0, 0.895, 0.98), Verdict::Block);
        assert_eq!(decide(111.0, 0.88, 0.98), Verdict::Rollback);
        assert_eq!(decide(100.0, 0.88, 1.0), Verdict::Rollback);
        assert_eq!(
            [Verdict::Accept, Verdict::Warn, Verdict::Block, Verdict::Rollback].map(Verdict::exit_code),
            [0, 3, 4, 5]
        );
    }

    #[test]
    fn evidence_records_values_bounds_and_missing_metrics() {
        let d = set(P99).evaluate(&metrics(&[("latency_ms.p99", 100.0)]), &metrics(&[("latency_ms.p99", 120.0)]));
        let e = &d.evidence[0];
        assert_eq!((e.baseline, e.candidate, e.passed), (Some(100.0), Some(120.0), false));
        assert!((e.bound.unwrap() - 110.0).abs() < 1e-9);
        let d = set(P99).evaluate(&metrics(&[("latency_ms.p99", 100.0)]), &metrics(&[]));
        assert_eq!(d.verdict, Verdict::Block);
        assert!(d.evidence[0].outcome.contains("missing from the candidate"));
    }

    #[test]
    fn builtin_rule_sets_parse() {
        for (name, text) in BUILTIN_RULES {
            let r = RuleSet::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&r.name, name);
        }
    }

    #[test]
    fn bad_rule_sets_name_the_key() {
        let e =
            RuleSet::parse("name = \"x\"\n[[rule]]\nmetric = \"q\"\nkind = \"max\"\nlimit = 1.0\naction = \"panic\"\n")
                .unwrap_err();
        assert!(e.to_string().contains("panic"), "{e}");
        let e = RuleSet::parse("name = \"x\"\n[[rule]]\nmetric = \"q\"\nkind = \"max_relative_increase\"\nlimit = -1.0\naction = \"warn\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("rule[0].limit"), "{e}");
    }
}
