//! `servesim notebooks`: the chapter's notebooks executed and rendered to HTML.

use anyhow::{Result, anyhow};
use clap::Args;
use servesim::notebooks::{NotebooksRequest, Rendered, render, verdict};
use std::path::PathBuf;

/// Execute the chapter's notebooks and render them to HTML.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim notebooks                          # notebooks/*.ipynb -> notebooks-html/*.html
  servesim notebooks --dir notebooks --out /tmp/nb --python ~/venvs/servesim/bin/python

Runs `python -m nbconvert --to html --execute` on each notebook, in the Python that has the
servesim module and nbconvert: --python, else SERVESIM_PYTHON, else the test suite's environment
beside this binary (<target>/python/venv), else python3. Exits 1 when there is no such Python or
a notebook raises (naming it and the cell).")]
pub struct NotebooksArgs {
    /// Directory of the notebooks (*.ipynb).
    #[arg(long, default_value = "notebooks", value_name = "DIR")]
    pub dir: PathBuf,
    /// Directory of the HTML files.
    #[arg(long, short = 'o', default_value = "notebooks-html", value_name = "DIR")]
    pub out: PathBuf,
    /// The Python to execute them with.
    #[arg(long, value_name = "FILE")]
    pub python: Option<PathBuf>,
}

/// Prints one line per notebook: its HTML file and the verdict it printed.
pub fn print_rendered(r: &Rendered) {
    for h in &r.html {
        let v = verdict(h).unwrap_or_else(|| "no verdict printed".into());
        println!("{}  {v}", h.display());
    }
}

/// Runs the command.
pub fn run(args: &NotebooksArgs) -> Result<()> {
    let r = render(&NotebooksRequest { dir: args.dir.clone(), out: args.out.clone(), python: args.python.clone() })?;
    if let Some(why) = &r.skipped {
        return Err(anyhow!("notebooks not executed: {why}"));
    }
    print_rendered(&r);
    println!("{} notebooks executed with {} -> {}", r.html.len(), r.python, args.out.display());
    Ok(())
}
