//! The token-level engine: one event per iteration end (and per KV transfer), arrivals merged
//! from the request stream. Each replica plans an iteration when it is idle and something can
//! run; the iteration's effects (tokens, first tokens, completions) apply when it ends.

use super::kv::{KvPool, TierCache};
use super::perf::Work;
use super::summary::*;
use super::{ClassScheduling, LlmRouterSpec, LlmScenario, LlmSpec, Preemption, ResolvedLlm, Role, SchedulerSpec};
use crate::calendar::Calendar;
use crate::check::SimError;
use crate::energy::{EnergyMeter, EnergySpec};
use crate::metrics::{LatencyStats, TimeIntegral};
use crate::policy::router::{DeviceView, Router};
use lru::LruCache;
use rand::RngExt;
use rustc_hash::FxBuildHasher;
use std::collections::VecDeque;
use traces::rng::{StreamRng, stream};
use traces::{Request, SimTime};

/// Runs the LLM scenario `scenario` over `requests` (sorted by arrival) with `seed`.
pub fn run(
    scenario: LlmScenario,
    requests: &mut dyn Iterator<Item = Request>,
    seed: u64,
) -> Result<LlmSummary, SimError> {
    let mut engine = Engine::new(&scenario.name, scenario.llm, seed);
    engine.energy = scenario.energy;
    engine.set_classes(&scenario.classes);
    engine.init_pools();
    engine.run(requests)?;
    Ok(engine.finish().0)
}

/// One request of an LLM run (`run_recorded`), times in ns since the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmRecord {
    /// Request id from the trace.
    pub id: u64,
    /// Arrival.
    pub arrival: SimTime,
    /// First admission (None if rejected).
    pub admitted: Option<SimTime>,
    /// First token (None if rejected).
    pub first_token: Option<SimTime>,
    /// Last token (None if rejected).
    pub finish: Option<SimTime>,
    /// Prompt tokens.
    pub prompt: u64,
    /// Output tokens (a trace's 0 counts as 1).
    pub output: u64,
    /// Replica index it was routed to.
    pub replica: usize,
    /// Times it was preempted.
    pub preemptions: u32,
    /// Prompt tokens served from the prefix cache at first admission (GPU and tiers).
    pub cached_tokens: u64,
    /// Refused at arrival (could never fit a replica's KV memory).
    pub rejected: bool,
    /// Given up by the client (`client_timeout_s`) before its last token (`finish` is None).
    pub timed_out: bool,
    /// Its LoRA adapter (with `[llm.lora]`).
    pub adapter: Option<u32>,
}

/// Like [`run`], also returning one [`LlmRecord`] per request in completion order (memory grows
/// with the run).
pub fn run_recorded(
    scenario: LlmScenario,
    requests: &mut dyn Iterator<Item = Request>,
    seed: u64,
) -> Result<(LlmSummary, Vec<LlmRecord>), SimError> {
    let mut engine = Engine::new(&scenario.name, scenario.llm, seed);
    engine.energy = scenario.energy;
    engine.set_classes(&scenario.classes);
    engine.init_pools();
    engine.records = Some(Vec::new());
    engine.run(requests)?;
    let (summary, records) = engine.finish();
    Ok((summary, records.unwrap_or_default()))
}

/// A slot in the sequence table.
type SeqId = usize;

struct Seq {
    id: u64,
    /// Arrival number: tells a sequence from a later one in the same slot.
    serial: u64,
    /// The client gave up while an iteration or transfer held it: dropped when that ends.
    aborted: bool,
    preemptions: u32,
    first_cached: u64,
    arrival: SimTime,
    prompt: u64,
    output: u64,
    blocks: Box<[u64]>,
    generated: u64,
    /// Tokens to prefill before the next token: the prompt, plus generated tokens after a
    /// recompute preemption.
    prefill_target: u64,
    prefilled: u64,
    /// Tokens whose KV is resident (cached prefix included).
    kv_tokens: u64,
    /// Leading tokens covered by shared prefix blocks this sequence references.
    cached_tokens: u64,
    /// Leading prefix blocks referenced.
    held: usize,
    own_pages: u64,
    admitted: Option<SimTime>,
    first_token: Option<SimTime>,
    last_token: SimTime,
    /// Replica it is on (or heading to).
    replica: usize,
    /// Replica it entered by (its request overhead applies).
    entry: usize,
    /// Its request class (index into the scenario's classes; 0 without classes).
    class: u16,
    /// Its conversation and turn number (closed-loop sessions).
    session: Option<u64>,
    turn: u32,
    /// Its block ids cover its answer too (a conversation's): full answer blocks are cached.
    answer_ids: bool,
    /// Its LoRA adapter (with `[llm.lora]`).
    adapter: Option<u32>,
}

impl Seq {
    fn prefill_done(&self) -> bool {
        self.prefilled >= self.prefill_target
    }

    /// Its record: finished at `finish`, or given up by its client (None).
    fn record(&self, finish: Option<SimTime>) -> LlmRecord {
        LlmRecord {
            id: self.id,
            arrival: self.arrival,
            admitted: self.admitted,
            first_token: self.first_token,
            finish,
            prompt: self.prompt,
            output: self.output,
            replica: self.replica,
            preemptions: self.preemptions,
            cached_tokens: self.first_cached,
            rejected: false,
            timed_out: finish.is_none(),
            adapter: self.adapter,
        }
    }
}

/// An iteration in flight.
#[derive(Default)]
struct Plan {
    /// (sequence, prompt tokens computed).
    prefill: Vec<(SeqId, u64)>,
    /// Sequences producing one token (or verifying speculative ones).
    decode: Vec<SeqId>,
    /// Speculative tokens each of `decode` verifies (parallel to it; empty without speculation).
    spec: Vec<u32>,
}

struct StaticBatch {
    seqs: Vec<SeqId>,
    prompt: u64,
    steps: u64,
    step: u64,
}

struct Replica {
    role: Role,
    kv: KvPool,
    waiting: VecDeque<SeqId>,
    /// Preempted by swap, to resume first.
    swapped: VecDeque<SeqId>,
    /// KV arrived from a prefill replica, to resume before anything else.
    incoming: VecDeque<SeqId>,
    /// Admitted, in admission order (preemption takes the last).
    running: Vec<SeqId>,
    plan: Option<Plan>,
    batch: Option<StaticBatch>,
    iterations: u64,
    busy_ns: u64,
    peak_pages: u64,
    routed: u64,
    /// Prompt tokens waiting (for the KV-aware router).
    waiting_tokens: u64,
    /// Start of the iteration in flight (async scheduling plans the next one from there).
    started: Option<SimTime>,
    /// Power of its devices idle and in an iteration, W (none: no power model).
    power: Option<(f64, f64)>,
    meter: EnergyMeter,
    /// LoRA adapters resident in its memory, most recently used first.
    adapters: LruCache<u32, (), FxBuildHasher>,
}

impl Replica {
    fn load(&self) -> usize {
        self.waiting.len() + self.swapped.len() + self.incoming.len() + self.running.len()
    }
}

enum Event {
    IterationEnd(usize),
    TransferEnd(SeqId),
    /// The client's time-out for (slot, serial).
    Timeout(SeqId, u64),
    /// An autoscaled pool's periodic decision.
    Autoscale(usize),
    /// A replica's cold start ended (replica, start epoch).
    ReplicaReady(usize, u32),
    /// The next turn of a conversation arrives.
    Turn(Box<Request>),
}

mod scale;

struct Engine {
    name: String,
    seed: u64,
    r: ResolvedLlm,
    cal: Calendar<Event>,
    seqs: Vec<Option<Seq>>,
    free_slots: Vec<SeqId>,
    replicas: Vec<Replica>,
    entry: Vec<usize>,
    decoders: Vec<usize>,
    shared_router: Option<Box<dyn Router>>,
    route_rng: StreamRng,
    views: Vec<DeviceView>,
    // Metrics.
    counts: LlmCounts,
    tokens: TokenCounts,
    ttft: LatencyStats,
    tpot: LatencyStats,
    itl: LatencyStats,
    e2e: LatencyStats,
    queue: LatencyStats,
    good: u64,
    kv_used: TimeIntegral,
    preemptions: u64,
    swap_bytes: f64,
    transfer_bytes: f64,
    lookups: u64,
    hits: u64,
    iter_seqs: u64,
    iter_tokens: u64,
    prefill_only: u64,
    timeline: Timeline,
    next_sample: SimTime,
    sample_every: SimTime,
    in_transfer: u64,
    last_arrival: SimTime,
    records: Option<Vec<LlmRecord>>,
    /// Seconds of CPU-tier KV loads of the iteration being planned.
    load_s: f64,
    /// Arrivals so far (the next sequence's serial).
    serial: u64,
    /// The last iteration or transfer end, or time-out that removed a request: the run's end
    /// (the time-outs of requests that finished long before do not stretch it).
    last_work: SimTime,
    /// PUE and carbon intensity.
    energy: EnergySpec,
    /// Per request class: its order, counter and results (empty without classes).
    classes: Vec<ClassState>,
    /// Per replica: whether arrivals may be routed to it (an autoscaled replica that is ready).
    routable: Vec<bool>,
    /// The entry replicas arrivals may be routed to now, in entry order (kept with `routable`).
    routable_entry: Vec<usize>,
    /// Per pool: its autoscaler side, if it autoscales.
    pools: Vec<Option<scale::LlmPool>>,
    /// The request source is exhausted.
    arrivals_done: bool,
    /// Speculative decoding: tokens proposed per step and their acceptance by position.
    spec_k: u32,
    spec_alphas: Vec<f64>,
    spec_rng: StreamRng,
    spec: SpecCounts,
    /// KV tiers below the GPU, in order (a shared one last).
    tiers: Vec<TierInfo>,
    /// The tier shared by every replica, if any (its index is the last of `tiers`).
    shared_tier: Option<TierCache>,
    /// Prefix blocks found in GPU memory at first admission, and the prefill time they saved.
    gpu_hits: u64,
    gpu_saved_s: f64,
    /// Seconds of tier loads hidden behind the compute of the iteration being planned.
    overlap_s: f64,
    /// Per replica: time to prefill one prefix block alone (what a hit saves), s.
    block_prefill_s: Vec<f64>,
    /// Closed-loop conversations, and their next turns on the calendar.
    sessions: Option<super::sessions::Sessions>,
    turns_in_flight: u64,
    /// LoRA adapters: the spec, the draw of a request's adapter, and what happened.
    lora: Option<LoraState>,
}

