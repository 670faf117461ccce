//! The Python module and the notebooks, under the README's one test command.
//!
//! Builds a project-local virtual environment in the target directory (`<target>/python/venv`,
//! reused while it holds `python/requirements-test.txt` for the same interpreter), installs those
//! pinned packages from PyPI, builds the `servesim` wheel from this workspace with maturin (into the
//! same target directory, so the crates it shares with the tests are not built twice), installs it,
//! and runs `pytest python/tests` — the Python tests compare every result with this build's
//! `servesim` binary, and execute every notebook in `notebooks/` with nbclient.
//!
//! Needs CPython ≥ 3.10 with `venv` and `pip` (`python3`, or `SERVESIM_PYTHON`): without one the
//! test fails and says so; it is never skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The cargo target directory this test was built into (`<target>/debug/deps/python-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors().nth(3).expect("the test runs from <target>/<profile>/deps").to_path_buf()
}

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The interpreter to build the environment from; fails loudly where there is none.
fn base_python() -> (String, String) {
    let python = std::env::var("SERVESIM_PYTHON").unwrap_or_else(|_| "python3".into());
    let version = Command::new(&python)
        .args([
            "-c",
            "import sys, venv, ensurepip; assert sys.version_info >= (3, 10), sys.version; print(sys.version)",
        ])
        .output();
    match version {
        Ok(o) if o.status.success() => (python, String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => panic!(
            "`{python}` cannot build the Python test environment (CPython ≥ 3.10 with venv and ensurepip \
             needed): {}\nDebian: apt-get install python3 python3-venv; or set SERVESIM_PYTHON",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "no `{python}` to run the Python module's tests and the notebooks ({e}): install CPython ≥ 3.10 \
             with venv and pip (Debian: apt-get install python3 python3-venv), or set SERVESIM_PYTHON"
        ),
    }
}

/// `<target>/python/venv` with the pinned test requirements, built or reused.
fn venv(dir: &Path) -> PathBuf {
    let (python, version) = base_python();
    let requirements = Path::new(ROOT).join("python/requirements-test.txt");
    let wanted = format!("{version}\n{}", std::fs::read_to_string(&requirements).expect("requirements-test.txt"));
    let venv = dir.join("venv");
    let stamp = venv.join("servesim-requirements.txt");
    let bin = venv.join("bin/python");
    let valid = std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted)
        && Command::new(&bin)
            .args(["-c", "import maturin, pytest, nbclient, nbconvert, ipykernel, pandas"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !valid {
        run("creating the virtual environment", Command::new(&python).args(["-m", "venv", "--clear"]).arg(&venv));
        run(
            "installing python/requirements-test.txt from PyPI",
            Command::new(&bin)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
        );
        std::fs::write(&stamp, wanted).expect("writing the environment's stamp");
    }
    venv
}

#[test]
fn python_module_and_notebooks() {
    let target = target_dir();
    let dir = target.join("python");
    std::fs::create_dir_all(&dir).expect("creating <target>/python");
    let venv = venv(&dir);
    let bin = venv.join("bin");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    // The wheel, built from this workspace into the shared target directory.
    let wheels = dir.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    run(
        "maturin build",
        Command::new(bin.join("maturin"))
            .args(["build", "--quiet", "--manifest-path"])
            .arg(Path::new(ROOT).join("python/Cargo.toml"))
            .arg("--out")
            .arg(&wheels)
            .arg("--interpreter")
            .arg(bin.join("python"))
            .env("CARGO_TARGET_DIR", &target)
            .env("PATH", &path),
    );
    let wheel: Vec<PathBuf> = std::fs::read_dir(&wheels)
        .expect("maturin's output directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheel.len(), 1, "maturin built {wheel:?}");
    run(
        "installing the wheel",
        Command::new(bin.join("python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--force-reinstall", "--no-deps"])
            .arg(&wheel[0]),
    );

    // Python tests (and the package's doctests), then every notebook (python/tests/test_notebooks.py).
    let jupyter = dir.join("jupyter");
    std::fs::create_dir_all(jupyter.join("ipython")).expect("creating <target>/python/jupyter");
    let out = run(
        "pytest python/tests",
        Command::new(bin.join("python"))
            .args(["-m", "pytest", "python/tests", "-p", "no:cacheprovider", "-q", "-rA"])
            .args(["--doctest-modules", "--pyargs", "servesim"])
            .current_dir(ROOT)
            .env("SERVESIM_BIN", env!("CARGO_BIN_EXE_servesim"))
            .env("SERVESIM_ROOT", ROOT)
            .env("PATH", &path)
            .env("JUPYTER_RUNTIME_DIR", jupyter.join("runtime"))
            .env("IPYTHONDIR", jupyter.join("ipython"))
            .env("PYDEVD_DISABLE_FILE_VALIDATION", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    eprintln!("pytest: {summary}");
    assert!(summary.contains("passed") && !summary.contains("failed") && !summary.contains("skipped"), "{stdout}");
}
