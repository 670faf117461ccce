//! Records the git commit the binary was built from (for run manifests).
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SERVESIM_GIT_COMMIT={commit}");
    // Re-run when HEAD moves. In a linked worktree `.git` is a file: HEAD lives in the worktree's
    // own git directory and the branches in the common one, so ask git where both are.
    let git_dir = git(&["rev-parse", "--git-dir"]);
    let common = git(&["rev-parse", "--git-common-dir"]).or_else(|| git_dir.clone());
    let mut watched = Vec::new();
    if let Some(d) = &git_dir {
        watched.push(format!("{d}/HEAD"));
    }
    if let Some(c) = &common {
        watched.push(format!("{c}/refs/heads"));
        watched.push(format!("{c}/packed-refs"));
    }
    for f in watched {
        if std::path::Path::new(&f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
