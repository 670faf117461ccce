//! Multi-turn conversations replayed closed-loop: a conversation by hand, causality (no turn
//! before its answer plus think time), context growth with its prefix reuse, generated sessions
//! and abandoned conversations.

mod common;
use common::{req, run_llm as run, table_scenario};
use sim::ScenarioConfig;
use traces::Request;

fn scenario(extra: &str) -> ScenarioConfig {
    table_scenario(1, extra, "[llm.sessions]\nthink = { kind = \"deterministic\", ms = 1000.0 }")
}

fn turn(id: u64, at_ms: u64, session: u64, input: u64, output: u64) -> Request {
    let mut r = req(id, at_ms, input, output);
    r.session = Some(session);
    r
}

/// One conversation of three turns; the trace recorded the later ones at 5 and 6 ms, before the
/// first answer could exist.
fn conversation() -> Vec<Request> {
    vec![turn(0, 0, 7, 100, 3), turn(1, 5, 7, 50, 2), turn(2, 6, 7, 20, 1)]
}

#[test]
fn a_conversation_by_hand() {
    // Turn 1: prefill 100 tokens (1 ms), two decodes (5 ms each): answered at 11 ms. Turn 2 is
    // sent 1 s later, at 1,011 ms, with the history: 100 + 3 + 50 = 153 tokens (1.53 ms), one
    // decode: answered at 1,017.53 ms. Turn 3 at 2,017.53 ms: 153 + 2 + 20 = 175 tokens, one
    // token: answered at 2,019.28 ms.
    let s = run(&scenario(""), conversation());
    assert_eq!((s.requests.completed, s.tokens.input, s.tokens.output), (3, 100 + 153 + 175, 6));
    assert!((s.horizon_s - 2.01928).abs() < 1e-9, "{}", s.horizon_s);
    assert!((s.latency_ms.e2e.mean - (11.0 + 6.53 + 1.75) / 3.0).abs() < 1e-6, "{:?}", s.latency_ms.e2e);
    let c = s.sessions.unwrap();
    assert_eq!((c.sessions, c.completed, c.abandoned, c.mean_think_s), (1, 1, 0, 1.0));
    let prompts: Vec<f64> = c.by_turn.iter().map(|t| t.mean_prompt_tokens).collect();
    assert_eq!(prompts, vec![100.0, 153.0, 175.0]);
    // Open loop, the same trace sends the later turns at 5 and 6 ms with their own prompts.
    let mut open = scenario("");
    open.llm.as_mut().unwrap().sessions = None;
    let o = run(&open, conversation());
    assert_eq!(o.tokens.input, 170);
    assert!(o.horizon_s < 0.05);
}

#[test]
fn a_later_turn_finds_its_history_in_the_prefix_cache() {
    // 32-token blocks: turn 1 (100 tokens) publishes 3 full blocks; turn 2's prompt (153 tokens)
    // starts with the same conversation blocks: 96 tokens cached, 57 prefilled (0.57 ms).
    let s = run(&scenario("[llm.prefix_cache]\nblock_tokens = 32"), conversation());
    let c = s.sessions.unwrap();
    assert_eq!(c.by_turn[0].cached_share, 0.0);
    assert!((c.by_turn[1].cached_share - 96.0 / 153.0).abs() < 1e-12, "{:?}", c.by_turn[1]);
    assert!((c.by_turn[1].ttft_ms.mean - 0.57).abs() < 1e-6, "{:?}", c.by_turn[1].ttft_ms);
    // Turn 2 published its fourth full block (tokens 96..128; the fifth is not full: 154 tokens
    // have KV when it finishes): turn 3's 175 tokens reuse 4 blocks.
    assert!((c.by_turn[2].cached_share - 128.0 / 175.0).abs() < 1e-12, "{:?}", c.by_turn[2]);
    // A longer answer fills blocks of its own: 100 prompt + 39 answer tokens with KV fill 4
    // blocks, the fourth ending in the answer; the next turn (140 + 50 tokens) reuses all 4.
    let s = run(&scenario("[llm.prefix_cache]\nblock_tokens = 32"), vec![turn(0, 0, 9, 100, 40), turn(1, 1, 9, 50, 2)]);
    let c = s.sessions.unwrap();
    assert!((c.by_turn[1].cached_share - 128.0 / 190.0).abs() < 1e-12, "{:?}", c.by_turn[1]);
}

