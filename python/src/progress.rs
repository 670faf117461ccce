//! Long operations with a Python progress callback: the work runs on a worker thread with the GIL
//! released, reporting through `servesim::ops::progress::Progress::Callback` into two counters;
//! the calling thread — the one a notebook's output belongs to — polls them and calls the Python
//! callback `f(done, total)` when they move. Without a callback the work runs on the calling
//! thread, GIL released.

use pyo3::prelude::*;
use servesim::ops::progress::Progress;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Runs `work` with a `Progress` that reaches `callback` (if any) from this thread.
pub(crate) fn run<T: Send>(
    py: Python<'_>,
    callback: Option<Py<PyAny>>,
    work: impl FnOnce(Progress) -> T + Send,
) -> PyResult<T> {
    let Some(callback) = callback else {
        return Ok(py.detach(|| work(Progress::Hidden)));
    };
    let counters = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let seen = counters.clone();
    let progress = Progress::Callback(Arc::new(move |done, total| {
        seen.1.store(total, Ordering::Relaxed);
        seen.0.store(done, Ordering::Relaxed);
    }));
    std::thread::scope(|s| {
        let worker = s.spawn(move || work(progress));
        let mut shown = (u64::MAX, u64::MAX);
        let mut failed = None;
        loop {
            let finished = py.detach(|| {
                for _ in 0..10 {
                    if worker.is_finished() {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                worker.is_finished()
            });
            let now = (counters.0.load(Ordering::Relaxed), counters.1.load(Ordering::Relaxed));
            if now != shown && now.1 > 0 && failed.is_none() {
                shown = now;
                // A callback that raises stops the updates; the error is raised once the work is over.
                if let Err(e) = callback.call1(py, now) {
                    failed = Some(e);
                }
            }
            if finished {
                break;
            }
        }
        let out = py.detach(|| worker.join()).map_err(|_| crate::error::other("the worker thread panicked"))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}
