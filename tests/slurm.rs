//! README's sharded sweep on a real Slurm cluster: `tests/slurm/run.sh` installs Debian's
//! slurm-wlm and munge when missing, starts a single-node cluster on localhost (munged, slurmctld,
//! slurmd; stopped on exit), submits the documented job array of `servesim sweep --shard
//! ${SLURM_ARRAY_TASK_ID}/4` and the dependent (`afterok`) `servesim merge`, and checks the merged
//! `sweep.csv` equals a single-machine sweep of the same grid, byte for byte.

use std::process::Command;

#[test]
fn a_sharded_sweep_on_slurm_merges_to_the_single_machine_sweep() {
    let work = tempfile::tempdir().expect("temporary directory");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/slurm/run.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_servesim"))
        .arg(work.path().join("cluster"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash {script}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed ({}):\n{stderr}", out.status);
    assert!(stderr.contains("merged sweep.csv (6 points) equals the single-machine sweep"), "{stderr}");
}
