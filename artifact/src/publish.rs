//! Atomic writes: nothing half-written is ever visible under an artifact's name.
//!
//! - Files ([`write_file`], [`write_file_with`]): written to a temporary file beside the target
//!   (`.<name>.tmp-…`, same directory so the rename stays on one file system), synced, then
//!   persisted over the target with one `rename`. A reader sees the old file or the new one;
//!   a failed write removes the temporary file and leaves the target as it was.
//! - Directories ([`StagedDir`]): built in `.tmp-<name>-<random>-<pid>/` beside the target
//!   (the pid lets a later writer remove directories of killed processes), then published:
//!   - no target yet: one `rename`;
//!   - replacing a target, on Linux: one `renameat2(RENAME_EXCHANGE)` swaps the two directories,
//!     then the old one (now under the temporary name) is deleted. There is no moment without a
//!     complete directory under the target's name (tested by a reader racing the publisher);
//!   - replacing, where the exchange is unavailable (other systems, file systems without it):
//!     the old directory is renamed aside, the new one renamed in, then the old one deleted; if
//!     the second rename fails the old one is renamed back. Between the two renames the name is
//!     briefly absent, but never names a partial directory.
//!
//!   A dropped, unpublished `StagedDir` deletes its temporary directory.
//!
//! Permissions are those of `File::create` / `create_dir` (0o666 / 0o777 less the umask), not
//! `tempfile`'s private defaults, so published artifacts look like any other output.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tempfile::{Builder, TempDir};

/// A failed [`write_file_with`]: the file system, or the caller's writer.
#[derive(Debug)]
pub enum WriteError<E> {
    /// Creating, syncing or persisting the file failed.
    Io(io::Error),
    /// The writer closure failed.
    Write(E),
}

/// Gives `b` the permissions `File::create` / `create_dir` would (`mode` less the umask) instead
/// of `tempfile`'s owner-only ones.
fn ordinary<'r, 'a, 'b>(b: &'r mut Builder<'a, 'b>, mode: u32) -> &'r mut Builder<'a, 'b> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    b
}

fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "out".to_string(), |n| n.to_string_lossy().into_owned())
}

/// Writes `bytes` to `path` atomically (see the module docs). The parent directory must exist.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file_with(path, |f| f.write_all(bytes)).map_err(|e| match e {
        WriteError::Io(e) | WriteError::Write(e) => e,
    })
}

/// Writes `path` atomically with `write`, which fills the temporary file (for writers that want
/// a `File`, such as Parquet). The parent directory must exist.
pub fn write_file_with<E>(path: &Path, write: impl FnOnce(&mut File) -> Result<(), E>) -> Result<(), WriteError<E>> {
    let mut tmp = ordinary(Builder::new().prefix(&format!(".{}.tmp-", file_name(path))), 0o666)
        .tempfile_in(parent_of(path))
        .map_err(WriteError::Io)?;
    write(tmp.as_file_mut()).map_err(WriteError::Write)?;
    tmp.as_file().sync_all().map_err(WriteError::Io)?;
    tmp.persist(path).map_err(|e| WriteError::Io(e.error))?;
    Ok(())
}

/// A directory being built beside its target, published in one step (see the module docs).
#[derive(Debug)]
pub struct StagedDir {
    tmp: Option<TempDir>,
    target: PathBuf,
}

impl StagedDir {
    /// Starts a directory to be published as `target`. Its parent must exist.
    pub fn new(target: &Path) -> io::Result<StagedDir> {
        let (prefix, suffix) = (format!(".tmp-{}-", file_name(target)), format!("-{}", std::process::id()));
        let tmp = ordinary(Builder::new().prefix(&prefix).suffix(&suffix), 0o777).tempdir_in(parent_of(target))?;
        Ok(StagedDir { tmp: Some(tmp), target: target.to_path_buf() })
    }

    /// Where to write the directory's contents until it is published.
    pub fn path(&self) -> &Path {
        self.tmp.as_ref().map_or(Path::new(""), TempDir::path)
    }

    /// The name it will be published under.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Removes directories staged beside targets in `parent` by processes that no longer exist
    /// (a writer killed with SIGKILL cannot clean up). Only `.tmp-…-<pid>` directories whose pid
    /// is gone are touched; without `/proc` nothing is removed.
    pub fn remove_abandoned(parent: &Path) {
        let Ok(entries) = fs::read_dir(parent) else { return };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) =
                name.strip_prefix(".tmp-").and_then(|rest| rest.rsplit('-').next()).and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let alive = Path::new(&format!("/proc/{pid}")).exists() || !Path::new("/proc/self").exists();
            if !alive && e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// Publishes the directory as its target. An existing target is replaced when `replace`
    /// holds (without a gap on Linux), else the call fails with `AlreadyExists` and nothing
    /// changes (the staged directory is deleted).
    pub fn publish(mut self, replace: bool) -> io::Result<PathBuf> {
        let tmp = self.tmp.take().expect("a StagedDir is published once");
        // A symlink counts as an existing target too: it is replaced, never followed.
        let exists = fs::symlink_metadata(&self.target).is_ok();
        if !exists {
            fs::rename(tmp.path(), &self.target)?;
            let _ = tmp.keep();
            return Ok(self.target.clone());
        }
        if !replace {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", self.target.display()),
            ));
        }
        if exchange(tmp.path(), &self.target)? {
            // `tmp` now names the old directory: dropping it deletes it.
            drop(tmp);
            return Ok(self.target.clone());
        }
        let new = tmp.keep();
        let aside = new.with_file_name(format!("{}.old", file_name(&new)));
        if let Err(e) = fs::rename(&self.target, &aside) {
            let _ = fs::remove_dir_all(&new);
            return Err(e);
        }
        if let Err(e) = fs::rename(&new, &self.target) {
            let _ = fs::rename(&aside, &self.target);
            let _ = fs::remove_dir_all(&new);
            return Err(e);
        }
        let _ = fs::remove_dir_all(&aside);
        Ok(self.target.clone())
    }
}

