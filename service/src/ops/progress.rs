//! How a long operation reports how far it is: not at all, a bar on stderr (the CLI), or a
//! callback (a notebook's progress bar in the Python module).

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `f(done, total)`: called from the threads doing the work, so it must be cheap and thread-safe.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Where progress goes.
#[derive(Clone, Default)]
pub enum Progress {
    /// Nowhere.
    #[default]
    Hidden,
    /// A bar on stderr, drawn by indicatif (for runs long enough to be worth one).
    Bar,
    /// Every update, to a callback.
    Callback(ProgressFn),
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Progress::Hidden => "Hidden",
            Progress::Bar => "Bar",
            Progress::Callback(_) => "Callback",
        })
    }
}

/// One operation's progress counter over `total` units.
pub(crate) struct Reporter {
    bar: ProgressBar,
    callback: Option<ProgressFn>,
    done: AtomicU64,
    total: u64,
}

impl Reporter {
    /// A counter of `total` units: a bar with `template` if `progress` asks for one and `show_bar`
    /// (a short run finishes before a bar is worth drawing), else hidden or the callback.
    pub(crate) fn new(progress: &Progress, total: u64, template: &str, show_bar: bool) -> Reporter {
        let bar = match progress {
            Progress::Bar if show_bar => {
                let bar = ProgressBar::new(total);
                bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
                bar
            }
            _ => ProgressBar::hidden(),
        };
        let callback = match progress {
            Progress::Callback(f) => Some(f.clone()),
            _ => None,
        };
        Reporter { bar, callback, done: AtomicU64::new(0), total }
    }

    /// `done` units of `total` are finished.
    pub(crate) fn set(&self, done: u64) {
        self.bar.set_position(done);
        self.done.store(done, Ordering::Relaxed);
        if let Some(f) = &self.callback {
            f(done, self.total);
        }
    }

    /// One more unit is finished.
    pub(crate) fn inc(&self) {
        self.bar.inc(1);
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(f) = &self.callback {
            f(done, self.total);
        }
    }

    /// The work is over: the bar is cleared, the callback told that everything is done.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
        if let Some(f) = &self.callback {
            f(self.total, self.total);
        }
    }
}
