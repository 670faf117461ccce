#!/bin/bash
# Sim vs replay at three loads (30, 60, 85% of one device's batch-1 busy time) x two batching
# configurations (none; dynamic, max 16, 1 ms): `servesim validate --replays 3` per point, one
# Markdown row each (BENCHMARKS.md, "Replay and calibration").
#
# usage: replay/bench/validate_grid.sh PROFILE OUTDIR [requests] [models dir]
#   PROFILE: from `servesim calibrate --models models --variant teacher-int8 --batch 1,2,4,8,16
#            --warmup 20 --repeats 100 --use samples --out PROFILE`
# env: SERVESIM (binary, default target/debug/servesim), R (replays per point, default 3)
set -euo pipefail
S=${SERVESIM:-target/debug/servesim}
P=$1; OUT=$2; N=${3:-4000}; MODELS=${4:-models}
mkdir -p $OUT
S1=$(python3 -c "
import tomllib; p=tomllib.load(open('$P','rb'))
e=[e for e in p['entries'] if e['variant']=='teacher-int8'][0]; print(e['median_ms'][0])")
for b in none dynamic; do
 for u in 0.3 0.6 0.85; do
  rate=$(python3 -c "print(round($u/($S1/1000.0)))")
  if [ $b = none ]; then bat='batching = { kind = "none" }'; else bat='batching = { kind = "dynamic", max_batch = 16, max_queue_delay_ms = 1.0 }'; fi
  cat > $OUT/s-$b-$u.toml <<T
name = "val-$b-$u"
seed = 11
[workload.arrivals]
kind = "poisson"
rate = $rate.0
[[variants]]
name = "teacher-int8"
family = "teacher"
precision = "int8"
quality = 0.66
weight_bytes = 1
service = { cpu = { kind = "affine", a_ms = 0.6, b_ms = 0.07 } }
[[devices]]
name = "cpu0"
kind = "cpu"
variant = "teacher-int8"
$bat
T
  $S validate --scenario $OUT/s-$b-$u.toml --models $MODELS --profile $P --requests $N --warmup 5 --replays ${R:-3} --out $OUT/runs > $OUT/log-$b-$u.txt 2>&1
  v=$(ls -td $OUT/runs/val-* | head -1)
  python3 - "$v" "$OUT/runs" "$b" "$u" "$rate" <<'PY'
import json,sys
v,runs,b,u,rate=sys.argv[1:]
c=json.load(open(v+'/comparison.json'))
rs=[json.load(open(runs+'/'+x+'/summary.json')) for x in c['replay_runs']]
ov=max(r['overhead_us']['p50'] for r in rs); lat=max(r['lateness_us']['p99'] for r in rs)/1000
def e(k):
    p=c[k]; w='' if not p['sim_within_replay_range'] else ' ✓'
    return f"{100*p['relative_error']:+.1f}%{w}"
def rg(k):
    p=c[k]; return f"{p['replay_range'][0]:.2f}–{p['replay_range'][1]:.2f} / {p['sim']:.2f}"
x=c['sim_with_replay_service']
xe=lambda k: f"{100*x[k]['relative_error']:+.1f}%"
y=c['sim_at_replay_speed']
ye=lambda k: f"{100*y[k]['relative_error']:+.1f}%" + (' ✓' if y[k]['sim_within_replay_range'] else '')
sp=' '.join(f"{r:.2f}" for r in c['profile_speed_ratio'])
print(f"| {b} {rate}/s ({u}) | {ov:.0f} µs | {lat:.2f} ms | {e('latency_ms_p50')} | {e('latency_ms_p90')} | {e('latency_ms_p99')} | {rg('latency_ms_p50')} | {rg('latency_ms_p99')} | {c['ks_distance']:.2f} | {c['mean_batch_size']['replay']:.2f} / {c['mean_batch_size']['sim']:.2f} | {xe('latency_ms_p50')} / {xe('latency_ms_p90')} / {xe('latency_ms_p99')} | {sp} | {ye('latency_ms_p50')} / {ye('latency_ms_p99')} |")
PY
 done
done
