//! The build end to end on the tiny preset: files, ids, cards, links, determinism, atomicity.

use std::fs;
use std::path::Path;

use kernels::onnx::{Imported, decode, import};
use kernels::pipeline::model_id;
use kernels::{BuildOptions, BuildReport, KernelsError, Preset, Progress, build};
use serde_json::Value;

fn opts(dir: &Path, seed: u64) -> BuildOptions {
    BuildOptions {
        out_dir: dir.to_path_buf(),
        preset: Preset::Tiny,
        seed,
        created_by: "servesim 0.1.0 (test)".into(),
        overwrite: false,
    }
}

fn run(dir: &Path, seed: u64) -> (BuildReport, Vec<Progress>) {
    let mut events = Vec::new();
    let report = build(&opts(dir, seed), &mut |p| events.push(p)).unwrap();
    (report, events)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

const MODELS: [&str; 5] = ["teacher-fp32", "teacher-int8", "student-fp32", "student-int8", "student-hard-fp32"];

#[test]
fn same_seed_gives_byte_identical_outputs_and_a_new_seed_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    let (ra, _) = run(&a, 11);
    let (rb, _) = run(&b, 11);
    let mut names: Vec<String> =
        fs::read_dir(&a).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut want: Vec<String> = MODELS.iter().flat_map(|m| [format!("{m}.onnx"), format!("{m}.card.json")]).collect();
    want.extend(["dataset.json", "index.json", "int4_preview.json", "test_split.csv"].map(String::from));
    want.sort();
    assert_eq!(names, want);
    for name in &names {
        assert_eq!(fs::read(a.join(name)).unwrap(), fs::read(b.join(name)).unwrap(), "{name} differs between runs");
    }
    let ids = |r: &BuildReport| r.models.iter().map(|m| m.card.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&ra), ids(&rb));

    let (rc, _) = run(&c, 12);
    assert_eq!(ra.dataset_id, rc.dataset_id, "the dataset id names the data, not the split");
    assert_ne!(ids(&ra), ids(&rc));
    assert_ne!(fs::read(a.join("test_split.csv")).unwrap(), fs::read(c.join("test_split.csv")).unwrap());
}

