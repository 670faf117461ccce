//! The HTML reports render in a real browser: headless Chromium (Debian's `chromium`, installed
//! by this test with apt-get when missing) loads each report offline, with no console messages,
//! and its screenshot is not blank.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn servesim(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_servesim")).args(args).output().unwrap();
    assert!(out.status.success(), "servesim {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The Chromium binary, installed from Debian's packages if the machine has none.
fn chromium() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let find =
            || ["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from).into_iter().find(|p| p.is_file());
        if let Some(p) = find() {
            return p;
        }
        let run = |args: &[&str]| {
            let out =
                Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").output().unwrap_or_else(
                    |e| panic!("Chromium is missing and apt-get cannot run ({e}); install Debian's `chromium`"),
                );
            assert!(
                out.status.success(),
                "apt-get {args:?} failed: {}\ninstall Debian's `chromium` package by hand",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["update", "-qq"]);
        run(&["install", "-y", "-qq", "chromium"]);
        find().expect("apt-get installed chromium")
    })
}

/// The window the report is checked in: the review found figures and captions overflowing their
/// frames at this width.
const WINDOW: (usize, usize) = (1300, 2000);

/// A screenshot: RGB rows of `WINDOW.0` pixels.
struct Shot {
    rgb: Vec<[u8; 3]>,
}

impl Shot {
    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * WINDOW.0 + x]
    }
}

/// Screenshot of `page` at `WINDOW`; returns it and Chromium's stderr.
fn screenshot(page: &Path, tmp: &Path) -> (Shot, String) {
    let shot = tmp.join("shot.png");
    let profile = tmp.join("profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--hide-scrollbars",
            "--window-size=1300,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed on {}: {log}", page.display());
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    assert_eq!((info.width as usize, info.height as usize), WINDOW);
    let rgb = bytes.chunks(step).map(|p| [p[0], p[1], p[2]]).collect();
    (Shot { rgb }, log)
}

fn check(page: &Path, tmp: &Path) {
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("<svg") && !html.contains("src=\"http"), "self-contained, figures inlined");
    let (shot, log) = screenshot(page, tmp);
    // The figures are drawn: the palette's first colour (#0072B2, every figure's first series)
    // covers a visible area.
    let blue = shot.rgb.iter().filter(|p| **p == [0x00, 0x72, 0xB2]).count();
    assert!(blue > 300, "{}: {blue} pixels of the first series colour: figures not drawn", page.display());
    // Figures and captions share one column (≤ 1200 px, from x = 30 in a 1300-px window: the body
    // is 1240 px, centred): nothing is drawn right of a figure's frame, so no caption runs past it.
    let right = (1234..WINDOW.0).flat_map(|x| (0..WINDOW.1).map(move |y| (x, y)));
    let inked: Vec<(usize, usize)> = right.filter(|&(x, y)| shot.pixel(x, y).iter().any(|&c| c < 240)).collect();
    assert!(inked.is_empty(), "{}: drawn past the column at {:?}", page.display(), &inked[..inked.len().min(5)]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "{}: console messages: {console:?}", page.display());
}

#[test]
fn course_run_and_sweep_reports_render_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let course = tmp.path().join("course");
    let models = tmp.path().join("models");
    // (--no-notebooks: tests/python.rs executes them, through `servesim notebooks`.)
    servesim(&[
        "course",
        "--quick",
        "-o",
        course.to_str().unwrap(),
        "--models",
        models.to_str().unwrap(),
        "--no-notebooks",
    ]);
    check(&course.join("report.html"), tmp.path());

    let runs = tmp.path().join("runs");
    servesim(&["simulate", "-s", "llm", "-n", "2000", "-o", runs.to_str().unwrap()]);
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    servesim(&["figures", "--run", run.to_str().unwrap()]);
    let page = run.join("figures/report.html");
    assert!(std::fs::read_to_string(&page).unwrap().contains("TTFT"));
    check(&page, tmp.path());

    let sweeps = tmp.path().join("sweeps");
    servesim(&[
        "sweep",
        "-s",
        "mm1",
        "-n",
        "5000",
        "--vary",
        "workload.arrivals.rate=20,50,80",
        "-o",
        sweeps.to_str().unwrap(),
    ]);
    let sweep = std::fs::read_dir(&sweeps).unwrap().next().unwrap().unwrap().path();
    let out = tmp.path().join("sweep-figures");
    servesim(&["figures", "--sweep", sweep.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    for f in ["latency_ms-p99.svg", "throughput_per_s.png", "report.html"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    check(&out.join("report.html"), tmp.path());
}
