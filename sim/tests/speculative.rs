//! Speculative decoding in the LLM engine: hand-computed iterations on a table perf model, the
//! closed form of the expected tokens per verification step, KV accounting of rejected
//! proposals, and the roofline's verdict (it pays at small batches, less at large ones).

mod common;
use sim::ScenarioConfig;
use sim::llm::LlmSummary;
use traces::Request;

fn scenario(speculative: &str, extra: &str) -> ScenarioConfig {
    table_scenario(1, extra, speculative)
}

use common::{req, run_llm as run, table_scenario};

fn ngram(k: u32, acceptance: &str) -> String {
    format!("[llm.speculative]\nmethod = \"ngram\"\nk = {k}\nacceptance = {acceptance}")
}

#[test]
fn every_proposal_accepted_by_hand() {
    // One request, prompt 100, 9 tokens, k = 4, α = 1. Prefill 1 ms → token 1 at 1 ms.
    // Step 1 verifies 4 proposals: decode(1) + prefill(4) = 5 + 0.04 ms → 5 tokens (6 in all) at
    // 6.04. Step 2: 3 tokens left, so 2 proposals (no proposal past the last token): 5.02 ms → 3
    // tokens, done at 11.06 ms.
    let s = run(&scenario(&ngram(4, "1.0"), ""), vec![req(0, 0, 100, 9)]);
    assert_eq!((s.tokens.output, s.iterations.count), (9, 3));
    assert!((s.latency_ms.e2e.mean - 11.06).abs() < 1e-6, "{:?}", s.latency_ms.e2e);
    let sp = s.speculative.unwrap();
    assert_eq!((sp.steps, sp.proposed, sp.accepted), (2, 6, 6));
    assert_eq!(sp.proposer_s, 0.0, "n-gram proposals cost no device time");
    // Two inter-token gaps: tokens of one step arrive together.
    assert_eq!(s.latency_ms.itl.count, 2);
}

#[test]
fn every_proposal_rejected_by_hand() {
    // α = 0: one token per step, each step paying for its verification: 4 steps with 4
    // proposals (5.04 ms), then 3, 2, 1, 0 (5.03, 5.02, 5.01, 5.00): 40.22 ms after the 1-ms
    // prefill. The same request without speculation: 8 × 5 ms + 1 = 41 ms.
    let s = run(&scenario(&ngram(4, "0.0"), ""), vec![req(0, 0, 100, 9)]);
    assert_eq!(s.tokens.output, 9);
    assert!((s.latency_ms.e2e.mean - 41.22).abs() < 1e-6, "{:?}", s.latency_ms.e2e);
    let sp = s.speculative.unwrap();
    assert_eq!((sp.steps, sp.proposed, sp.accepted, sp.tokens_per_step), (7, 22, 0, 1.0));
    let plain = run(&scenario("", ""), vec![req(0, 0, 100, 9)]);
    assert!((plain.latency_ms.e2e.mean - 41.0).abs() < 1e-6);
    assert!(plain.speculative.is_none());
}

#[test]
fn tokens_per_step_match_the_closed_form() {
    // Long outputs: almost every step proposes all k; the mean tokens per step estimates
    // (1 − α^(k+1)) / (1 − α) (constant α) or Σ Π α_j (by position).
    let reqs = || (0..40).map(|i| req(i, i * 3, 64, 3000)).collect::<Vec<_>>();
    for (k, acc, expected) in [
        (4, "0.7", (1.0 - 0.7f64.powi(5)) / 0.3),
        (2, "0.5", 1.75),
        (3, "[0.9, 0.6, 0.3]", 1.0 + 0.9 + 0.9 * 0.6 + 0.9 * 0.6 * 0.3),
    ] {
        let s = run(&scenario(&ngram(k, acc), ""), reqs());
        let sp = s.speculative.unwrap();
        assert!((sp.expected_tokens_per_step - expected).abs() < 1e-12);
        assert_eq!(s.tokens.output, 40 * 3000, "every token generated exactly once");
        let rel = (sp.tokens_per_step - expected).abs() / expected;
        assert!(rel < 0.01, "k={k} α={acc}: {} per step, closed form {expected}", sp.tokens_per_step);
        assert!(sp.steps > 40_000);
    }
}

