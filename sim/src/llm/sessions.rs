//! Multi-turn conversations replayed closed-loop (`[llm.sessions]`).
//!
//! A conversation's next turn is sent when the user has read the previous answer and thought:
//! its arrival is the previous turn's last token (plus the front end's latency) plus a think
//! time, and its prompt is the conversation so far — every earlier prompt and answer — plus the
//! new message. A trace that records turns at the times the original system answered them cannot
//! be replayed open-loop on another system: on a slower one the next turn would arrive before
//! the simulated answer exists (load the real users could not create), on a faster one after
//! users would have sent it; and the prompt must grow with what the simulated system answered.
//! So only a session's first turn keeps its recorded arrival.
//!
//! Requests carry their conversation in [`traces::Request::session`]; a trace's `session`
//! column, or `[workload.sessions]`, which deals consecutive generated requests into sessions.
//! A turn's recorded `input_size` is the new message (`context = "new"`, the default: the
//! engine prepends the history) or the whole prompt as the trace recorded it (`"cumulative"`).
//! With prefix caching, block j of a conversation has the same id in every turn (the first
//! turn's recorded block ids where it has them), and the ids run on over the answer, whose full
//! blocks the engine caches when the turn finishes, so a later turn can find its whole history
//! cached.
//!
//! With sessions on, the engine reads the whole request stream before it starts: a
//! conversation's next turn may be due (its answer came back early) before a streamed trace
//! would reach the row that holds it. Memory then grows with the requests, as with `--records`.

use crate::check::ConfigError;
use crate::metrics::{Distribution, LatencyStats};
use crate::service::{ServiceSampler, ServiceSpec};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use traces::rng::StreamRng;
use traces::{Request, SimTime};

/// The `[llm.sessions]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Think time between an answer and the next turn (a distribution in ms, as service times:
    /// `{ kind = "exponential", mean_ms = 10000.0 }`).
    pub think: ServiceSpec,
    /// What a turn's recorded `input_size` is (default `new`).
    #[serde(default)]
    pub context: ContextMode,
}

/// What a turn's `input_size` holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextMode {
    /// The new message only: the prompt is the conversation so far plus it.
    #[default]
    New,
    /// The whole prompt, history included, as recorded.
    Cumulative,
}

impl SessionSpec {
    /// Checks the think time; errors name `llm.sessions.think`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.think.is_batch_model() {
            return Err(ConfigError::invalid(
                "llm.sessions.think",
                "a think time is a distribution (exponential, deterministic, log_normal or empirical)",
            ));
        }
        self.think.validate("llm.sessions.think")
    }
}

/// Turn statistics are kept for turns 1..=`TURN_BUCKETS`; later turns count in the last.
pub const TURN_BUCKETS: usize = 16;

/// The id of block `j` of conversation `session` when the trace gives none: distinct from
/// Mooncake's small ids and the generator's (top bit), stable across turns.
/// Id of block `j` of a sequence's own content (arrival `serial`): a preempted sequence's blocks
/// beyond what the trace identified (distinct from every conversation's ids: bit 63 set).
pub(crate) fn own_block_id(serial: u64, j: u64) -> u64 {
    block_id(serial, j) | (1 << 63)
}

fn block_id(session: u64, j: u64) -> u64 {
    let mut z = session.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ j.wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (1 << 62) | ((z ^ (z >> 31)) & ((1 << 62) - 1))
}

struct Conversation {
    /// Turns still to send, in order.
    turns: VecDeque<Request>,
    /// Tokens of the conversation so far (prompts with their history, and answers).
    history: u64,
    /// Turns sent so far.
    sent: u32,
    /// The first turn's recorded block ids.
    lead: Box<[u64]>,
}

/// Results by turn number.
#[derive(Default)]
struct TurnBucket {
    completed: u64,
    prompt_tokens: u64,
    cached_tokens: u64,
    ttft: LatencyStats,
}

/// The conversations of a run.
pub(crate) struct Sessions {
    spec: SessionSpec,
    think: ServiceSampler,
    rng: StreamRng,
    live: FxHashMap<u64, Conversation>,
    started: u64,
    completed: u64,
    abandoned: u64,
    think_s: f64,
    thinks: u64,
    by_turn: Vec<TurnBucket>,
}

/// Conversations over a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionStats {
    /// Conversations started.
    pub sessions: u64,
    /// Conversations whose every turn finished.
    pub completed: u64,
    /// Conversations ended early: a turn was refused or given up by its client (later turns are
    /// never sent).
    pub abandoned: u64,
    /// Mean think time drawn, s.
    pub mean_think_s: f64,
    /// Per turn number (the last bucket pools turns ≥ 16).
    pub by_turn: Vec<TurnStats>,
}

/// Completed requests of one turn number.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TurnStats {
    /// Turn number (1: a conversation's first).
    pub turn: u32,
    /// Turns of this number that finished.
    pub completed: u64,
    /// Mean prompt, history included, tokens.
    pub mean_prompt_tokens: f64,
    /// Share of those prompt tokens found in the prefix cache at first admission.
    pub cached_share: f64,
    /// TTFT, ms.
    pub ttft_ms: Distribution,
}

