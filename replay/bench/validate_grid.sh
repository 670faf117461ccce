#!/bin/bash
# Sim vs replay over a grid of loads x batching configurations: `servesim validate --replays R`
# per point, one Markdown row each (BENCHMARKS.md, "Replay and calibration"), then the same
# prediction without cold starts on the same traces (the ablation columns).
#
# usage: replay/bench/validate_grid.sh PROFILE OUTDIR [requests] [models dir]
#   PROFILE: from `servesim calibrate --models models --variant teacher-int8 --batch 1,2,4,8,16
#            --warmup 20 --repeats 100 --use samples --out PROFILE`
# env: SERVESIM (binary, default target/debug/servesim), R (replays per point, default 3),
#      LOADS (fractions of one server's batch-1 capacity, default "0.3 0.6 0.85"; a value with a
#      trailing "/s" is an absolute rate), BATCHING (default "none dynamic")
#
# Columns: point | harness overhead p50 (max over replays) | release lateness p99 | prediction
# error p50 / p90 / p99 against the median replay (✓: inside the replays' range) | replays' p50
# range / sim | replays' p99 range / sim | KS | mean batch replay / sim | in-sample: sim on the
# first replay's own busy times p50 / p90 / p99 | speed vs profile per replay | out of sample:
# speed of replay k scored on k+1, p50 / p99 (median over k) | without cold starts: p50 / p99.
set -euo pipefail
S=${SERVESIM:-target/debug/servesim}
P=$1; OUT=$2; N=${3:-4000}; MODELS=${4:-models}
mkdir -p $OUT
S1=$(python3 -c "
import tomllib; p=tomllib.load(open('$P','rb'))
e=[e for e in p['entries'] if e['variant']=='teacher-int8'][0]; print(e['median_ms'][0])")
python3 - "$P" "$OUT/nocold.toml" <<'PY'
import re,sys
t=open(sys.argv[1]).read()
open(sys.argv[2],'w').write(re.sub(r'^cold = true', 'cold = false', t, flags=re.M))
PY
for b in ${BATCHING:-none dynamic}; do
 for u in ${LOADS:-0.3 0.6 0.85}; do
  case $u in
   */s) rate=${u%/s} ;;
   *) rate=$(python3 -c "print(round($u/($S1/1000.0)))") ;;
  esac
  tag=$b-${u%/s}
  if [ $b = none ]; then bat='batching = { kind = "none" }'; else bat='batching = { kind = "dynamic", max_batch = 16, max_queue_delay_ms = 1.0 }'; fi
  cat > $OUT/s-$tag.toml <<T
name = "val-$tag"
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
  $S validate --scenario $OUT/s-$tag.toml --models $MODELS --profile $P --requests $N --warmup 5 --replays ${R:-3} --out $OUT/runs > $OUT/log-$tag.txt 2>&1
  v=$(ls -td $OUT/runs/val-* | head -1)
  $S simulate --scenario $OUT/s-$tag.toml --trace $v/trace.parquet --profile $OUT/nocold.toml --models $MODELS --out $OUT/nocold-runs --json > $OUT/nocold-$tag.json
  python3 - "$v" "$OUT/runs" "$b" "$u" "$rate" "$OUT/nocold-$tag.json" <<'PY'
import json,sys,statistics
v,runs,b,u,rate,nc=sys.argv[1:]
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
oos=c.get('speed_out_of_sample',[])
oe=lambda k: f"{100*statistics.median(o[k]['relative_error'] for o in oos):+.1f}%" if oos else '–'
sp=' '.join(f"{r:.2f}" for r in c['profile_speed_ratio'])
s=json.load(open(nc)); s=s.get('summary',s)
ne=lambda q,k: f"{100*(s['latency_ms'][q]/c[k]['replay']-1):+.1f}%"
label = f"{b} {rate}/s" + ('' if u.endswith('/s') else f" ({u})")
print(f"| {label} | {ov:.0f} µs | {lat:.2f} ms | {e('latency_ms_p50')} | {e('latency_ms_p90')} | {e('latency_ms_p99')} | {rg('latency_ms_p50')} | {rg('latency_ms_p99')} | {c['ks_distance']:.2f} | {c['mean_batch_size']['replay']:.2f} / {c['mean_batch_size']['sim']:.2f} | {xe('latency_ms_p50')} / {xe('latency_ms_p90')} / {xe('latency_ms_p99')} | {sp} | {oe('latency_ms_p50')} / {oe('latency_ms_p99')} | {ne('p50','latency_ms_p50')} / {ne('p99','latency_ms_p99')} |")
PY
 done
done