/// LoRA serving state and counts.
struct LoraState {
    spec: super::LoraSpec,
    keys: traces::workload::KeySampler,
    rng: StreamRng,
    /// Seconds of one adapter load.
    load_each_s: f64,
    seen: rustc_hash::FxHashSet<u32>,
    /// The adapter each conversation drew.
    by_session: rustc_hash::FxHashMap<u64, u32>,
    admissions: u64,
    resident_hits: u64,
    loads: u64,
    evictions: u64,
    passed_over: u64,
    iteration_adapters: u64,
}

/// One KV tier and what it did.
struct TierInfo {
    name: String,
    shared: bool,
    overlap: bool,
    capacity_blocks: u64,
    /// Seconds to load one block, and the fixed cost of a load.
    block_load_s: f64,
    latency_s: f64,
    block_bytes: f64,
    hits: u64,
    blocks_loaded: u64,
    bytes_written: f64,
    saved_s: f64,
}

/// Speculative decoding so far.
#[derive(Default)]
struct SpecCounts {
    steps: u64,
    proposed: u64,
    accepted: u64,
    draft_s: f64,
}

/// A request class in the LLM engine.
struct ClassState {
    name: String,
    priority: u32,
    weight: f64,
    /// Service received / weight (`fair`'s virtual token counter).
    counter: f64,
    /// Sequences waiting or running.
    active: u64,
    arrived: u64,
    completed: u64,
    good: u64,
    output_tokens: u64,
    ttft: LatencyStats,
    e2e: LatencyStats,
}

fn pages(tokens: u64, bs: u64) -> u64 {
    tokens.div_ceil(bs)
}

impl Engine {
    fn new(name: &str, r: ResolvedLlm, seed: u64) -> Engine {
        let bs = u64::from(r.spec.block_size);
        let block_pages = r.spec.prefix_cache.as_ref().map_or(1, |c| u64::from(c.block_tokens) / bs);
        let block_bytes =
            r.spec.prefix_cache.as_ref().map_or(0.0, |c| f64::from(c.block_tokens) * r.kv_bytes_per_token);
        let tiers: Vec<TierInfo> = r
            .spec
            .tiers()
            .iter()
            .map(|t| TierInfo {
                name: t.name.clone(),
                shared: t.shared,
                overlap: t.overlap,
                capacity_blocks: (t.capacity_gb * 1e9 / block_bytes).floor() as u64,
                block_load_s: block_bytes / (t.bandwidth_gb_s * 1e9),
                latency_s: t.latency_us / 1e6,
                block_bytes,
                hits: 0,
                blocks_loaded: 0,
                bytes_written: 0.0,
                saved_s: 0.0,
            })
            .collect();
        let specs = r.spec.tiers();
        let shared_tier =
            specs.iter().zip(&tiers).find(|(t, _)| t.shared).map(|(t, i)| TierCache::new(i.capacity_blocks, t.policy));
        let local = || -> Vec<TierCache> {
            specs
                .iter()
                .zip(&tiers)
                .filter(|(t, _)| !t.shared)
                .map(|(t, i)| TierCache::new(i.capacity_blocks, t.policy))
                .collect()
        };
        let pbt = r.spec.prefix_cache.as_ref().map_or(0, |c| u64::from(c.block_tokens));
        let block_prefill_s = r
            .replicas
            .iter()
            .map(|x| {
                let p = pbt as f64;
                x.perf.iteration_s(&Work {
                    prefill_tokens: pbt,
                    attention_flops: r.shape.attention_flops(p * (p - 1.0) / 2.0),
                    seqs: 1,
                    ..Work::default()
                })
            })
            .collect();
        let replicas: Vec<Replica> = r
            .replicas
            .iter()
            .map(|x| Replica {
                role: x.role,
                kv: KvPool::new(x.kv_pages, block_pages).with_tiers(local(), shared_tier.is_some()),
                waiting: VecDeque::new(),
                swapped: VecDeque::new(),
                incoming: VecDeque::new(),
                running: Vec::new(),
                plan: None,
                batch: None,
                iterations: 0,
                busy_ns: 0,
                peak_pages: 0,
                routed: 0,
                waiting_tokens: 0,
                started: None,
                power: x.kind.power.as_ref().map(|p| {
                    let tp = f64::from(r.spec.tensor_parallel);
                    (tp * p.idle_w, tp * p.max_w)
                }),
                meter: EnergyMeter::default(),
                adapters: LruCache::unbounded_with_hasher(FxBuildHasher),
            })
            .collect();
        let mut replicas = replicas;
        for x in &mut replicas {
            if let Some((idle, _)) = x.power {
                x.meter.set(SimTime::ZERO, idle, &EnergySpec::default());
            }
        }
        let entry = (0..replicas.len()).filter(|&i| replicas[i].role != Role::Decode).collect();
        let decoders = (0..replicas.len()).filter(|&i| replicas[i].role == Role::Decode).collect();
        let shared_router = r.spec.router.shared().map(|s| s.build(stream(seed, "llm/router")));
        let sample_every = SimTime::from_secs_f64(r.spec.timeline_interval_s).unwrap_or(SimTime::MAX);
        Engine {
            name: name.to_string(),
            seed,
            cal: Calendar::new(),
            seqs: Vec::new(),
            free_slots: Vec::new(),
            views: Vec::new(),
            replicas,
            entry,
            decoders,
            shared_router,
            route_rng: stream(seed, "llm/router-ties"),
            counts: LlmCounts::default(),
            tokens: TokenCounts::default(),
            ttft: LatencyStats::default(),
            tpot: LatencyStats::default(),
            itl: LatencyStats::default(),
            e2e: LatencyStats::default(),
            queue: LatencyStats::default(),
            good: 0,
            kv_used: TimeIntegral::default(),
            preemptions: 0,
            swap_bytes: 0.0,
            transfer_bytes: 0.0,
            lookups: 0,
            hits: 0,
            iter_seqs: 0,
            iter_tokens: 0,
            prefill_only: 0,
            timeline: Timeline { interval_s: r.spec.timeline_interval_s, ..Timeline::default() },
            next_sample: SimTime::ZERO,
            sample_every,
            in_transfer: 0,
            last_arrival: SimTime::ZERO,
            records: None,
            load_s: 0.0,
            serial: 0,
            last_work: SimTime::ZERO,
            energy: EnergySpec::default(),
            classes: Vec::new(),
            routable: vec![true; r.replicas.len()],
            routable_entry: Vec::new(),
            pools: Vec::new(),
            arrivals_done: false,
            spec_k: r.spec.speculative.as_ref().map_or(0, |x| x.k),
            spec_alphas: r.spec.speculative.as_ref().map_or_else(Vec::new, |x| x.alphas()),
            spec_rng: stream(seed, "llm/speculative"),
            spec: SpecCounts::default(),
            tiers,
            shared_tier,
            gpu_hits: 0,
            gpu_saved_s: 0.0,
            overlap_s: 0.0,
            block_prefill_s,
            sessions: r.spec.sessions.clone().map(|s| super::sessions::Sessions::new(s, stream(seed, "llm/sessions"))),
            lora: r.spec.lora.clone().map(|l| LoraState {
                keys: traces::workload::KeySpec { universe: u64::from(l.adapters), zipf_s: l.zipf_s }
                    .sampler()
                    .expect("checked by the scenario"),
                rng: stream(seed, "llm/lora"),
                load_each_s: l.latency_us / 1e6
                    + l.params(&r.shape) * r.spec.weights.bytes().max(2.0) / (l.load_gb_s * 1e9),
                seen: rustc_hash::FxHashSet::default(),
                by_session: rustc_hash::FxHashMap::default(),
                admissions: 0,
                resident_hits: 0,
                loads: 0,
                evictions: 0,
                passed_over: 0,
                iteration_adapters: 0,
                spec: l,
            }),
            turns_in_flight: 0,
            r,
        }
    }

    fn set_classes(&mut self, classes: &[crate::config::ClassSpec]) {
        self.classes = classes
            .iter()
            .map(|c| ClassState {
                name: c.name.clone(),
                priority: c.priority,
                weight: c.weight,
                counter: 0.0,
                active: 0,
                arrived: 0,
                completed: 0,
                good: 0,
                output_tokens: 0,
                ttft: LatencyStats::default(),
                e2e: LatencyStats::default(),
            })
            .collect();
    }

    /// A request of class `k` arrives (a class beyond the scenario's counts as the last): its
    /// class index. Under `fair`, a class with nothing waiting or running restarts at the
    /// smallest counter of the active ones.
    fn class_arrives(&mut self, k: u16) -> u16 {
        if self.classes.is_empty() {
            return 0;
        }
        let k = usize::from(k).min(self.classes.len() - 1);
        if self.classes[k].active == 0 {
            let floor = self.classes.iter().filter(|c| c.active > 0).map(|c| c.counter).fold(f64::INFINITY, f64::min);
            if floor.is_finite() {
                self.classes[k].counter = self.classes[k].counter.max(floor);
            }
        }
        self.classes[k].active += 1;
        self.classes[k].arrived += 1;
        k as u16
    }

    /// A sequence of class `k` left (finished, timed out).
    fn class_leaves(&mut self, k: u16) {
        if let Some(c) = self.classes.get_mut(usize::from(k)) {
            c.active -= 1;
        }
    }

    /// The rank of class `k` for admission (lower first) under the scheduling policy.
    fn admit_rank(&self, k: u16) -> f64 {
        match (&self.r.spec.scheduling, self.classes.get(usize::from(k))) {
            (ClassScheduling::Priority, Some(c)) => -f64::from(c.priority),
            (ClassScheduling::Fair { .. }, Some(c)) => c.counter,
            _ => 0.0,
        }
    }