#[test]
fn no_turn_is_sent_before_its_answer_plus_the_think_time() {
    // A generated workload dealt into conversations of 1–8 turns (uniform), on one busy replica.
    let mut c = scenario("[llm.prefix_cache]\nblock_tokens = 32");
    c.workload = Some(
        toml::from_str(
            r#"
            arrivals = { kind = "poisson", rate = 20.0 }
            input_size = { kind = "log_normal", mean = 200.0, cv = 0.5 }
            output_tokens = { kind = "log_normal", mean = 40.0, cv = 0.5 }
            sessions = { turns = { kind = "empirical", values = [1, 2, 3, 4, 5, 6, 7, 8] } }
            "#,
        )
        .unwrap(),
    );
    let reqs: Vec<Request> = c.workload.as_ref().unwrap().generator(3, 400).unwrap().collect();
    let sessions: std::collections::BTreeSet<u64> = reqs.iter().map(|r| r.session.unwrap()).collect();
    let (s, recs) = sim::llm::run_recorded(c.resolve_llm().unwrap(), &mut reqs.clone().into_iter(), 1).unwrap();
    assert_eq!(s.requests.completed, 400, "every turn of every conversation is sent and answered");
    let st = s.sessions.as_ref().unwrap();
    assert_eq!((st.sessions, st.completed), (sessions.len() as u64, sessions.len() as u64));
    for sid in sessions {
        let ids: Vec<u64> = reqs.iter().filter(|r| r.session == Some(sid)).map(|r| r.id).collect();
        let rec = |id: u64| recs.iter().find(|r| r.id == id).unwrap();
        for w in ids.windows(2) {
            let (a, b) = (rec(w[0]), rec(w[1]));
            assert_eq!(b.arrival.as_nanos(), a.finish.unwrap().as_nanos() + 1_000_000_000, "session {sid}");
            assert!(b.prompt > a.prompt + a.output, "the context grows");
        }
    }
    // Deeper turns carry longer prompts and find more of them cached.
    let t = &st.by_turn;
    assert!(t[3].mean_prompt_tokens > t[0].mean_prompt_tokens * 2.0);
    assert!(t[3].cached_share > 0.5 && t[0].cached_share < 0.1, "{:?} vs {:?}", t[3], t[0]);
}

#[test]
fn a_refused_turn_ends_its_conversation() {
    // max_model_len 300: the third turn (100 + 3 + 150 + 2 + 100 = 355 tokens) is refused and
    // the fourth never sent.
    let mut reqs = vec![turn(0, 0, 1, 100, 3), turn(1, 1, 1, 150, 2), turn(2, 2, 1, 100, 1), turn(3, 3, 1, 10, 1)];
    reqs.push(turn(4, 4, 2, 10, 1));
    let s = run(&scenario("max_model_len = 300"), reqs);
    assert_eq!((s.requests.arrived, s.requests.completed, s.requests.rejected), (4, 3, 1));
    let c = s.sessions.unwrap();
    assert_eq!((c.sessions, c.completed, c.abandoned), (2, 1, 1));
}

#[test]
fn a_think_time_must_be_a_distribution() {
    let text = r#"
        name = "s"
        [llm]
        model = "llama-2-7b"
        [llm.sessions]
        think = { kind = "affine", a_ms = 1.0, b_ms = 1.0 }
        [[llm.pools]]
        name = "g"
        kind = "a100"
    "#;
    assert!(ScenarioConfig::parse(text).unwrap_err().to_string().contains("llm.sessions.think"));
}
