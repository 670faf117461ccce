//! The request schema shared by every crate.

use crate::time::SimTime;

/// Index of a request class (model name or traffic class) in [`Trace::classes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassId(pub u16);

/// One inference request, as a trace records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Unique id within the trace (file column `id`; defaults to the row index).
    pub id: u64,
    /// Arrival time since the start of the trace (file column `arrival_s`, seconds).
    pub arrival: SimTime,
    /// Model or traffic class (file column `class`, a name; index into [`Trace::classes`]).
    pub class: ClassId,
    /// Input size: prompt tokens for LLM requests, bytes or features otherwise (column `input_size`).
    pub input_size: u64,
    /// Output tokens to generate; 0 for non-generative requests (column `output_tokens`).
    pub output_tokens: u64,
    /// Response-cache key: equal keys ask for the same response (column `cache_key`, optional).
    pub cache_key: Option<u64>,
    /// Prompt prefix block ids (column `prefix_blocks`, optional): equal ids across requests are a
    /// shared prefix whose KV cache can be reused. Mooncake uses one id per 512-token block.
    pub prefix_blocks: Option<Box<[u64]>>,
    /// Service time recorded by the system that produced the trace (column `service_s`, seconds).
    pub service: Option<SimTime>,
    /// Conversation (session) id (column `session`, optional): requests with the same id are the
    /// turns of one conversation, in arrival order; an LLM scenario with `[llm.sessions]` replays
    /// them closed-loop.
    pub session: Option<u64>,
    /// LoRA adapter the request asks for (column `adapter`, optional): an LLM scenario with
    /// `[llm.lora]` serves it with that adapter over the base model.
    pub adapter: Option<u32>,
}

impl Request {
    /// A request with only the required fields set.
    pub fn new(id: u64, arrival: SimTime, input_size: u64) -> Request {
        Request {
            id,
            arrival,
            class: ClassId(0),
            input_size,
            output_tokens: 0,
            cache_key: None,
            prefix_blocks: None,
            service: None,
            session: None,
            adapter: None,
        }
    }
}

/// A trace held in memory: requests sorted by arrival time, and the class names they use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Requests in non-decreasing arrival order (equal times are legal).
    pub requests: Vec<Request>,
    /// Class names; a request's [`ClassId`] indexes this list.
    pub classes: Vec<String>,
}

impl Trace {
    /// The class name list used when a trace has no class column.
    pub fn default_classes() -> Vec<String> {
        vec!["default".to_string()]
    }
}