#[test]
fn cards_index_and_files_are_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let (report, events) = run(&dir, 3);
    assert!(!fs::read_dir(tmp.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".tmp")));

    // Progress: every stage, and epochs for each trained model.
    let stages: Vec<&str> =
        events.iter().filter_map(|e| if let Progress::Stage(s) = e { Some(s.as_str()) } else { None }).collect();
    assert_eq!(stages, ["data", "teacher", "student", "student-hard", "quantize", "export", "write"]);
    for model in ["teacher", "student", "student-hard"] {
        let epochs: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Progress::Epoch { model: m, stats, .. } if m == model => Some(stats.epoch),
                _ => None,
            })
            .collect();
        assert!(!epochs.is_empty() && epochs.iter().enumerate().all(|(i, &e)| e == i + 1), "{model}: {epochs:?}");
    }

    let dataset = json(&dir.join("dataset.json"));
    let index = json(&dir.join("index.json"));
    assert_eq!(index["dataset_id"], dataset["id"]);
    assert_eq!(index["models"].as_array().unwrap().len(), 5);
    let mut ids = std::collections::HashMap::new();
    for (entry, name) in index["models"].as_array().unwrap().iter().zip(MODELS) {
        assert_eq!(entry["name"], name);
        let bytes = fs::read(dir.join(entry["file"].as_str().unwrap())).unwrap();
        let card = json(&dir.join(entry["card"].as_str().unwrap()));
        assert_eq!(card["id"].as_str().unwrap(), model_id(&bytes), "{name}: id is the hash of the file");
        assert_eq!(card["id"], entry["id"]);
        assert_eq!(card["dataset_id"], dataset["id"]);
        assert_eq!(card["split_seed"], 3);
        assert_eq!(card["created_by"], "servesim 0.1.0 (test)");
        assert_eq!(card["version"], format!("{}+tiny", env!("CARGO_PKG_VERSION")));
        assert_eq!(card["schema"], "servesim.model-card/1");
        let acc = card["metrics"]["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        // The ONNX file holds exactly the parameters the card counts.
        let (params, precision) = match import(&bytes).unwrap() {
            Imported::Fp32(m) => (m.param_count(), "fp32"),
            Imported::Int8(m) => (m.layers.iter().map(|l| l.weights.q.len() + l.bias.len()).sum(), "int8"),
        };
        assert_eq!(card["parameter_count"], params);
        assert_eq!(card["precision"], precision);
        assert_eq!(card["quantization"].is_null(), precision == "fp32");
        assert_eq!(card["training"].is_null(), precision == "int8");
        let meta = decode(&bytes).unwrap().metadata_props;
        assert!(meta.iter().any(|p| p.key == "servesim.dataset_id" && p.value == dataset["id"].as_str().unwrap()));
        ids.insert(name, card);
    }
    let id = |n: &str| ids[n]["id"].clone();
    let parent = |n: &str| ids[n]["parent_id"].clone();
    assert!(parent("teacher-fp32").is_null());
    assert_eq!(parent("teacher-int8"), id("teacher-fp32"));
    assert_eq!(parent("student-fp32"), id("teacher-fp32"));
    assert_eq!(ids["student-fp32"]["relation"], "distilled-from");
    assert_eq!(parent("student-int8"), id("student-fp32"));
    assert!(parent("student-hard-fp32").is_null());
    assert_eq!(ids["student-fp32"]["training"]["objective"], "distillation");
    assert_eq!(ids["student-hard-fp32"]["training"]["objective"], "hard-labels");

    // Sizes: the student is at least 10x smaller; int8 stores about a quarter of fp32's bytes.
    let p = |n: &str| ids[n]["parameter_count"].as_u64().unwrap();
    let bytes = |n: &str| ids[n]["weight_bytes"].as_u64().unwrap();
    assert!(p("teacher-fp32") >= 10 * p("student-fp32"));
    assert_eq!(bytes("teacher-fp32"), 4 * p("teacher-fp32"));
    assert!(bytes("teacher-int8") * 3 < bytes("teacher-fp32"));

    // The test split file: a header, one row per test example, standardized features and labels.
    let csv = fs::read_to_string(dir.join("test_split.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len() - 1, dataset["split_sizes"]["test"].as_u64().unwrap() as usize);
    assert_eq!(lines[0].split(',').count(), 1 + 11 + 1);
    assert_eq!(report.models.len(), 5);
    assert!(report.models.iter().all(|m| m.path.exists()));
}

#[test]
fn the_teacher_learns_and_the_reports_compare_students_and_precisions() {
    let tmp = tempfile::tempdir().unwrap();
    let (report, _) = run(&tmp.path().join("out"), 42);
    let data = kernels::data::Dataset::split(&kernels::data::RawData::wine_quality(), 42).unwrap();
    let majority = data.test_majority_rate();
    let card = |n: &str| &report.models.iter().find(|m| m.card.name == n).unwrap().card;
    let teacher = card("teacher-fp32").metrics.accuracy;
    assert!(teacher > majority + 0.08, "teacher {teacher} vs majority rate {majority}");

    let d = &report.distillation;
    assert_eq!(d.teacher_accuracy, teacher);
    assert_eq!(d.distilled, card("student-fp32").metrics);
    assert_eq!(d.hard_label, card("student-hard-fp32").metrics);
    assert!((d.accuracy_gain - (d.distilled.accuracy - d.hard_label.accuracy)).abs() < 1e-12);
    for m in [&d.distilled, &d.hard_label] {
        assert!(m.accuracy > majority, "a student at {} does not beat the majority rate {majority}", m.accuracy);
        let agree = m.agreement_with_teacher.unwrap();
        assert!((0.0..=1.0).contains(&agree));
        assert!(m.kl_to_teacher.unwrap() > 0.0);
    }
    let n = d.distilled.test_examples as f64;
    let gain_in_examples = d.only_distilled_correct as f64 - d.only_hard_label_correct as f64;
    assert!((gain_in_examples / n - d.accuracy_gain).abs() < 1e-9);
    assert!((0.0..=1.0).contains(&d.mcnemar_p));
    let stated = if d.accuracy_gain > 0.0 {
        "the distilled student is more accurate"
    } else if d.accuracy_gain < 0.0 {
        "distillation did not improve accuracy"
    } else {
        "the same test accuracy"
    };
    assert!(d.verdict.contains(stated), "{}", d.verdict);

    for name in ["teacher-int8", "student-int8"] {
        let q = card(name).quantization.as_ref().unwrap();
        assert_eq!(q.weight_range, [-63, 63]);
        assert!(q.model.top1_agreement_with_fp32 >= 0.95, "{name}: {:?}", q.model);
        assert!(q.tensors.iter().all(|t| t.sqnr_db > 30.0), "{name}: {:?}", q.tensors);
        assert_eq!(q.model.fp32_accuracy, card(&name.replace("int8", "fp32")).metrics.accuracy);
        assert_eq!(q.model.accuracy, card(name).metrics.accuracy);
    }
    assert_eq!(report.int4.models.len(), 2);
    for m in &report.int4.models {
        // Half a byte per weight plus an fp32 scale per group and fp32 biases: under a third of
        // fp32 even for the 123-parameter tiny student, whose biases weigh relatively much.
        assert!(m.weight_bytes * 3 < m.fp32_weight_bytes, "{}: {} bytes", m.source, m.weight_bytes);
        assert!(m.model.top1_agreement_with_fp32 >= 0.8, "{}: {:?}", m.source, m.model);
        // int4 keeps less signal than int8 on the same tensors.
        let int8 = &card(&m.source.replace("fp32", "int8")).quantization.as_ref().unwrap().tensors;
        for (t4, t8) in m.tensors.iter().zip(int8) {
            assert!(t4.sqnr_db < t8.sqnr_db, "{}: int4 {} dB vs int8 {} dB", t4.name, t4.sqnr_db, t8.sqnr_db);
        }
    }
}

#[test]
fn an_existing_output_is_refused_unless_overwrite_and_nothing_is_left_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("old.txt"), "old").unwrap();
    let err = build(&opts(&dir, 1), &mut |_| {}).unwrap_err();
    assert!(matches!(err, KernelsError::OutputExists(_)), "{err}");
    assert!(dir.join("old.txt").exists());
    let mut o = opts(&dir, 1);
    o.overwrite = true;
    build(&o, &mut |_| {}).unwrap();
    assert!(!dir.join("old.txt").exists() && dir.join("index.json").exists());
    let entries: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("out")]);
}

#[test]
fn a_missing_parent_directory_is_an_io_error_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let err = build(&opts(&tmp.path().join("no/such/dir"), 1), &mut |_| {}).unwrap_err();
    assert!(matches!(err, KernelsError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no/such"), "{err}");
}
