#!/usr/bin/env bash
# A sharded sweep on a real Slurm cluster, as README.md's "Sweeps, shards and clusters" documents it:
# a job array of `servesim sweep --shard ${SLURM_ARRAY_TASK_ID}/N`, then `servesim merge` as a job that
# depends on it (afterok); the merged table must equal a single-machine sweep of the same grid.
#
# Usage: tests/slurm/run.sh SERVESIM_BINARY WORKDIR
#
# Installs Debian's slurm-wlm and munge with apt-get when missing, then runs a single-node cluster on
# localhost from WORKDIR (munge key, slurm.conf, state, spool, logs all there; nothing in /etc is
# changed): munged, slurmctld and slurmd, stopped on exit, on failure too. `cargo test --test slurm`
# runs it (tests/slurm.rs).
set -euo pipefail

bin=$(realpath "$1")
work=$(realpath -m "$2")
shards=4
# The grid of tests/cli.rs's sweep test: 6 points, split into 4 shards (shards 0 and 1 take two).
grid=(-s mm1 -n 20000 --vary workload.arrivals.rate=20,40,60 --vary devices.0.servers=1,2)

log() { printf 'slurm test: %s\n' "$*" >&2; }
die() {
    log "FAILED: $*"
    for f in "$work"/log/*.log; do
        [[ -f $f ]] && { printf '\n--- %s\n' "$f" >&2; tail -n 40 "$f" >&2; }
    done
    exit 1
}

# 1. Slurm and munge, from Debian's packages when missing.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v sbatch >/dev/null; then
    [[ $(id -u) == 0 ]] || die "slurm-wlm and munge are missing and this is not root: apt-get install slurm-wlm munge"
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$work.apt.log" 2>&1 || { cat "$work.apt.log" >&2; die "apt-get update failed"; }
    apt-get install -y -qq slurm-wlm munge >>"$work.apt.log" 2>&1 \
        || { cat "$work.apt.log" >&2; die "apt-get install slurm-wlm munge failed"; }
fi

rm -rf "$work"
mkdir -p "$work"/{bin,etc,state,spool,log,run,munge,sweeps,single}
chmod 700 "$work/munge"

pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports of our own, so that a cluster this machine may already run is left alone.
port=$((20000 + $$ % 20000))
host=$(hostname -s)
cpus=$(nproc)

# 2. munge: a fresh key and a daemon on a socket in WORKDIR.
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
munged --force --foreground --key-file="$work/munge/munge.key" --socket="$socket" \
    --pid-file="$work/run/munged.pid" --log-file="$work/log/munged.log" --seed-file="$work/munge/munged.seed" \
    >>"$work/log/munged.out.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $socket ]] && break; sleep 0.1; done
[[ -S $socket ]] || die "munged did not start"

# 3. A single-node cluster on localhost: no cgroups, no accounting database.
cat >"$work/etc/slurm.conf" <<CONF
ClusterName=servesim-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/etc/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >>"$work/log/slurmctld.out.log" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >>"$work/log/slurmd.out.log" 2>&1 &
pids+=($!)
state=
for _ in $(seq 120); do
    state=$(sinfo -h -N -o %T 2>/dev/null | head -n 1 || true)
    [[ $state == idle ]] && break
    sleep 0.5
done
[[ $state == idle ]] || die "the node did not come up (state: '${state:-none}')"
log "cluster up: node $host, $cpus CPUs, slurmctld on 127.0.0.1:$port"

# 4. The documented submission: an array with one task per shard, then a dependent merge.
ln -s "$bin" "$work/bin/servesim"
export PATH="$work/bin:$PATH"
cat >"$work/sweep.sbatch" <<SH
#!/bin/bash
#SBATCH --array=0-$((shards - 1)) --cpus-per-task=1 --time=00:10:00
#SBATCH --output=$work/log/shard-%a.log
servesim sweep ${grid[*]} --shard \${SLURM_ARRAY_TASK_ID}/$shards --jobs 1 -o $work/sweeps
SH
jid=$(sbatch --parsable "$work/sweep.sbatch") || die "sbatch of the array failed"
mjid=$(sbatch --parsable --dependency=afterok:"$jid" --output="$work/log/merge.log" \
    --wrap "servesim merge $work/sweeps/swp-*-shard*of$shards -o $work/merged") || die "sbatch of the merge failed"
log "submitted array $jid ($shards shards) and merge $mjid (afterok:$jid)"

# 5. Wait for the merge (bounded), and check that every job completed.
for _ in $(seq 360); do
    [[ -z $(squeue -h -j "$jid,$mjid" 2>/dev/null) ]] && break
    # A failed shard leaves the merge pending forever: stop at once.
    if scontrol -o show job "$mjid" 2>/dev/null | grep -q 'Reason=DependencyNeverSatisfied'; then
        die "a shard failed, the merge can never run: $(cat "$work"/log/shard-*.log 2>/dev/null | tail -n 5)"
    fi
    sleep 0.5
done
[[ -z $(squeue -h -j "$jid,$mjid") ]] || die "jobs still queued after 180 s: $(squeue -j "$jid,$mjid")"
for task in $(seq 0 $((shards - 1))); do
    s=$(scontrol -o show job "${jid}_$task" | grep -o 'JobState=[A-Z_]*')
    [[ $s == JobState=COMPLETED ]] || die "array task $task: $s"
done
s=$(scontrol -o show job "$mjid" | grep -o 'JobState=[A-Z_]*')
[[ $s == JobState=COMPLETED ]] || die "merge job: $s"

# 6. The merged table equals a single-machine sweep of the same grid.
servesim sweep "${grid[@]}" -o "$work/single" >"$work/log/single.log" 2>&1 || die "single-machine sweep failed"
merged=$(ls -d "$work"/merged/swp-*)
single=$(ls -d "$work"/single/swp-*)
[[ $(basename "$merged") == $(basename "$single") ]] || die "sweep ids differ: $merged vs $single"
cmp "$merged/sweep.csv" "$single/sweep.csv" || die "merged sweep.csv differs from the single-machine sweep"
rows=$(($(wc -l <"$merged/sweep.csv") - 1))
[[ $rows == 6 ]] || die "expected 6 points, merged table has $rows"
log "ok: $shards array tasks and the dependent merge completed; merged sweep.csv ($rows points) equals the single-machine sweep $(basename "$single")"