    /// Index in `r`'s waiting queue of the sequence to admit next: the front under `fcfs`,
    /// else the first of the best-ranked class waiting.
    /// With LoRA, only a sequence whose adapter fits the batch (already running, or fewer than
    /// `max_per_batch` distinct adapters running) counts.
    fn next_waiting(&self, r: usize) -> Option<usize> {
        let w = &self.replicas[r].waiting;
        if w.is_empty() {
            return None;
        }
        let running = self.running_adapters(r);
        let fits = |id: SeqId| self.adapter_fits(&running, id);
        if self.r.spec.scheduling.is_fcfs() || self.classes.is_empty() {
            return if self.lora.is_some() { w.iter().position(|&id| fits(id)) } else { Some(0) };
        }
        let mut best: Option<(f64, usize)> = None;
        for (i, &id) in w.iter().enumerate() {
            if !fits(id) {
                continue;
            }
            let rank = self.admit_rank(self.seq(id).class);
            if best.is_none_or(|(b, _)| rank < b) {
                best = Some((rank, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// Whether sequence `id` may join a batch whose running sequences use the adapters `running`:
    /// it has none, its adapter runs already, or fewer than `max_per_batch` do.
    fn adapter_fits(&self, running: &[u32], id: SeqId) -> bool {
        let max = self.lora.as_ref().map_or(usize::MAX, |l| l.spec.max_per_batch as usize);
        self.seq(id).adapter.is_none_or(|a| running.contains(&a) || running.len() < max)
    }

    /// The distinct adapters of `r`'s running sequences (empty without LoRA).
    fn running_adapters(&self, r: usize) -> Vec<u32> {
        let mut v = Vec::new();
        if self.lora.is_some() {
            for &id in &self.replicas[r].running {
                if let Some(a) = self.seq(id).adapter
                    && !v.contains(&a)
                {
                    v.push(a);
                }
            }
        }
        v
    }

    /// Sequence `id` joins `r`'s running set: its adapter is made resident, loaded (stalling the
    /// iteration) if it was not, evicting the least recently used one no running sequence uses.
    fn lora_admit(&mut self, r: usize, id: SeqId) {
        let Some(a) = self.seq(id).adapter else { return };
        let running = self.running_adapters(r);
        let Some(l) = self.lora.as_mut() else { return };
        l.admissions += 1;
        let resident = &mut self.replicas[r].adapters;
        if resident.get(&a).is_some() {
            l.resident_hits += 1;
            return;
        }
        if resident.len() >= l.spec.slots() as usize {
            let victim = resident.iter().rev().map(|(&k, ())| k).find(|k| !running.contains(k));
            let victim = victim.expect("fewer running adapters than slots");
            resident.pop(&victim);
            l.evictions += 1;
        }
        resident.put(a, ());
        l.loads += 1;
        self.load_s += l.load_each_s;
    }

    /// Index in `r`'s running list of the sequence to preempt: the last admitted under `fcfs`,
    /// else the latest arrival of the worst-ranked class.
    fn victim(&self, r: usize) -> usize {
        let run = &self.replicas[r].running;
        let last = run.len() - 1;
        if self.r.spec.scheduling.is_fcfs() || self.classes.is_empty() {
            return last;
        }
        (0..run.len())
            .max_by(|&a, &b| {
                let (x, y) = (self.seq(run[a]), self.seq(run[b]));
                self.admit_rank(x.class).total_cmp(&self.admit_rank(y.class)).then(x.arrival.cmp(&y.arrival))
            })
            .unwrap_or(last)
    }

    /// `fair`: charges the classes of an iteration's work to their counters.
    fn charge(&mut self, plan: &Plan) {
        let ClassScheduling::Fair { prompt_weight, output_weight } = self.r.spec.scheduling else {
            return;
        };
        if self.classes.is_empty() {
            return;
        }
        for &(id, chunk) in &plan.prefill {
            let c = &mut self.classes[usize::from(self.seqs[id].as_ref().expect("live").class)];
            c.counter += chunk as f64 * prompt_weight / c.weight;
        }
        for &id in &plan.decode {
            let c = &mut self.classes[usize::from(self.seqs[id].as_ref().expect("live").class)];
            c.counter += output_weight / c.weight;
        }
    }

    fn spec(&self) -> &LlmSpec {
        &self.r.spec
    }

    fn bs(&self) -> u64 {
        u64::from(self.r.spec.block_size)
    }

    /// Tokens per prefix-cache block (0 without prefix caching).
    fn pbt(&self) -> u64 {
        self.r.spec.prefix_cache.as_ref().map_or(0, |c| u64::from(c.block_tokens))
    }

    fn seq(&self, id: SeqId) -> &Seq {
        self.seqs[id].as_ref().expect("live sequence")
    }

    fn seq_mut(&mut self, id: SeqId) -> &mut Seq {
        self.seqs[id].as_mut().expect("live sequence")
    }

    fn run(&mut self, requests: &mut dyn Iterator<Item = Request>) -> Result<(), SimError> {
        // Closed-loop conversations: only first turns arrive as recorded (the rest are held).
        let mut open;
        let requests: &mut dyn Iterator<Item = Request> = match self.sessions.as_mut() {
            Some(s) => {
                open = s.split(requests).into_iter();
                &mut open
            }
            None => requests,
        };
        let mut next = requests.next();
        loop {
            let arrival_first = match (&next, self.cal.peek_time()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // Iterations ending at the same instant finish first: their freed memory and
                // slots are there for the arrival.
                (Some(r), Some(t)) => r.arrival < t,
            };
            if arrival_first {
                let req = next.take().expect("checked");
                if req.arrival < self.last_arrival {
                    return Err(SimError::Unsorted { id: req.id, arrival: req.arrival, previous: self.last_arrival });
                }
                self.sample_until(req.arrival);
                self.cal.advance(req.arrival)?;
                self.last_arrival = req.arrival;
                self.arrive(req);
                next = requests.next();
                self.arrivals_done = next.is_none();
            } else {
                let (now, ev) = self.cal.pop().expect("checked");
                if let Event::Timeout(s, serial) = ev
                    && self.seqs[s].as_ref().is_none_or(|q| q.serial != serial || q.generated >= q.output)
                {
                    // The request finished long ago: nothing happens, the timeline stops here.
                    continue;
                }
                self.sample_until(now);
                match ev {
                    Event::IterationEnd(r) => {
                        self.last_work = now;
                        self.iteration_end(r, now);
                    }
                    Event::TransferEnd(s) => {
                        self.last_work = now;
                        self.transfer_end(s, now);
                    }
                    Event::Timeout(s, _) => self.timeout(s, now),
                    Event::Autoscale(pi) => self.pool_tick(pi, now),
                    Event::ReplicaReady(m, epoch) => self.replica_event(m, epoch, now),
                    Event::Turn(req) => {
                        self.turns_in_flight -= 1;
                        self.last_arrival = now;
                        self.arrive(*req);
                    }
                }
            }
        }
        Ok(())
    }

    fn sample_until(&mut self, t: SimTime) {
        while self.next_sample <= t {
            let used: u64 = self.replicas.iter().map(|r| r.kv.used()).sum();
            let cap: u64 = self.replicas.iter().map(|r| r.kv.capacity()).sum();
            let running: usize = self.replicas.iter().map(|r| r.running.len()).sum();
            let waiting: usize =
                self.replicas.iter().map(|r| r.waiting.len() + r.swapped.len() + r.incoming.len()).sum();
            let tl = &mut self.timeline;
            tl.t_s.push(self.next_sample.as_secs_f64());
            tl.kv_utilization.push(used as f64 / cap as f64);
            tl.running.push(running as u64);
            tl.waiting.push(waiting as u64 + self.in_transfer);
            // Bounded memory: past 4,096 samples, keep every other one at twice the interval.
            if tl.t_s.len() >= 4096 {
                for v in [&mut tl.t_s, &mut tl.kv_utilization] {
                    *v = v.iter().copied().step_by(2).collect();
                }
                for v in [&mut tl.running, &mut tl.waiting] {
                    *v = v.iter().copied().step_by(2).collect();
                }
                tl.interval_s *= 2.0;
                self.sample_every = SimTime(self.sample_every.as_nanos().saturating_mul(2));
                self.next_sample =
                    SimTime::from_secs_f64(*tl.t_s.last().expect("kept samples")).unwrap_or(SimTime::MAX);
            }
            self.next_sample = SimTime(self.next_sample.as_nanos().saturating_add(self.sample_every.as_nanos()));
        }
    }

    fn note_kv(&mut self, r: usize, now: SimTime) {
        let used = self.replicas[r].kv.used();
        debug_assert!(used <= self.replicas[r].kv.capacity());
        self.replicas[r].peak_pages = self.replicas[r].peak_pages.max(used);
        let total: u64 = self.replicas.iter().map(|x| x.kv.used()).sum();
        self.kv_used.set(now, total);
    }

    fn route(&mut self, blocks: &[u64], adapter: Option<u32>) -> usize {
        // Replicas of an autoscaled pool that are not ready take no arrivals.
        let cands = if self.pools.iter().any(Option::is_some) { &self.routable_entry } else { &self.entry };
        if cands.len() == 1 {
            return cands[0];
        }
        if let Some(router) = self.shared_router.as_mut() {
            self.views.clear();
            for x in &self.replicas {
                self.views.push(DeviceView {
                    queue_len: x.waiting.len() + x.swapped.len() + x.incoming.len(),
                    in_service: x.running.len(),
                    servers: 1,
                    service_s: 1.0,
                    cost_per_s: 0.0,
                });
            }
            return router.route(cands, &self.views, self.cal.now());
        }
        let bs = u64::from(self.r.spec.block_size);
        match &self.r.spec.router {
            LlmRouterSpec::KvAware => {
                let key = |i: usize| {
                    let x = &self.replicas[i];
                    let free = x.kv.available() as i64 - pages(x.waiting_tokens, bs) as i64;
                    (free, std::cmp::Reverse(x.load()))
                };
                let best = cands.iter().map(|&i| key(i)).max().expect("candidates");
                let ties: Vec<usize> = cands.iter().copied().filter(|&i| key(i) == best).collect();
                ties[self.route_rng.random_range(0..ties.len())]
            }
            LlmRouterSpec::PrefixAware { slack } => {
                let min_load = cands.iter().map(|&i| self.replicas[i].load()).min().expect("candidates");
                // The prefill time the replica's cached prefix saves: a block in GPU memory its
                // whole prefill, a block in a tier its prefill less its load.
                let saving = |i: usize| {
                    let gpu = self.replicas[i].kv.peek_prefix(blocks);
                    let below = self.locate_tiers(i, &blocks[gpu..]);
                    let per_block = self.block_prefill_s[i];
                    gpu as f64 * per_block
                        + below.iter().map(|&t| (per_block - self.tiers[t].block_load_s).max(0.0)).sum::<f64>()
                };
                let eligible: Vec<usize> =
                    cands.iter().copied().filter(|&i| self.replicas[i].load() <= min_load + *slack as usize).collect();
                let keys: Vec<(f64, std::cmp::Reverse<usize>)> =
                    eligible.iter().map(|&i| (saving(i), std::cmp::Reverse(self.replicas[i].load()))).collect();
                let best = keys.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let best = best.expect("the least loaded is eligible");
                let ties: Vec<usize> =
                    eligible.iter().zip(&keys).filter(|(_, k)| **k == best).map(|(&i, _)| i).collect();
                ties[self.route_rng.random_range(0..ties.len())]
            }
            LlmRouterSpec::LoraAffinity { slack } => {
                let min_load = cands.iter().map(|&i| self.replicas[i].load()).min().expect("candidates");
                // The adapter resident, else a free slot (no eviction), then the least load.
                let slots = self.lora.as_ref().map_or(0, |l| l.spec.slots() as usize);
                let key = |i: usize| {
                    let x = &self.replicas[i];
                    let resident = adapter.is_some_and(|a| x.adapters.contains(&a));
                    (resident, x.adapters.len() < slots, std::cmp::Reverse(x.load()))
                };
                let eligible: Vec<usize> =
                    cands.iter().copied().filter(|&i| self.replicas[i].load() <= min_load + *slack as usize).collect();
                let best = eligible.iter().map(|&i| key(i)).max().expect("the least loaded is eligible");
                let ties: Vec<usize> = eligible.iter().copied().filter(|&i| key(i) == best).collect();
                ties[self.route_rng.random_range(0..ties.len())]
            }
            _ => unreachable!("shared routers handled above"),
        }
    }

    fn arrive(&mut self, mut req: Request) {
        let now = req.arrival;
        let pbt = self.r.spec.prefix_cache.as_ref().map(|c| u64::from(c.block_tokens));
        let (turn, answer_ids) = self.sessions.as_mut().map_or((1, false), |s| s.shape(&mut req, pbt));
        let session = if self.sessions.is_some() { req.session } else { None };
        let adapter = match self.lora.as_mut() {
            Some(l) => {
                // A conversation keeps the adapter its first turn drew.
                let a = match (req.adapter, session) {
                    (Some(a), Some(c)) => *l.by_session.entry(c).or_insert(a),
                    (Some(a), None) => a,
                    (None, Some(c)) => match l.by_session.get(&c) {
                        Some(&a) => a,
                        None => {
                            let a = l.keys.sample(&mut l.rng) as u32;
                            l.by_session.insert(c, a);
                            a
                        }
                    },
                    (None, None) => l.keys.sample(&mut l.rng) as u32,
                };
                l.seen.insert(a);
                Some(a)
            }
            None => None,
        };
        self.counts.arrived += 1;
        let output = if req.output_tokens == 0 {
            self.counts.zero_output_as_one += 1;
            1
        } else {
            req.output_tokens
        };
        let prompt = req.input_size.max(1);
        let blocks =
            if self.r.spec.prefix_cache.is_some() { req.prefix_blocks.unwrap_or_default() } else { Box::default() };
        let r = self.route(&blocks, adapter);
        self.replicas[r].routed += 1;
        self.pool_arrival(r);
        // A request that cannot fit a replica even alone would wait forever.
        let bs = self.bs();
        let need = if self.replicas[r].role == Role::Prefill {
            let dec_cap = self.decoders.iter().map(|&d| self.replicas[d].kv.capacity()).max().unwrap_or(0);
            if pages(prompt + output - 1, bs) > dec_cap { u64::MAX } else { pages(prompt, bs) }
        } else {
            pages(prompt + output - 1, bs)
        };
        let too_long = self.r.spec.max_model_len.is_some_and(|m| prompt + output > u64::from(m));
        if too_long || need > self.replicas[r].kv.capacity() {
            self.counts.rejected += 1;
            self.counts.rejected_too_long += u64::from(too_long);
            if let Some(recs) = self.records.as_mut() {
                recs.push(LlmRecord {
                    id: req.id,
                    arrival: now,
                    admitted: None,
                    first_token: None,
                    finish: None,
                    prompt,
                    output,
                    replica: r,
                    preemptions: 0,
                    cached_tokens: 0,
                    rejected: true,
                    timed_out: false,
                    adapter,
                });
            }
            if let (Some(s), Some(book)) = (session, self.sessions.as_mut()) {
                book.abandon(s);
            }
            return;
        }
        let class = self.class_arrives(req.class.0);
        self.serial += 1;
        let serial = self.serial;
        let seq = Seq {
            id: req.id,
            serial,
            aborted: false,
            preemptions: 0,
            first_cached: 0,
            arrival: now,
            prompt,
            output,
            blocks,
            generated: 0,
            prefill_target: prompt,
            prefilled: 0,
            kv_tokens: 0,
            cached_tokens: 0,
            held: 0,
            own_pages: 0,
            admitted: None,
            first_token: None,
            last_token: now,
            replica: r,
            entry: r,
            class,
            session,
            turn,
            answer_ids,
            adapter,
        };
        let id = match self.free_slots.pop() {
            Some(i) => {
                self.seqs[i] = Some(seq);
                i
            }
            None => {
                self.seqs.push(Some(seq));
                self.seqs.len() - 1
            }
        };
        self.replicas[r].waiting.push_back(id);
        self.replicas[r].waiting_tokens += prompt;
        if let Some(t) = self.r.spec.client_timeout_s {
            // The client's clock includes the front-end latency the request also pays.
            let left = (t - self.r.replicas[r].request_overhead_s).max(0.0);
            let at = now + SimTime::from_secs_f64(left).unwrap_or(SimTime::MAX);
            if at < SimTime::MAX {
                self.cal.schedule(at, Event::Timeout(id, serial)).expect("time-outs are in the future");
            }
        }
        self.kick(r, now);
    }

    /// The client of the sequence in slot `id` (the run loop checked it is still the request the
    /// time-out was set for) gives up at `now`: it leaves its queue at once and its memory is freed;
    /// a sequence in an iteration or transfer in flight is marked and dropped when that ends.
    fn timeout(&mut self, id: SeqId, now: SimTime) {
        // (The run loop skips the time-outs of requests gone, or finished and waiting for the end
        // of their static batch.)
        self.last_work = now;
        let r = self.seq(id).replica;
        let x = &mut self.replicas[r];
        let in_plan =
            x.plan.as_ref().is_some_and(|p| p.decode.contains(&id) || p.prefill.iter().any(|&(s, _)| s == id));
        let in_batch = x.batch.as_ref().is_some_and(|b| b.seqs.contains(&id));
        let in_queue = |q: &mut VecDeque<SeqId>| match q.iter().position(|&s| s == id) {
            Some(i) => {
                q.remove(i);
                true
            }
            None => false,
        };
        if in_plan || in_batch {
            self.seq_mut(id).aborted = true;
            self.counts.timed_out += 1;
            return;
        }
        if in_queue(&mut x.waiting) {
            x.waiting_tokens -= self.seqs[id].as_ref().expect("live").prefill_target;
        } else if in_queue(&mut x.swapped) || in_queue(&mut x.incoming) {
        } else if let Some(i) = x.running.iter().position(|&s| s == id) {
            x.running.remove(i);
        } else {
            // In transfer between a prefill and a decode replica.
            self.seq_mut(id).aborted = true;
            self.counts.timed_out += 1;
            return;
        }
        self.counts.timed_out += 1;
        self.release(r, id);
        self.drop_aborted(id);
        self.note_kv(r, now);
        self.kick(r, now);
        self.pool_idle_check(r, now);
    }

    /// Forgets a sequence the client gave up on (its memory already released).
    fn drop_aborted(&mut self, id: SeqId) {
        let s = self.seqs[id].take().expect("live sequence");
        if let (Some(c), Some(book)) = (s.session, self.sessions.as_mut()) {
            book.abandon(c);
        }
        self.class_leaves(s.class);
        self.free_slots.push(id);
        if let Some(recs) = self.records.as_mut() {
            recs.push(s.record(None));
        }
    }

    /// Starts an iteration on replica `r` if it is idle and has work.
    fn kick(&mut self, r: usize, now: SimTime) {
        if self.replicas[r].plan.is_some() {
            return;
        }
        let (work, extra_s, plan) = match self.spec().scheduler.clone() {
            SchedulerSpec::Static { max_num_seqs } => match self.plan_static(r, max_num_seqs as usize) {
                Some(x) => x,
                None => return,
            },
            SchedulerSpec::Continuous {
                max_num_seqs,
                max_batched_tokens,
                chunked_prefill,
                preemption,
                async_scheduling,
            } => {
                // Async scheduling planned this iteration when the one ending now started:
                // requests that arrived since wait for the next, unless nothing was planned
                // (then the engine plans afresh, as an idle one does).
                let ahead = if async_scheduling { self.replicas[r].started.filter(|&t| t < now) } else { None };
                let mut plan = |cutoff| {
                    self.plan_continuous(
                        r,
                        max_num_seqs as usize,
                        u64::from(max_batched_tokens),
                        chunked_prefill,
                        preemption,
                        cutoff,
                    )
                };
                match ahead.and_then(&mut plan).or_else(|| plan(now)) {
                    Some(x) => x,
                    None => {
                        self.replicas[r].started = None;
                        return;
                    }
                }
            }
        };
        self.replicas[r].started = Some(now);
        let compute_s = self.r.replicas[r].perf.iteration_s(&work);
        // Tier loads that overlap the compute cost only what sticks out beyond it.
        let hidden = std::mem::take(&mut self.overlap_s);
        let secs = compute_s + extra_s + (hidden - compute_s).max(0.0);
        let dur = SimTime::from_secs_f64(secs).unwrap_or(SimTime::MAX).max(SimTime(1));
        let x = &mut self.replicas[r];
        x.iterations += 1;
        x.busy_ns += dur.as_nanos();
        if let Some((idle, busy)) = x.power {
            // An iteration keeps the devices' bottleneck saturated: full power while it runs.
            x.meter.set(now, busy, &self.energy);
            x.meter.set(now.saturating_add(dur), idle, &self.energy);
        }
        self.iter_seqs += (plan.prefill.len() + plan.decode.len()) as u64;
        if let Some(l) = self.lora.as_mut() {
            l.iteration_adapters += work.adapters;
        }
        self.iter_tokens += work.tokens();
        if plan.decode.is_empty() && !x.running.is_empty() && x.batch.is_none() {
            // Sequences were decoding but this iteration only prefilled.
            let decoding = x.running.iter().filter(|&&s| self.seqs[s].as_ref().is_some_and(Seq::prefill_done)).count();
            if decoding > 0 {
                self.prefill_only += 1;
            }
        }
        self.replicas[r].plan = Some(plan);
        self.note_kv(r, now);
        self.cal.schedule(now + dur, Event::IterationEnd(r)).expect("iterations end in the future");
    }

    /// Pages a sequence needs to hold `kv` tokens.
    fn own_pages_for(&self, s: &Seq, kv: u64) -> u64 {
        pages(kv - s.cached_tokens, self.bs())
    }

    /// Admission of a waiting sequence: prefix lookup (GPU, then the tiers below it), then pages
    /// for the blocks loaded from the tiers and `chunk` more tokens (the whole remaining prefill
    /// when `chunk` is None). None (and nothing changed) if memory is short.
    fn admit(&mut self, r: usize, id: SeqId, chunk_budget: Option<u64>, now: SimTime) -> Option<u64> {
        let pbt = self.pbt();
        let first = self.seq(id).admitted.is_none();
        let (target, nblocks) = {
            let s = self.seq(id);
            (s.prefill_target, s.blocks.len())
        };
        let mut matched = 0;
        let mut blocks = Vec::new();
        let mut from = Vec::new();
        if pbt > 0 && nblocks > 0 {
            // Past the prompt only after a preemption, which gave the answer's blocks ids.
            let full = ((target / pbt) as usize).min(nblocks);
            let max_blocks = (((target - 1) / pbt) as usize).min(full);
            blocks = self.seq(id).blocks[..max_blocks].to_vec();
            matched = self.replicas[r].kv.acquire_prefix(&blocks);
            // The prefix may continue in the tiers: those blocks load instead of computing.
            from = self.locate_tiers(r, &blocks[matched..]);
        }
        let cached = matched as u64 * pbt;
        let loaded = from.len() as u64 * pbt;
        let remaining = target - cached - loaded;
        let chunk = chunk_budget.map_or(remaining, |b| b.min(remaining));
        let need = pages(loaded + chunk, self.bs());
        if need > self.replicas[r].kv.available() {
            if matched > 0 {
                self.replicas[r].kv.release_prefix(&blocks[..matched]);
            }
            return None;
        }
        // Out of their tiers before the allocation evicts into them.
        let mut per_tier = vec![0u64; self.tiers.len()];
        for (&h, &t) in blocks[matched..].iter().zip(&from) {
            match self.shared_tier.as_mut() {
                Some(pool) if t + 1 == self.tiers.len() => pool.touch(h),
                _ => {
                    self.replicas[r].kv.take(h, t);
                }
            }
            per_tier[t] += 1;
        }
        let ok = self.kv_alloc(r, need);
        debug_assert!(ok, "the pages were available");
        let block_prefill_s = self.block_prefill_s[r];
        for (t, &n) in per_tier.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let tier = &mut self.tiers[t];
            let secs = tier.latency_s + n as f64 * tier.block_load_s;
            if tier.overlap {
                self.overlap_s += secs;
            } else {
                self.load_s += secs;
            }
            tier.blocks_loaded += n;
            if first {
                tier.hits += n;
                tier.saved_s += n as f64 * block_prefill_s - secs;
            }
        }
        self.tokens.offload_loaded += loaded;
        if first {
            self.lookups += nblocks as u64;
            self.hits += (matched + from.len()) as u64;
            self.gpu_hits += matched as u64;
            self.gpu_saved_s += matched as f64 * block_prefill_s;
            self.tokens.prefix_cached += cached + loaded;
            self.queue.record(now - self.seq(id).arrival);
            self.seq_mut(id).first_cached = cached + loaded;
        }
        let s = self.seq_mut(id);
        if first {
            s.admitted = Some(now);
        }
        s.held = matched;
        s.cached_tokens = cached;
        s.prefilled = cached + loaded;
        s.kv_tokens = cached + loaded;
        s.own_pages = need;
        Some(chunk)
    }

    /// The tier of each leading block of `blocks` found below replica `r`'s GPU (a local tier,
    /// else the shared one), up to the first found nowhere.
    fn locate_tiers(&self, r: usize, blocks: &[u64]) -> Vec<usize> {
        if self.tiers.is_empty() {
            return Vec::new();
        }
        let shared = self.shared_tier.as_ref();
        blocks
            .iter()
            .map_while(|&h| {
                self.replicas[r].kv.locate(h).or_else(|| shared.filter(|p| p.contains(h)).map(|_| self.tiers.len() - 1))
            })
            .collect()
    }

    /// Takes `pages` on replica `r` (evicting cached blocks down the tiers); blocks falling off
    /// its last local tier go to the shared tier.
    fn kv_alloc(&mut self, r: usize, pages: u64) -> bool {
        let ok = self.replicas[r].kv.alloc(pages);
        if let Some(pool) = self.shared_tier.as_mut() {
            let mut dropped = Vec::new();
            for h in self.replicas[r].kv.take_spilled() {
                if !pool.contains(h) {
                    pool.insert(h, &mut dropped);
                }
            }
        }
        ok
    }

    /// Grows a running sequence's pages to hold `more` tokens; false if memory is short.
    fn grow(&mut self, r: usize, id: SeqId, more: u64) -> bool {
        let s = self.seq(id);
        let want = self.own_pages_for(s, s.kv_tokens + more);
        let need = want.saturating_sub(s.own_pages);
        if need > 0 && !self.kv_alloc(r, need) {
            return false;
        }
        self.seq_mut(id).own_pages = want.max(self.seq(id).own_pages);
        true
    }

    /// Releases a sequence's memory on replica `r`.
    fn release(&mut self, r: usize, id: SeqId) {
        let (own, blocks) = {
            let s = self.seq(id);
            (s.own_pages, s.blocks[..s.held].to_vec())
        };
        self.replicas[r].kv.free(own);
        self.replicas[r].kv.release_prefix(&blocks);
        let s = self.seq_mut(id);
        s.own_pages = 0;
        s.held = 0;
        s.cached_tokens = 0;
    }

    /// Evicts running sequence `id` (the caller removed it from `running`).
    fn preempt(&mut self, r: usize, id: SeqId, mode: Preemption, swap_s: &mut f64) {
        self.preemptions += 1;
        self.seq_mut(id).preemptions += 1;
        match mode {
            Preemption::Recompute => {
                self.keep_computed_blocks(r, id);
                let redo = self.seq(id).kv_tokens - self.seq(id).cached_tokens;
                self.release(r, id);
                let s = self.seq_mut(id);
                s.prefill_target = s.prompt + s.generated;
                s.prefilled = 0;
                s.kv_tokens = 0;
                self.tokens.recomputed += redo;
                self.replicas[r].waiting_tokens += self.seq(id).prefill_target;
                self.replicas[r].waiting.push_front(id);
            }
            Preemption::Swap => {
                let bytes = self.seq(id).kv_tokens as f64 * self.r.kv_bytes_per_token;
                // Swapped KV comes back as private pages: the prefix references are dropped.
                self.release(r, id);
                self.swap_bytes += bytes;
                *swap_s += bytes / (self.r.spec.swap_gb_s * 1e9);
                self.replicas[r].swapped.push_back(id);
            }
        }
    }

    /// Gives every decoding sequence of `r` a page for its next token, preempting from the back
    /// of `running` when memory is short. Returns the sequences that will decode.
    /// With speculation, each also gets pages for the `k` tokens it verifies (fewer near its last
    /// token), returned beside it.
    fn reserve_decodes(&mut self, r: usize, mode: Preemption, swap_s: &mut f64) -> (Vec<SeqId>, Vec<u32>) {
        let mut decode: Vec<(SeqId, u32)> = Vec::new();
        let mut i = 0;
        while i < self.replicas[r].running.len() {
            let id = self.replicas[r].running[i];
            if !self.seq(id).prefill_done() {
                i += 1;
                continue;
            }
            // Proposals past the last token are not made.
            let k = {
                let s = self.seq(id);
                u64::from(self.spec_k).min(s.output - s.generated - 1) as u32
            };
            loop {
                if self.grow(r, id, 1 + u64::from(k)) {
                    decode.push((id, k));
                    i += 1;
                    break;
                }
                let v = self.victim(r);
                let victim = self.replicas[r].running.remove(v);
                decode.retain(|&(d, _)| d != victim);
                self.preempt(r, victim, mode, swap_s);
                if victim == id {
                    break;
                }
                if v < i {
                    // An earlier sequence left: this one moved up.
                    i -= 1;
                }
            }
        }
        let spec = if self.spec_k > 0 { decode.iter().map(|&(_, k)| k).collect() } else { Vec::new() };
        (decode.into_iter().map(|(d, _)| d).collect(), spec)
    }

    /// Seconds the proposer takes for the speculating sequences of `plan`: its `j`-th step
    /// decodes one token for every sequence proposing at least `j` (none for `ngram`).
    fn proposer_s(&self, r: usize, plan: &Plan) -> f64 {
        let Some(p) = self.r.replicas[r].proposer.as_ref() else { return 0.0 };
        let kmax = plan.spec.iter().copied().max().unwrap_or(0);
        let mut secs = 0.0;
        for j in 0..kmax {
            let mut w = Work::default();
            for (&id, &k) in plan.decode.iter().zip(&plan.spec) {
                if k > j {
                    let ctx = self.seq(id).kv_tokens + u64::from(j);
                    w.decode_seqs += 1;
                    w.seqs += 1;
                    w.kv_read_tokens += ctx;
                    w.attention_flops += self.r.shape.attention_flops(ctx as f64);
                }
            }
            secs += p.iteration_s(&w);
        }
        secs
    }

    fn plan_continuous(
        &mut self,
        r: usize,
        max_seqs: usize,
        budget: u64,
        chunked: bool,
        mode: Preemption,
        cutoff: SimTime,
    ) -> Option<(Work, f64, Plan)> {
        let now = self.cal.now();
        let mut swap_s = 0.0;
        let mut plan = Plan::default();
        // KV handed over by a prefill replica joins first, as whole sequences.
        while let Some(&id) = self.replicas[r].incoming.front() {
            if self.replicas[r].running.len() >= max_seqs || !self.adapter_fits(&self.running_adapters(r), id) {
                break;
            }
            let want = pages(self.seq(id).kv_tokens, self.bs());
            if !self.kv_alloc(r, want) {
                break;
            }
            self.replicas[r].incoming.pop_front();
            self.seq_mut(id).own_pages = want;
            self.replicas[r].running.push(id);
            self.lora_admit(r, id);
        }
        // Swapped sequences come back next, as whole sequences.
        while let Some(&id) = self.replicas[r].swapped.front() {
            if self.replicas[r].running.len() >= max_seqs || !self.adapter_fits(&self.running_adapters(r), id) {
                break;
            }
            let want = pages(self.seq(id).kv_tokens, self.bs());
            if !self.kv_alloc(r, want) {
                break;
            }
            self.replicas[r].swapped.pop_front();
            let bytes = self.seq(id).kv_tokens as f64 * self.r.kv_bytes_per_token;
            self.swap_bytes += bytes;
            swap_s += bytes / (self.r.spec.swap_gb_s * 1e9);
            self.seq_mut(id).own_pages = want;
            self.replicas[r].running.push(id);
            self.lora_admit(r, id);
        }
        let mut left = budget;
        if chunked {
            (plan.decode, plan.spec) = self.reserve_decodes(r, mode, &mut swap_s);
            left = left.saturating_sub(plan.decode.len() as u64 + plan.spec.iter().map(|&k| u64::from(k)).sum::<u64>());
            // Unfinished prefills continue, in admission order.
            let running = self.replicas[r].running.clone();
            for id in running {
                if left == 0 {
                    break;
                }
                if self.seq(id).prefill_done() {
                    continue;
                }
                let s = self.seq(id);
                let chunk = (s.prefill_target - s.prefilled).min(left);
                if !self.grow(r, id, chunk) {
                    break;
                }
                plan.prefill.push((id, chunk));
                left -= chunk;
            }
        }
        // New admissions (not while swapped sequences wait: they would starve).
        if self.replicas[r].swapped.is_empty() && self.replicas[r].incoming.is_empty() {
            while let Some(at) = self.next_waiting(r) {
                let id = self.replicas[r].waiting[at];
                if self.replicas[r].running.len() >= max_seqs || (chunked && left == 0) {
                    break;
                }
                // Not yet seen by the scheduler that planned this iteration (async scheduling).
                if self.seq(id).admitted.is_none() && self.seq(id).arrival > cutoff {
                    break;
                }
                if !chunked {
                    let s = self.seq(id);
                    let need = s.prefill_target - s.prefilled;
                    // A prompt longer than the budget runs alone rather than never.
                    if !plan.prefill.is_empty() && need > left {
                        break;
                    }
                }
                let Some(chunk) = self.admit(r, id, if chunked { Some(left) } else { None }, now) else {
                    break;
                };
                self.replicas[r].waiting.remove(at);
                self.replicas[r].waiting_tokens -= self.seq(id).prefill_target;
                self.replicas[r].running.push(id);
                if let Some(l) = self.lora.as_mut() {
                    l.passed_over += u64::from(at > 0 && self.r.spec.scheduling.is_fcfs());
                    self.lora_admit(r, id);
                }
                if chunk > 0 {
                    plan.prefill.push((id, chunk));
                } else {
                    unreachable!("a prefill always computes at least one token");
                }
                left = left.saturating_sub(chunk);
            }
        }
        if !chunked && plan.prefill.is_empty() {
            (plan.decode, plan.spec) = self.reserve_decodes(r, mode, &mut swap_s);
        }
        let draft_s = self.proposer_s(r, &plan);
        self.spec.draft_s += draft_s;
        swap_s += draft_s;
        // KV loaded back from the CPU tier for this iteration's admissions.
        swap_s += std::mem::take(&mut self.load_s);
        if plan.prefill.is_empty() && plan.decode.is_empty() {
            return None;
        }
        self.charge(&plan);
        let work = self.work_of(&plan);
        Some((work, swap_s, plan))
    }

    fn work_of(&self, plan: &Plan) -> Work {
        let mut w = Work { seqs: (plan.prefill.len() + plan.decode.len()) as u64, ..Work::default() };
        if self.lora.is_some() {
            let mut distinct: Vec<u32> = Vec::new();
            let tokens = plan.prefill.iter().copied().chain(
                plan.decode.iter().enumerate().map(|(i, &id)| (id, 1 + plan.spec.get(i).map_or(0, |&k| u64::from(k)))),
            );
            for (id, n) in tokens {
                if let Some(a) = self.seq(id).adapter {
                    w.adapter_tokens += n;
                    if !distinct.contains(&a) {
                        distinct.push(a);
                    }
                }
            }
            w.adapters = distinct.len() as u64;
        }
        for &(id, n) in &plan.prefill {
            let c = self.seq(id).kv_tokens as f64;
            let n_f = n as f64;
            w.prefill_tokens += n;
            w.kv_read_tokens += self.seq(id).kv_tokens;
            w.attention_flops += self.r.shape.attention_flops(n_f * c + n_f * (n_f - 1.0) / 2.0);
        }
        for (i, &id) in plan.decode.iter().enumerate() {
            let k = self.seq(id).kv_tokens;
            // A speculating sequence scores its token and its `n` proposals in one pass.
            let n = plan.spec.get(i).copied().map_or(0, u64::from);
            w.decode_seqs += 1;
            w.verify_tokens += n;
            w.kv_read_tokens += k;
            let q = (n + 1) as f64;
            w.attention_flops += self.r.shape.attention_flops(q * k as f64 + q * (q - 1.0) / 2.0);
        }
        w
    }

    fn plan_static(&mut self, r: usize, max_seqs: usize) -> Option<(Work, f64, Plan)> {
        let now = self.cal.now();
        let bs = self.bs();
        if self.replicas[r].batch.is_none() {
            // FasterTransformer reserves every sequence whole and padded up front: the batch's
            // longest prompt plus its longest output, as its compute pads them.
            let mut seqs = Vec::new();
            let (mut prompt, mut steps) = (0, 0);
            let available = self.replicas[r].kv.available();
            while let Some(&id) = self.replicas[r].waiting.front() {
                if seqs.len() >= max_seqs {
                    break;
                }
                let s = self.seq(id);
                let (p, o) = (prompt.max(s.prompt), steps.max(s.output));
                if (seqs.len() as u64 + 1) * pages(p + o - 1, bs) > available {
                    break;
                }
                (prompt, steps) = (p, o);
                self.replicas[r].waiting.pop_front();
                self.replicas[r].waiting_tokens -= self.seq(id).prompt;
                self.queue.record(now - self.seq(id).arrival);
                self.seq_mut(id).admitted = Some(now);
                seqs.push(id);
            }
            if seqs.is_empty() {
                return None;
            }
            let each = pages(prompt + steps - 1, bs);
            let ok = self.kv_alloc(r, seqs.len() as u64 * each);
            debug_assert!(ok, "the batch was sized to the available pages");
            for &id in &seqs {
                self.seq_mut(id).own_pages = each;
            }
            self.replicas[r].running = seqs.clone();
            self.replicas[r].batch = Some(StaticBatch { seqs, prompt, steps, step: 0 });
        }
        let b = self.replicas[r].batch.as_ref().expect("a batch");
        let n = b.seqs.len() as u64;
        let mut plan = Plan::default();
        let mut w = Work::default();
        if b.step == 0 {
            // Prompts padded to the longest.
            let p = b.prompt as f64;
            w.prefill_tokens = n * b.prompt;
            w.attention_flops = n as f64 * self.r.shape.attention_flops(p * (p - 1.0) / 2.0);
            w.seqs = n;
            plan.prefill = b.seqs.iter().map(|&s| (s, b.prompt)).collect();
        } else {
            let ctx = b.prompt + b.step - 1;
            w.decode_seqs = n;
            w.kv_read_tokens = n * ctx;
            w.attention_flops = n as f64 * self.r.shape.attention_flops(ctx as f64);
            w.seqs = n;
            plan.decode = b.seqs.clone();
        }
        Some((w, 0.0, plan))
    }

    fn iteration_end(&mut self, r: usize, now: SimTime) {
        let plan = self.replicas[r].plan.take().expect("an iteration was running");
        if self.replicas[r].batch.is_some() {
            self.static_end(r, plan, now);
        } else {
            self.continuous_end(r, plan, now);
        }
        self.note_kv(r, now);
        self.kick(r, now);
        self.pool_idle_check(r, now);
    }

    fn static_end(&mut self, r: usize, plan: Plan, now: SimTime) {
        let b = self.replicas[r].batch.as_mut().expect("a batch");
        b.step += 1;
        let step = b.step;
        let done = step >= b.steps;
        let prompt = b.prompt;
        let seqs = b.seqs.clone();
        if step == 1 {
            for &(id, _) in &plan.prefill {
                let s = self.seqs[id].as_ref().expect("live sequence");
                self.tokens.prefill_computed += s.prompt;
                self.tokens.padding += prompt - s.prompt;
            }
        }
        for id in seqs.iter().copied() {
            let s = self.seq(id);
            if s.generated >= s.output || s.aborted {
                self.tokens.padding += 1;
                continue;
            }
            self.token(id, now);
            if self.seq(id).generated == self.seq(id).output {
                self.complete(id, now);
            }
        }
        if done {
            for id in seqs {
                let own = self.seq(id).own_pages;
                self.replicas[r].kv.free(own);
                if self.seq(id).aborted {
                    self.drop_aborted(id);
                } else {
                    self.seqs[id] = None;
                    self.free_slots.push(id);
                }
            }
            self.replicas[r].running.clear();
            self.replicas[r].batch = None;
        }
    }

    /// How many of `k` proposals are accepted: each position in turn with its probability,
    /// until the first rejection.
    fn accepted(&mut self, k: u32) -> u32 {
        let mut n = 0;
        while n < k && self.spec_rng.random::<f64>() < self.spec_alphas[n as usize] {
            n += 1;
        }
        n
    }

    /// Sequence `id` produced a token at `now`.
    fn token(&mut self, id: SeqId, now: SimTime) {
        self.tokens_out(id, 1, now);
    }

    /// Sequence `id` produced `n` tokens at `now` (one inter-token gap: they arrive together).
    fn tokens_out(&mut self, id: SeqId, n: u64, now: SimTime) {
        let s = self.seq_mut(id);
        s.generated += n;
        let gap = now - s.last_token;
        let first = s.first_token.is_none();
        s.last_token = now;
        if first {
            s.first_token = Some(now);
        } else {
            self.itl.record(gap);
        }
        self.tokens.output += n;
    }

    /// The latency a request pays outside the iterations (`request_overhead_ms` of the replica
    /// it entered), added to its TTFT and end-to-end latency.
    fn front_end(&self, id: SeqId) -> SimTime {
        SimTime::round_ns(self.r.replicas[self.seq(id).entry].request_overhead_s * 1e9)
    }

    /// Sequence `id` produced its last token at `now` (its memory is released by the caller).
    fn complete(&mut self, id: SeqId, now: SimTime) {
        let front_end = self.front_end(id);
        let s = self.seqs[id].as_ref().expect("live sequence");
        let entry = s.entry;
        let first = s.first_token.expect("a completed sequence had a first token");
        let e2e = now - s.arrival + front_end;
        let ttft = first - s.arrival + front_end;
        let tpot_ns = if s.output > 1 { (now - first).as_nanos() / (s.output - 1) } else { 0 };
        self.e2e.record(e2e);
        // TTFT is recorded at completion, over the requests that finished (as a client reports it).
        self.ttft.record(ttft);
        if s.output > 1 {
            self.tpot.record(SimTime(tpot_ns));
        }
        let good = self
            .r
            .spec
            .slo
            .as_ref()
            .is_some_and(|slo| ttft.as_secs_f64() * 1e3 <= slo.ttft_ms && tpot_ns as f64 / 1e6 <= slo.tpot_ms);
        self.good += u64::from(good);
        if let Some(c) = self.classes.get_mut(usize::from(s.class)) {
            c.completed += 1;
            c.good += u64::from(good);
            c.output_tokens += s.output;
            c.ttft.record(ttft);
            c.e2e.record(e2e);
            c.active -= 1;
        }
        self.counts.completed += 1;
        self.tokens.input += s.prompt;
        if let Some(recs) = self.records.as_mut() {
            recs.push(s.record(Some(now)));
        }
        let (session, turn, prompt, output, cached) = (s.session, s.turn, s.prompt, s.output, s.first_cached);
        self.pool_finished(entry, ttft);
        if let (Some(c), Some(book)) = (session, self.sessions.as_mut()) {
            book.record(turn, prompt, cached, ttft);
            // The user reads the answer (the front end's latency included), thinks, and writes.
            if let Some(next) = book.answered(c, prompt, output, now + front_end) {
                let at = next.arrival;
                self.turns_in_flight += 1;
                self.cal.schedule(at, Event::Turn(Box::new(next))).expect("turns come after their answers");
            }
        }
    }

    fn continuous_end(&mut self, r: usize, plan: Plan, now: SimTime) {
        let mut finished = Vec::new();
        let mut handoff = Vec::new();
        // Sequences whose client gave up during the iteration leave now; their tokens never count.
        let aborted: Vec<SeqId> = plan
            .prefill
            .iter()
            .map(|&(id, _)| id)
            .chain(plan.decode.iter().copied())
            .filter(|&id| self.seq(id).aborted)
            .collect();
        let Plan { mut prefill, decode, spec } = plan;
        prefill.retain(|&(id, _)| !aborted.contains(&id));
        let decode: Vec<(SeqId, u32)> = decode
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, spec.get(i).copied().unwrap_or(0)))
            .filter(|(id, _)| !aborted.contains(id))
            .collect();
        for id in aborted {
            self.release(r, id);
            self.replicas[r].running.retain(|&x| x != id);
            self.drop_aborted(id);
        }
        for (id, n) in prefill {
            self.tokens.prefill_computed += n;
            let s = self.seqs[id].as_mut().expect("live sequence");
            s.prefilled += n;
            s.kv_tokens += n;
            // Full prompt blocks with an id become shareable.
            let upto = s.prefilled.min(s.prompt);
            self.publish_blocks(r, id, upto);
            if self.seq(id).prefill_done() {
                self.token(id, now);
                let s = self.seq(id);
                if s.generated == s.output {
                    finished.push(id);
                } else if self.replicas[r].role == Role::Prefill {
                    handoff.push(id);
                }
            }
        }
        for (id, k) in decode {
            // The leading accepted proposals, plus the target's own token.
            let accepted = self.accepted(k);
            let n = accepted + 1;
            if k > 0 {
                self.spec.steps += 1;
                self.spec.proposed += u64::from(k);
                self.spec.accepted += u64::from(accepted);
            }
            self.seq_mut(id).kv_tokens += u64::from(n);
            self.tokens_out(id, u64::from(n), now);
            if k > accepted {
                // The rejected proposals' KV slots are freed.
                let s = self.seq(id);
                let want = self.own_pages_for(s, s.kv_tokens);
                let surplus = s.own_pages - want;
                self.replicas[r].kv.free(surplus);
                self.seq_mut(id).own_pages = want;
            }
            if self.seq(id).generated == self.seq(id).output {
                finished.push(id);
            }
        }
        for id in finished {
            self.complete(id, now);
            // Blocks of the answer that carry an id (a conversation's, whose next turn starts
            // with it) are cached too, as vLLM caches every full block.
            if self.seq(id).answer_ids {
                let kv = self.seq(id).kv_tokens;
                self.publish_blocks(r, id, kv);
            }
            self.release(r, id);
            self.replicas[r].running.retain(|&x| x != id);
            self.seqs[id] = None;
            self.free_slots.push(id);
        }
        for id in handoff {
            self.release(r, id);
            self.replicas[r].running.retain(|&x| x != id);
            let bytes = self.seq(id).kv_tokens as f64 * self.r.kv_bytes_per_token;
            self.transfer_bytes += bytes;
            self.in_transfer += 1;
            let d = self.pick_decoder(id);
            self.seq_mut(id).replica = d;
            let dur = SimTime::from_secs_f64(bytes / (self.r.spec.kv_transfer_gb_s * 1e9)).unwrap_or(SimTime::MAX);
            self.cal.schedule(now + dur, Event::TransferEnd(id)).expect("transfers end in the future");
        }
    }

    /// With prefix caching, a sequence preempted by recompute leaves its full blocks in the cache
    /// (vLLM caches every full block as it fills, the generated tokens' too, and a preempted
    /// request's blocks return to the free queue still hashed): its readmission recomputes only
    /// the blocks evicted meanwhile — the tail first, as they are released tail first. Past its
    /// prompt's full blocks (and where the trace gave no ids) the blocks get ids of their own:
    /// their content (the prompt's last partial block and the answer) is this sequence's alone.
    fn keep_computed_blocks(&mut self, r: usize, id: SeqId) {
        let pbt = self.pbt();
        if pbt == 0 {
            return;
        }
        let s = self.seqs[id].as_mut().expect("live sequence");
        let full = (s.kv_tokens / pbt) as usize;
        let keep = s.blocks.len().min((s.prompt / pbt) as usize);
        if !s.answer_ids && (full > keep || s.blocks.len() > keep) {
            let serial = s.serial;
            let mut ids = s.blocks[..keep].to_vec();
            ids.extend((keep..full.max(keep)).map(|j| super::sessions::own_block_id(serial, j as u64)));
            s.blocks = ids.into();
        }
        let kv = s.kv_tokens;
        self.publish_blocks(r, id, kv);
    }

    /// Hands sequence `id`'s full blocks with an id, covering its first `upto` tokens, to the
    /// prefix cache (and, written through, to the shared tier).
    fn publish_blocks(&mut self, r: usize, id: SeqId, upto: u64) {
        let pbt = self.pbt();
        if pbt == 0 {
            return;
        }
        let bs = self.bs();
        let s = self.seqs[id].as_mut().expect("live sequence");
        while s.held < s.blocks.len() && (s.held as u64 + 1) * pbt <= upto {
            let h = s.blocks[s.held];
            s.held += 1;
            s.cached_tokens += pbt;
            s.own_pages -= pbt / bs;
            self.replicas[r].kv.publish(h);
            // Written through to the shared tier (Mooncake stores every prefill's KV).
            if let Some(pool) = self.shared_tier.as_mut()
                && !pool.contains(h)
            {
                pool.insert(h, &mut Vec::new());
                let t = self.tiers.last_mut().expect("a shared tier is a tier");
                t.bytes_written += t.block_bytes;
            }
        }
    }

    /// The decode replica with the most free KV after its queue (ties: fewest sequences).
    fn pick_decoder(&mut self, _id: SeqId) -> usize {
        let bs = self.bs();
        let key = |i: usize| {
            let x = &self.replicas[i];
            let queued: u64 = x.incoming.iter().map(|&s| pages(self.seq(s).kv_tokens, bs)).sum();
            (x.kv.available() as i64 - queued as i64, std::cmp::Reverse(x.load()))
        };
        let best = self.decoders.iter().map(|&i| key(i)).max().expect("decode replicas exist");
        let ties: Vec<usize> = self.decoders.iter().copied().filter(|&i| key(i) == best).collect();
        ties[self.route_rng.random_range(0..ties.len())]
    }

    fn transfer_end(&mut self, id: SeqId, now: SimTime) {
        self.in_transfer -= 1;
        if self.seq(id).aborted {
            // Its memory was released when it left the prefill replica.
            self.drop_aborted(id);
            return;
        }
        let d = self.seq(id).replica;
        // An arriving KV is resumed whole, before new work.
        self.replicas[d].incoming.push_back(id);
        self.kick(d, now);
    }

    fn finish(mut self) -> (LlmSummary, Option<Vec<LlmRecord>>) {
        let records = self.records.take();
        (self.summary(), records)
    }

    fn summary(self) -> LlmSummary {
        let end = self.last_work.max(self.last_arrival);
        let horizon = end.as_secs_f64();
        let per_s = |x: f64| if horizon > 0.0 { x / horizon } else { 0.0 };
        let cap: u64 = self.replicas.iter().map(|r| r.kv.capacity()).sum();
        // A replica of an autoscaled pool costs while billed; any other, the whole horizon.
        let usd: f64 = self
            .r
            .replicas
            .iter()
            .filter(|x| self.pools.get(x.pool).is_none_or(Option::is_none))
            .map(|x| x.cost_per_s * horizon)
            .sum::<f64>()
            + self
                .pools
                .iter()
                .enumerate()
                .filter_map(|(pi, p)| p.as_ref().map(|p| (pi, p)))
                .map(|(pi, p)| {
                    let per_s = self.r.replicas.iter().find(|x| x.pool == pi).map_or(0.0, |x| x.cost_per_s);
                    per_s * p.billed_s(end)
                })
                .sum::<f64>();
        let autoscale: Vec<LlmPoolStats> = self
            .pools
            .iter()
            .enumerate()
            .filter_map(|(pi, p)| {
                p.as_ref().map(|p| LlmPoolStats { pool: self.r.spec.pools[pi].name.clone(), stats: p.stats(end) })
            })
            .collect();
        let total_tokens = (self.tokens.input + self.tokens.output) as f64;
        let first = &self.r.replicas[0];
        let info_work = |prefill: u64, decode: u64, kv: u64| Work {
            prefill_tokens: prefill,
            decode_seqs: decode,
            attention_flops: if prefill > 0 {
                let p = prefill as f64;
                self.r.shape.attention_flops(p * (p - 1.0) / 2.0)
            } else {
                self.r.shape.attention_flops(kv as f64)
            },
            kv_read_tokens: kv,
            seqs: 1,
            ..Work::default()
        };
        let scheduler = match &self.r.spec.scheduler {
            SchedulerSpec::Static { .. } => "static",
            SchedulerSpec::Continuous { chunked_prefill: true, .. } => "continuous+chunked",
            SchedulerSpec::Continuous { .. } => "continuous",
        };
        let iterations: u64 = self.replicas.iter().map(|r| r.iterations).sum();
        let energy = self.replicas.iter().any(|x| x.power.is_some()).then(|| {
            let (kwh, g) = self
                .replicas
                .iter()
                .filter(|x| x.power.is_some())
                .map(|x| x.meter.until(end, &self.energy))
                .fold((0.0, 0.0), |(a, b), (k, c)| (a + k, b + c));
            let per = |x: f64, n: f64| if n > 0.0 { x / n } else { 0.0 };
            LlmEnergy {
                kwh,
                mean_power_w: per(kwh * 3.6e6, horizon * self.energy.pue),
                wh_per_1000_requests: per(kwh * 1e6, self.counts.completed as f64),
                kwh_per_million_tokens: per(kwh * 1e6, total_tokens),
                gco2e: g,
                gco2e_per_million_tokens: per(g * 1e6, total_tokens),
            }
        });
        let has_slo = self.r.spec.slo.is_some();
        let classes: Vec<LlmClassSummary> = self
            .classes
            .iter()
            .map(|c| LlmClassSummary {
                name: c.name.clone(),
                priority: c.priority,
                weight: c.weight,
                arrived: c.arrived,
                completed: c.completed,
                attainment: has_slo.then(|| if c.arrived > 0 { c.good as f64 / c.arrived as f64 } else { 0.0 }),
                output_tokens: c.output_tokens,
                counter: c.counter,
                ttft_ms: c.ttft.summary_ms(),
                e2e_ms: c.e2e.summary_ms(),
            })
            .collect();
        let shares: Vec<f64> = classes.iter().filter_map(|c| c.attainment).collect();
        let fairness = (shares.len() >= 2).then(|| crate::engine::jain(&shares));
        LlmSummary {
            engine: "llm",
            scenario: self.name.clone(),
            seed: self.seed,
            scheduler: scheduler.to_string(),
            horizon_s: horizon,
            requests: self.counts.clone(),
            tokens: self.tokens.clone(),
            latency_ms: TokenLatency {
                ttft: self.ttft.summary_ms(),
                tpot: self.tpot.summary_ms(),
                itl: self.itl.summary_ms(),
                e2e: self.e2e.summary_ms(),
                queue: self.queue.summary_ms(),
            },
            throughput: Throughput {
                requests_per_s: per_s(self.counts.completed as f64),
                output_tokens_per_s: per_s(self.tokens.output as f64),
                total_tokens_per_s: per_s(total_tokens),
            },
            slo: self.r.spec.slo.as_ref().map(|s| TokenSloStats {
                ttft_ms: s.ttft_ms,
                tpot_ms: s.tpot_ms,
                attainment: if self.counts.arrived > 0 { self.good as f64 / self.counts.arrived as f64 } else { 0.0 },
                goodput_per_s: per_s(self.good as f64),
            }),
            kv: KvStats {
                block_size: self.r.spec.block_size,
                bytes_per_token: self.r.kv_bytes_per_token,
                capacity_pages: cap,
                mean_utilization: self.kv_used.mean_until(end) / cap as f64,
                peak_utilization: self
                    .replicas
                    .iter()
                    .map(|r| r.peak_pages as f64 / r.kv.capacity() as f64)
                    .fold(0.0, f64::max),
                preemptions: self.preemptions,
                swap_bytes: self.swap_bytes,
                transfer_bytes: self.transfer_bytes,
            },
            prefix: self.r.spec.prefix_cache.as_ref().map(|c| PrefixStats {
                block_tokens: c.block_tokens,
                lookups: self.lookups,
                hits: self.hits,
                hit_rate: if self.lookups > 0 { self.hits as f64 / self.lookups as f64 } else { 0.0 },
                evictions: self.replicas.iter().map(|r| r.kv.evictions()).sum(),
                gpu_hits: self.gpu_hits,
                saved_s: self.gpu_saved_s + self.tiers.iter().map(|t| t.saved_s).sum::<f64>(),
                tiers: self
                    .tiers
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let local = |f: &dyn Fn(&TierCache) -> u64| -> u64 {
                            self.replicas.iter().map(|x| f(x.kv.tier(i))).sum()
                        };
                        let (resident, evictions) = match (&self.shared_tier, t.shared) {
                            (Some(p), true) => (p.len(), p.evictions()),
                            _ => (local(&|c| c.len()), local(&|c| c.evictions())),
                        };
                        TierStats {
                            name: t.name.clone(),
                            shared: t.shared,
                            capacity_blocks: t.capacity_blocks * if t.shared { 1 } else { self.replicas.len() as u64 },
                            hits: t.hits,
                            hit_rate: if self.lookups > 0 { t.hits as f64 / self.lookups as f64 } else { 0.0 },
                            blocks_loaded: t.blocks_loaded,
                            bytes_loaded: t.blocks_loaded as f64 * t.block_bytes,
                            bytes_written: t.bytes_written,
                            resident_blocks: resident,
                            evictions,
                            saved_s: t.saved_s,
                        }
                    })
                    .collect(),
            }),
            iterations: IterationStats {
                count: iterations,
                mean_seqs: if iterations > 0 { self.iter_seqs as f64 / iterations as f64 } else { 0.0 },
                mean_tokens: if iterations > 0 { self.iter_tokens as f64 / iterations as f64 } else { 0.0 },
                prefill_only: self.prefill_only,
            },
            cost: LlmCost {
                usd,
                usd_per_million_output_tokens: if self.tokens.output > 0 {
                    usd / self.tokens.output as f64 * 1e6
                } else {
                    0.0
                },
                usd_per_million_tokens: if total_tokens > 0.0 { usd / total_tokens * 1e6 } else { 0.0 },
            },
            energy,
            classes,
            fairness,
            autoscale,
            sessions: self.sessions.as_ref().map(super::sessions::Sessions::stats),
            quality: self.r.spec.quality.clone(),
            lora: self.lora.as_ref().map(|l| LoraStats {
                adapters: l.seen.len() as u64,
                adapter_mb: l.spec.params(&self.r.shape) * self.r.spec.weights.bytes().max(2.0) / 1e6,
                admissions: l.admissions,
                resident_hits: l.resident_hits,
                hit_rate: if l.admissions > 0 { l.resident_hits as f64 / l.admissions as f64 } else { 0.0 },
                loads: l.loads,
                load_s: l.loads as f64 * l.load_each_s,
                evictions: l.evictions,
                passed_over: l.passed_over,
                mean_adapters_per_iteration: if iterations > 0 {
                    l.iteration_adapters as f64 / iterations as f64
                } else {
                    0.0
                },
            }),
            speculative: self.r.spec.speculative.as_ref().map(|sp| SpecStats {
                method: format!("{:?}", sp.method).to_lowercase(),
                k: sp.k,
                steps: self.spec.steps,
                proposed: self.spec.proposed,
                accepted: self.spec.accepted,
                acceptance_rate: if self.spec.proposed > 0 {
                    self.spec.accepted as f64 / self.spec.proposed as f64
                } else {
                    0.0
                },
                tokens_per_step: if self.spec.steps > 0 {
                    (self.spec.accepted + self.spec.steps) as f64 / self.spec.steps as f64
                } else {
                    0.0
                },
                expected_tokens_per_step: sp.expected_tokens_per_step(),
                proposer_s: self.spec.draft_s,
            }),
            model: ModelInfo {
                model: self.r.shape.name.clone(),
                params: self.r.shape.params,
                weight_bytes: self.r.weight_bytes,
                tensor_parallel: self.r.spec.tensor_parallel,
                weight_bits: 8.0 * self.r.spec.weights.bytes(),
                kv_cache_bits: 8.0 * self.r.spec.kv_cache.bytes(),
                compute_bits: 8.0 * self.r.spec.compute.bytes(),
                decode_step_batch1_ms: first.perf.iteration_s(&info_work(0, 1, 1024)) * 1e3,
                prefill_1024_ms: first.perf.iteration_s(&info_work(1024, 0, 0)) * 1e3,
            },
            replicas: self
                .replicas
                .iter()
                .zip(&self.r.replicas)
                .map(|(x, spec)| ReplicaSummary {
                    name: spec.name.clone(),
                    kind: spec.kind.name.clone(),
                    role: format!("{:?}", spec.role).to_lowercase(),
                    kv_pages: x.kv.capacity(),
                    iterations: x.iterations,
                    busy_fraction: if end.as_nanos() > 0 { x.busy_ns as f64 / end.as_nanos() as f64 } else { 0.0 },
                    kv_peak_pages: x.peak_pages,
                    routed: x.routed,
                })
                .collect(),
            timeline: self.timeline,
        }
    }
}