impl Sessions {
    pub(crate) fn new(spec: SessionSpec, rng: StreamRng) -> Sessions {
        Sessions {
            think: spec.think.sampler(),
            spec,
            rng,
            live: FxHashMap::default(),
            started: 0,
            completed: 0,
            abandoned: 0,
            think_s: 0.0,
            thinks: 0,
            by_turn: Vec::new(),
        }
    }

    /// Keeps every later turn of a conversation and returns what arrives open-loop: first turns
    /// and requests without a session, in arrival order.
    pub(crate) fn split(&mut self, all: impl Iterator<Item = Request>) -> Vec<Request> {
        let mut open = Vec::new();
        for r in all {
            match r.session {
                Some(s) => match self.live.get_mut(&s) {
                    Some(c) => c.turns.push_back(r),
                    None => {
                        self.live.insert(
                            s,
                            Conversation {
                                turns: VecDeque::new(),
                                history: 0,
                                sent: 0,
                                lead: r.prefix_blocks.clone().unwrap_or_default(),
                            },
                        );
                        self.started += 1;
                        open.push(r);
                    }
                },
                None => open.push(r),
            }
        }
        open
    }

    /// Shapes a turn as it is sent: its prompt (the history before the new message) and its
    /// block ids (`block_tokens` per id, when prefix caching is on). Returns its turn number, and
    /// whether its block ids run on over its answer (the conversation's own ids).
    pub(crate) fn shape(&mut self, r: &mut Request, block_tokens: Option<u64>) -> (u32, bool) {
        let Some(c) = r.session.and_then(|s| self.live.get_mut(&s)) else { return (1, false) };
        c.sent += 1;
        let recorded = r.prefix_blocks.take();
        if self.spec.context == ContextMode::New {
            r.input_size += c.history;
        }
        let mut answer_ids = false;
        if let Some(bt) = block_tokens {
            r.prefix_blocks = match (self.spec.context, recorded) {
                (ContextMode::Cumulative, Some(b)) => Some(b),
                _ => {
                    answer_ids = true;
                    let s = r.session.expect("a session");
                    // Ids for the answer's blocks too: the next turn starts with them.
                    let n = (r.input_size.max(1) + r.output_tokens).div_ceil(bt);
                    Some((0..n).map(|j| c.lead.get(j as usize).copied().unwrap_or_else(|| block_id(s, j))).collect())
                }
            };
        }
        (c.sent, answer_ids)
    }

    /// A turn of `session` with prompt `prompt` and answer `output` finished at `answered` (the
    /// client's time): its next turn and when it arrives, if there is one.
    pub(crate) fn answered(&mut self, session: u64, prompt: u64, output: u64, answered: SimTime) -> Option<Request> {
        let c = self.live.get_mut(&session)?;
        c.history = prompt + output;
        match c.turns.pop_front() {
            Some(mut next) => {
                let think = self.think.sample(&mut self.rng, 1);
                self.think_s += think.as_secs_f64();
                self.thinks += 1;
                next.arrival = answered.saturating_add(think);
                Some(next)
            }
            None => {
                self.live.remove(&session);
                self.completed += 1;
                None
            }
        }
    }

    /// A turn of `session` was refused or given up: the conversation ends.
    pub(crate) fn abandon(&mut self, session: u64) {
        if self.live.remove(&session).is_some() {
            self.abandoned += 1;
        }
    }

    /// Records a finished turn.
    pub(crate) fn record(&mut self, turn: u32, prompt: u64, cached: u64, ttft: SimTime) {
        let i = (turn.max(1) as usize).min(TURN_BUCKETS) - 1;
        if self.by_turn.len() <= i {
            self.by_turn.resize_with(i + 1, TurnBucket::default);
        }
        let b = &mut self.by_turn[i];
        b.completed += 1;
        b.prompt_tokens += prompt;
        b.cached_tokens += cached;
        b.ttft.record(ttft);
    }

    pub(crate) fn stats(&self) -> SessionStats {
        SessionStats {
            sessions: self.started,
            completed: self.completed,
            abandoned: self.abandoned,
            mean_think_s: if self.thinks > 0 { self.think_s / self.thinks as f64 } else { 0.0 },
            by_turn: self
                .by_turn
                .iter()
                .enumerate()
                .map(|(i, b)| TurnStats {
                    turn: i as u32 + 1,
                    completed: b.completed,
                    mean_prompt_tokens: if b.completed > 0 { b.prompt_tokens as f64 / b.completed as f64 } else { 0.0 },
                    cached_share: if b.prompt_tokens > 0 {
                        b.cached_tokens as f64 / b.prompt_tokens as f64
                    } else {
                        0.0
                    },
                    ttft_ms: b.ttft.summary_ms(),
                })
                .collect(),
        }
    }
}
