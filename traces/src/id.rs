//! Trace ids: a content hash of the requests, independent of the file format.
//!
//! The hash covers the canonical in-memory form (integer nanoseconds, class *names*, sizes, keys,
//! prefix blocks, recorded service times), so the same requests stored as CSV, Parquet or JSONL,
//! or generated on the fly, have the same id.

use crate::request::Request;
use artifact::IdKind;
use sha2::{Digest, Sha256};

/// Incremental trace hasher: feed requests in order, then [`TraceHasher::finish`].
pub struct TraceHasher {
    sha: Sha256,
    buf: Vec<u8>,
    classes: Vec<String>,
    count: u64,
}

impl TraceHasher {
    /// A hasher for a trace whose class ids index `classes`.
    pub fn new(classes: &[String]) -> TraceHasher {
        TraceHasher { sha: Sha256::new(), buf: Vec::with_capacity(1 << 16), classes: classes.to_vec(), count: 0 }
    }

    /// Adds one request.
    pub fn push(&mut self, r: &Request) {
        let b = &mut self.buf;
        b.extend_from_slice(&r.id.to_le_bytes());
        b.extend_from_slice(&r.arrival.0.to_le_bytes());
        // Hash the class by name so that two files that number their classes differently agree.
        let name = self.classes.get(r.class.0 as usize).map_or("", String::as_str);
        b.extend_from_slice(&(name.len() as u32).to_le_bytes());
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(&r.input_size.to_le_bytes());
        b.extend_from_slice(&r.output_tokens.to_le_bytes());
        match r.cache_key {
            Some(k) => {
                b.push(1);
                b.extend_from_slice(&k.to_le_bytes());
            }
            None => b.push(0),
        }
        match &r.prefix_blocks {
            Some(blocks) => {
                b.push(1);
                b.extend_from_slice(&(blocks.len() as u64).to_le_bytes());
                for x in blocks.iter() {
                    b.extend_from_slice(&x.to_le_bytes());
                }
            }
            None => b.push(0),
        }
        match r.service {
            Some(s) => {
                b.push(1);
                b.extend_from_slice(&s.0.to_le_bytes());
            }
            None => b.push(0),
        }
        // Only a request with a session adds bytes: ids of traces without sessions are unchanged.
        if let Some(s) = r.session {
            b.push(2);
            b.extend_from_slice(&s.to_le_bytes());
        }
        if let Some(a) = r.adapter {
            b.push(3);
            b.extend_from_slice(&a.to_le_bytes());
        }
        self.count += 1;
        if b.len() >= 1 << 15 {
            self.sha.update(&self.buf);
            self.buf.clear();
        }
    }

    /// Requests hashed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The trace id ([`IdKind::Trace`]: `tr-` and the first 16 bytes of the SHA-256, in hex).
    pub fn finish(mut self) -> String {
        self.sha.update(&self.buf);
        self.sha.update(b"servesim-trace-v1");
        self.sha.update(self.count.to_le_bytes());
        IdKind::Trace.from_digest(&self.sha.finalize()).into()
    }
}

/// The id of a whole trace held in memory.
pub fn trace_id(requests: &[Request], classes: &[String]) -> String {
    let mut h = TraceHasher::new(classes);
    for r in requests {
        h.push(r);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ClassId;
    use crate::time::SimTime;

    fn reqs() -> Vec<Request> {
        (0..5).map(|i| Request::new(i, SimTime(i * 10), 100 + i)).collect()
    }

    #[test]
    fn id_depends_on_every_field_and_on_class_names_not_numbers() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let base = trace_id(&reqs(), &classes);
        assert_eq!(base, trace_id(&reqs(), &classes));
        let mut r = reqs();
        r[3].input_size += 1;
        assert_ne!(base, trace_id(&r, &classes));
        let mut r = reqs();
        r[0].cache_key = Some(0);
        assert_ne!(base, trace_id(&r, &classes));
        let mut r = reqs();
        r[1].class = ClassId(1);
        let swapped = vec!["b".to_string(), "a".to_string()];
        let mut r2 = reqs();
        for q in &mut r2 {
            q.class = ClassId(1);
        }
        r2[1].class = ClassId(0);
        assert_eq!(trace_id(&r, &classes), trace_id(&r2, &swapped));
    }

    /// The id as it was built by hand before `artifact::IdKind`: `tr-` + hex of 16 digest bytes.
    #[test]
    fn id_equals_the_hand_built_one() {
        let classes = vec!["a".to_string()];
        let mut sha = Sha256::new();
        let mut h = TraceHasher::new(&classes);
        for r in reqs() {
            h.push(&r);
        }
        sha.update(&h.buf);
        sha.update(b"servesim-trace-v1");
        sha.update(5u64.to_le_bytes());
        let by_hand = format!("tr-{}", artifact::hex(&sha.finalize()[..16]));
        assert_eq!(h.finish(), by_hand);
    }
}