#[test]
fn rejected_proposals_free_their_kv_and_memory_pressure_still_conserves_tokens() {
    // 120 KV pages of 16 tokens; each sequence reaches 100 + 400 tokens = 32 pages: at most
    // three fit; proposals need room for k more tokens and preempt when it is short.
    let c = scenario(&ngram(8, "0.5"), "kv_blocks = 120");
    let reqs: Vec<Request> = (0..12).map(|i| req(i, 0, 100, 400)).collect();
    let s = run(&c, reqs);
    assert_eq!(s.requests.completed, 12);
    assert_eq!(s.tokens.output, 12 * 400);
    assert!(s.kv.peak_utilization <= 1.0);
    assert!(s.kv.preemptions > 0, "the proposals' pages push memory over");
    let sp = s.speculative.unwrap();
    assert!(sp.accepted < sp.proposed);
}

/// Llama-3.1-8B on an H100 (built-in calibration), `n` requests arriving at once.
fn roofline(spec: &str, n: u64) -> LlmSummary {
    let c = ScenarioConfig::parse(&format!(
        r#"
        name = "spec-roofline"
        [llm]
        model = "llama-3.1-8b"
        [llm.scheduler]
        kind = "continuous"
        [[llm.pools]]
        name = "gpu"
        kind = "h100"
        {spec}
        "#
    ))
    .unwrap();
    run(&c, (0..n).map(|i| req(i, 0, 512, 256)).collect())
}

#[test]
fn a_draft_model_pays_at_batch_one_and_less_at_large_batches() {
    let draft = "[llm.speculative]\nmethod = \"draft\"\ndraft_model = \"llama-3.2-1b\"\nk = 4\nacceptance = 0.8";
    let speedup = |n| {
        let plain = roofline("", n).latency_ms.tpot.mean;
        let s = roofline(draft, n);
        assert!(s.speculative.as_ref().unwrap().proposer_s > 0.0);
        plain / s.latency_ms.tpot.mean
    };
    let (one, many) = (speedup(1), speedup(256));
    // Memory-bound decode: 3.36 tokens per step for one target pass plus four draft steps.
    assert!(one > 1.5, "batch 1: {one:.2}x");
    assert!(many < one, "batch 256 is closer to compute-bound: {many:.2}x vs {one:.2}x");
}

#[test]
fn speculative_settings_are_checked() {
    let bad = |spec: &str| {
        let text = format!(
            "name = \"s\"\n[llm]\nmodel = \"llama-2-7b\"\n[[llm.pools]]\nname = \"g\"\nkind = \"a100\"\n{spec}"
        );
        ScenarioConfig::parse(&text).unwrap_err().to_string()
    };
    assert!(bad("[llm.speculative]\nmethod = \"ngram\"\nk = 0\nacceptance = 0.5").contains("llm.speculative.k"));
    assert!(bad(&ngram(2, "[0.5]")).contains("1 probabilities for k = 2"));
    assert!(bad(&ngram(2, "1.5")).contains("llm.speculative.acceptance[0]"));
    assert!(bad("[llm.speculative]\nmethod = \"draft\"\nk = 2\nacceptance = 0.5").contains("draft_model"));
    assert!(
        bad("[llm.speculative]\nmethod = \"draft\"\ndraft_model = \"nope\"\nk = 2\nacceptance = 0.5")
            .contains("unknown model `nope`")
    );
    let stat = ScenarioConfig::parse(&format!(
        "name = \"s\"\n[llm]\nmodel = \"llama-2-7b\"\n[llm.scheduler]\nkind = \"static\"\n[[llm.pools]]\nname = \"g\"\nkind \
         = \"a100\"\n{}",
        ngram(2, "0.5")
    ));
    assert!(stat.unwrap_err().to_string().contains("continuous scheduler"));
}
