//! The chapter's notebooks executed and rendered to HTML, for `servesim notebooks` and the last
//! step of `servesim course`.
//!
//! Execution and rendering are Jupyter's own: `python -m nbconvert --to html --execute`, in the
//! Python environment that has the `servesim` module and nbconvert — the project-local one the
//! test suite builds (`<target>/python/venv`, found beside this binary), `SERVESIM_PYTHON`, or
//! `python3`. Without such a Python nothing is executed and [`Rendered::skipped`] says why; the
//! caller renders the rest. A notebook that raises fails the whole step, naming the notebook and
//! the cell (nbconvert's message).

use crate::error::input;
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Notebooks to render.
#[derive(Clone, Debug)]
pub struct NotebooksRequest {
    /// The directory of `*.ipynb`.
    pub dir: PathBuf,
    /// Where the HTML files go (created).
    pub out: PathBuf,
    /// The Python to run them with (default: see [`find_python`]).
    pub python: Option<PathBuf>,
}

/// What was rendered.
#[derive(Debug)]
pub struct Rendered {
    /// The Python used (or the one that was tried).
    pub python: String,
    /// `out/<stem>.html`, one per notebook, in name order.
    pub html: Vec<PathBuf>,
    /// Why nothing was executed (no Python, or one without servesim and nbconvert).
    pub skipped: Option<String>,
}

/// The Python to run notebooks with: `SERVESIM_PYTHON`, else the test suite's project-local
/// environment beside this binary (`<target>/python/venv/bin/python` for `<target>/<profile>/servesim`),
/// else `python3`.
pub fn find_python() -> PathBuf {
    if let Some(p) = std::env::var_os("SERVESIM_PYTHON") {
        return PathBuf::from(p);
    }
    let beside =
        std::env::current_exe().ok().and_then(|exe| exe.parent()?.parent().map(|t| t.join("python/venv/bin/python")));
    match beside {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("python3"),
    }
}

/// Executes every notebook of `req.dir` and writes `req.out/<stem>.html`.
pub fn render(req: &NotebooksRequest) -> Result<Rendered> {
    let mut notebooks: Vec<PathBuf> = std::fs::read_dir(&req.dir)
        .map_err(|e| input(format!("{}: cannot read the notebooks directory: {e}", req.dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        .collect();
    notebooks.sort();
    let python = req.python.clone().unwrap_or_else(find_python);
    let shown = python.display().to_string();
    let check = Command::new(&python).args(["-c", "import servesim, nbconvert, nbclient, ipykernel"]).output();
    let why = match check {
        Err(e) => Some(format!("no Python 3 at `{shown}` ({e}): install one, or set SERVESIM_PYTHON")),
        Ok(o) if !o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            Some(format!(
                "`{shown}` cannot import servesim, nbconvert, nbclient and ipykernel ({}); `cargo test --test python` \
                 builds such an environment in the target directory, or set SERVESIM_PYTHON",
                err.lines().last().unwrap_or("").trim()
            ))
        }
        Ok(_) => None,
    };
    if why.is_some() {
        return Ok(Rendered { python: shown, html: Vec::new(), skipped: why });
    }
    std::fs::create_dir_all(&req.out).with_context(|| format!("creating {}", req.out.display()))?;
    // Jupyter's runtime files (kernel connection files) and IPython's profile go to a scratch
    // directory, not into the user's home.
    let scratch = artifact::StagedDir::new(&req.out.join(".jupyter"))
        .with_context(|| format!("creating a scratch directory in {}", req.out.display()))?;
    let mut html = Vec::new();
    for nb in &notebooks {
        let stem = nb.file_stem().and_then(|s| s.to_str()).ok_or_else(|| anyhow!("{}: no file name", nb.display()))?;
        let o = Command::new(&python)
            .args(["-m", "nbconvert", "--to", "html", "--execute", "--ExecutePreprocessor.timeout=600"])
            .arg("--output-dir")
            .arg(&req.out)
            .args(["--output", stem])
            .arg(nb)
            .env("JUPYTER_RUNTIME_DIR", scratch.path().join("runtime"))
            .env("IPYTHONDIR", scratch.path().join("ipython"))
            .env("PYDEVD_DISABLE_FILE_VALIDATION", "1")
            .output()
            .with_context(|| format!("running {shown} -m nbconvert"))?;
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = err.lines().rev().take(25).collect();
            return Err(anyhow!(
                "{}: executing the notebook failed:\n{}",
                nb.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        html.push(req.out.join(format!("{stem}.html")));
    }
    drop(scratch);
    Ok(Rendered { python: shown, html, skipped: None })
}

/// The verdict line a notebook printed (`verdict: …`), from its rendered HTML.
pub fn verdict(html: &Path) -> Option<String> {
    let text = std::fs::read_to_string(html).ok()?;
    let at = text.rfind("verdict: ")?;
    let line = text[at..].lines().next()?;
    Some(
        line.replace("&gt;", ">")
            .replace("&lt;", "<")
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'"),
    )
}