/// Swaps `a` and `b` in one step. `Ok(false)` when this system or file system cannot.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(e)
            if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::OPNOTSUPP =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_file_is_replaced_whole_and_a_failed_write_leaves_the_old_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_file(&p, b"one").unwrap();
        write_file(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let failed = write_file_with(&p, |f| {
            f.write_all(b"half").unwrap();
            Err::<(), _>("writer failed")
        });
        assert!(matches!(failed, Err(WriteError::Write("writer failed"))));
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(d.path()), ["a.json"], "no temporary file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn files_and_directories_get_ordinary_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain");
        fs::write(&plain, b"x").unwrap();
        let ours = d.path().join("ours");
        write_file(&ours, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&plain));
        let plain_dir = d.path().join("plain-dir");
        fs::create_dir(&plain_dir).unwrap();
        let staged = StagedDir::new(&d.path().join("ours-dir")).unwrap();
        let ours_dir = staged.publish(false).unwrap();
        assert_eq!(mode(&ours_dir), mode(&plain_dir));
    }

    #[test]
    fn a_dropped_directory_leaves_nothing_and_an_existing_one_is_kept_without_replace() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out");
        {
            let s = StagedDir::new(&target).unwrap();
            fs::write(s.path().join("f"), b"x").unwrap();
            assert!(s.path().file_name().unwrap().to_string_lossy().starts_with(".tmp-out-"));
            assert!(s.path().to_string_lossy().ends_with(&format!("-{}", std::process::id())));
        }
        assert!(names(d.path()).is_empty());
        let s = StagedDir::new(&target).unwrap();
        fs::write(s.path().join("f"), b"old").unwrap();
        s.publish(false).unwrap();
        let s = StagedDir::new(&target).unwrap();
        fs::write(s.path().join("f"), b"new").unwrap();
        let err = s.publish(false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(target.join("f")).unwrap(), b"old");
        assert_eq!(names(d.path()), ["out"]);
    }

    #[test]
    fn abandoned_directories_of_dead_processes_are_removed_and_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        // Beyond Linux's pid_max (4,194,304): no such process.
        fs::create_dir(d.path().join(".tmp-run-0123-4194305")).unwrap();
        let live = StagedDir::new(&d.path().join("run")).unwrap();
        fs::create_dir(d.path().join("keep-4194305")).unwrap();
        StagedDir::remove_abandoned(d.path());
        let left = names(d.path());
        if Path::new("/proc/self").exists() {
            assert_eq!(left.len(), 2, "{left:?}");
        }
        assert!(left.contains(&"keep-4194305".to_string()));
        assert!(live.path().is_dir());
    }

    /// A reader racing the publisher always finds a complete directory: both files, from the
    /// same generation.
    #[test]
    fn replacing_a_directory_never_leaves_a_moment_without_a_complete_one() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out");
        let write_gen = |g: u32| {
            let s = StagedDir::new(&target).unwrap();
            fs::write(s.path().join("a"), g.to_string()).unwrap();
            fs::write(s.path().join("b"), g.to_string()).unwrap();
            s.publish(true).unwrap();
        };
        write_gen(0);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (stop, target) = (stop.clone(), target.clone());
            std::thread::spawn(move || {
                let (mut reads, mut misses) = (0u64, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    // Each read by path: the two may straddle a swap, so each file only has to be
                    // there and complete.
                    for f in ["a", "b"] {
                        match fs::read_to_string(target.join(f)) {
                            Ok(s) if !s.is_empty() => reads += 1,
                            other => misses.push(format!("{f}: {other:?}")),
                        }
                    }
                }
                (reads, misses)
            })
        };
        for g in 1..300 {
            write_gen(g);
        }
        stop.store(true, Ordering::Relaxed);
        let (reads, misses) = reader.join().unwrap();
        assert!(reads > 0);
        if cfg!(any(target_os = "linux", target_os = "android")) {
            assert!(
                misses.is_empty(),
                "{} of {} reads found no output: {:?}",
                misses.len(),
                reads,
                &misses[..3.min(misses.len())]
            );
        }
        assert_eq!(fs::read_to_string(target.join("a")).unwrap(), "299");
        assert_eq!(names(d.path()), ["out"], "no temporary or old directory left behind");
    }
}
