//! Content ids: `<prefix>` + the first N hex digits of the SHA-256 of an artifact's canonical
//! bytes.
//!
//! Every id servesim writes is built here, so that its prefix and length are stated once. What
//! the canonical bytes are is the owner's business (a run's key string, a trace's request
//! encoding, a model's `.onnx` bytes…); the kind says how the digest becomes an id.

use sha2::{Digest, Sha256};
use std::fmt;

/// The kinds of content id: each has one prefix and one digest length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// `run-` + 16 hex: a simulate or replay run over its key (kind, config hash, trace id, seed,
    /// version, …).
    Run,
    /// `val-` + 16 hex: a `validate` run over (config, trace id, profile hash, seed).
    Validation,
    /// `gate-` + 16 hex: a gate decision over (the two run ids, the rules' hash).
    Gate,
    /// `swp-` + 16 hex: a sweep over (base config hash, grid, requests, version).
    Sweep,
    /// `fig-` + 32 hex: a course figure over its JSON data file.
    Figure,
    /// `mdl-` + 64 hex: a model over its `.onnx` bytes.
    Model,
    /// `prof-` + 32 hex: a calibration profile over its file.
    Profile,
    /// `tr-` + 32 hex: a trace over its canonical request encoding (`traces::id`).
    Trace,
    /// `ds-` + 64 hex: a data set over its canonical bytes (`kernels::data`).
    Dataset,
    /// `sha256:` + 64 hex: a plain file or config hash as manifests record it.
    Sha256,
}

impl IdKind {
    /// Every kind, in the order `lineage` tries prefixes.
    pub const ALL: [IdKind; 10] = [
        IdKind::Run,
        IdKind::Validation,
        IdKind::Gate,
        IdKind::Sweep,
        IdKind::Figure,
        IdKind::Model,
        IdKind::Trace,
        IdKind::Profile,
        IdKind::Dataset,
        IdKind::Sha256,
    ];

    /// The prefix, separator included (`run-`, `sha256:`).
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Run => "run-",
            IdKind::Validation => "val-",
            IdKind::Gate => "gate-",
            IdKind::Sweep => "swp-",
            IdKind::Figure => "fig-",
            IdKind::Model => "mdl-",
            IdKind::Profile => "prof-",
            IdKind::Trace => "tr-",
            IdKind::Dataset => "ds-",
            IdKind::Sha256 => "sha256:",
        }
    }

    /// How many hex digits of the SHA-256 the id keeps.
    pub const fn hex_len(self) -> usize {
        match self {
            IdKind::Run | IdKind::Validation | IdKind::Gate | IdKind::Sweep => 16,
            IdKind::Figure | IdKind::Profile | IdKind::Trace => 32,
            IdKind::Model | IdKind::Dataset | IdKind::Sha256 => 64,
        }
    }

    /// The id of `bytes`: prefix + the first [`IdKind::hex_len`] hex digits of SHA-256(`bytes`).
    pub fn of(self, bytes: impl AsRef<[u8]>) -> ContentId {
        self.from_digest(&Sha256::digest(bytes.as_ref()))
    }

    /// The id of a digest computed elsewhere (an incremental hash): prefix + its hex, truncated.
    pub fn from_digest(self, digest: &[u8]) -> ContentId {
        let h = hex(digest);
        ContentId { kind: self, text: format!("{}{}", self.prefix(), &h[..self.hex_len().min(h.len())]) }
    }

    /// The kind whose prefix `id` starts with.
    pub fn of_id(id: &str) -> Option<IdKind> {
        IdKind::ALL.into_iter().find(|k| id.starts_with(k.prefix()))
    }

    /// Whether `id` is a well-formed id of this kind (prefix, then exactly `hex_len` lower-case
    /// hex digits).
    pub fn matches(self, id: &str) -> bool {
        id.strip_prefix(self.prefix()).is_some_and(|h| {
            h.len() == self.hex_len() && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }
}

/// A content id: its kind and its text (`run-0123456789abcdef`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentId {
    kind: IdKind,
    text: String,
}

impl ContentId {
    /// Its kind.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The hex digest after the prefix.
    pub fn digest_hex(&self) -> &str {
        &self.text[self.kind.prefix().len()..]
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<ContentId> for String {
    fn from(id: ContentId) -> String {
        id.text
    }
}

impl AsRef<str> for ContentId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for ContentId {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for ContentId {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Lower-case hex SHA-256 of `bytes` (64 digits, no prefix): what manifests list per file.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(bytes.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids as the call sites built them by hand before this module existed.
    #[test]
    fn ids_equal_the_hand_built_ones() {
        let bytes = b"servesim-run-v1\0simulate\0sha256:00\0tr-00\x007\x000.1.0";
        let sha = sha256_hex(bytes);
        assert_eq!(IdKind::Run.of(bytes).as_str(), format!("run-{}", &sha[..16]));
        assert_eq!(IdKind::Validation.of(bytes).as_str(), format!("val-{}", &sha[..16]));
        assert_eq!(IdKind::Gate.of(bytes).as_str(), format!("gate-{}", &sha[..16]));
        assert_eq!(IdKind::Sweep.of(bytes).as_str(), format!("swp-{}", &sha[..16]));
        assert_eq!(IdKind::Figure.of(bytes).as_str(), format!("fig-{}", &sha[..32]));
        assert_eq!(IdKind::Profile.of(bytes).as_str(), format!("prof-{}", &sha[..32]));
        assert_eq!(IdKind::Model.of(bytes).as_str(), format!("mdl-{sha}"));
        assert_eq!(IdKind::Dataset.of(bytes).as_str(), format!("ds-{sha}"));
        assert_eq!(IdKind::Sha256.of(bytes).as_str(), format!("sha256:{sha}"));
        let digest = Sha256::digest(bytes);
        assert_eq!(IdKind::Trace.from_digest(&digest).as_str(), format!("tr-{}", hex(&digest[..16])));
    }

    /// A pinned value, so that a change to hashing or hex formatting cannot pass unnoticed.
    #[test]
    fn pinned_sha256_of_empty_input() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(IdKind::Run.of(b"").as_str(), "run-e3b0c44298fc1c14");
    }

    #[test]
    fn kinds_are_recognized_by_prefix_and_shape() {
        for k in IdKind::ALL {
            let id = k.of(b"x");
            assert_eq!(IdKind::of_id(id.as_str()), Some(k));
            assert!(k.matches(id.as_str()));
            assert_eq!(id.digest_hex().len(), k.hex_len());
            assert!(!k.matches(&format!("{id}0")));
        }
        assert_eq!(IdKind::of_id("nope-1"), None);
        let prefixes: std::collections::HashSet<_> = IdKind::ALL.iter().map(|k| k.prefix()).collect();
        assert_eq!(prefixes.len(), IdKind::ALL.len());
    }
}
