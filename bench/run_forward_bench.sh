#!/usr/bin/env bash
# Runs `imp bench forward` (C++) and bench/forward_bench.py (Python, HF transformers) with the same
# arguments, each in its own process, and prints a Markdown table of the two and their ratio.
#   IMP_BIN           imp binary (default build/src/imp)
#   IMP_BENCH_PYTHON  python with torch + transformers (default python3)
#   IMP_BENCH_REPEATS runs of each, alternating python/imp (default 1); the table keeps each side's
#                     fastest time per metric, which damps noise from other load on the machine
# Arguments override the defaults below and are passed to both, e.g.
#   bench/run_forward_bench.sh --arch qwen2 --dtype bfloat16
set -euo pipefail
cd "$(dirname "$0")/.."
IMP_BIN=${IMP_BIN:-build/src/imp}
PY=${IMP_BENCH_PYTHON:-python3}

declare -A opt=([--arch]=phi2 [--layers]=2 [--vision-layers]=2 [--batch]=1 [--seq]=128 [--iters]=3 [--warmup]=1
                [--threads]=$(nproc))
order=(--arch --layers --vision-layers --batch --seq --iters --warmup --threads)
while (($#)); do
  case $1 in
    --json) shift; continue ;;  # always on
    --*=*) k=${1%%=*} v=${1#*=}; shift ;;
    --*) (($# >= 2)) || { echo "run_forward_bench.sh: $1 needs a value" >&2; exit 2; }; k=$1 v=$2; shift 2 ;;
    *) echo "run_forward_bench.sh: unexpected argument '$1'" >&2; exit 2 ;;
  esac
  [[ -v opt[$k] ]] || order+=("$k")
  opt[$k]=$v
done
args=()
for k in "${order[@]}"; do args+=("$k" "${opt[$k]}"); done
args+=(--json)

py_cmd=("$PY" bench/forward_bench.py "${args[@]}")
imp_cmd=("$IMP_BIN" bench forward "${args[@]}")
repeats=${IMP_BENCH_REPEATS:-1}
py_json='' imp_json=''
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 0; i < repeats; i++)); do
  py_json+=$("${py_cmd[@]}" | tail -n 1)$'\n'
  imp_json+=$("${imp_cmd[@]}" | tail -n 1)$'\n'
done

LOAD="$load_before -> $(cut -d' ' -f1-3 /proc/loadavg)" PY_JSON=$py_json IMP_JSON=$imp_json PY_CMD="${py_cmd[*]}" IMP_CMD="${imp_cmd[*]}" "$PY" - <<'EOF'
import json, os
def best(lines):  # fastest time per metric over the repeats
    runs = [json.loads(l) for l in lines.splitlines() if l.strip()]
    r = dict(runs[0], runs=runs, forward_s=min(x["forward_s"] for x in runs),
             forward_backward_s=min(x["forward_backward_s"] for x in runs), repeats=len(runs))
    r["forward_tokens_per_s"] = r["tokens"] / r["forward_s"]
    r["train_tokens_per_s"] = r["tokens"] / r["forward_backward_s"]
    return r
p, c = best(os.environ["PY_JSON"]), best(os.environ["IMP_JSON"])
print(f"{c['arch']} x{c['layers']} layers, batch {c['batch']}, {c['tokens']} tokens, {c['dtype']}, "
      f"{c['threads']} threads; python torch {p['torch']}, imp LibTorch {c['torch']}; best of {c['repeats']} "
      f"run(s) each; load average {os.environ['LOAD']}\n")
print("| metric | python | imp | ratio |\n|---|---:|---:|---:|")
def row(name, key, ratio, fmt="{:.3f}"):
    print(f"| {name} | {fmt.format(p[key])} | {fmt.format(c[key])} | {ratio} |")
row("params", "params", "equal" if p["params"] == c["params"] else "**DIFFER**", "{:,}")
row("tokens per batch", "tokens", "equal" if p["tokens"] == c["tokens"] else "**DIFFER**", "{}")
for name, key in [("forward s", "forward_s"), ("forward+backward s", "forward_backward_s")]:
    row(name, key, f"{p[key] / c[key]:.2f}x imp speedup")
for name, key in [("forward tokens/s", "forward_tokens_per_s"), ("train tokens/s", "train_tokens_per_s")]:
    row(name, key, f"{c[key] / p[key]:.2f}x", "{:.1f}")
row("peak RSS MiB", "peak_rss_mib", f"{c['peak_rss_mib'] / p['peak_rss_mib']:.2f} (imp/python)", "{:.0f}")
if c["repeats"] > 1:
    for name, r in [("python", p), ("imp", c)]:
        times = ", ".join(f"{x['forward_s']:.2f}/{x['forward_backward_s']:.2f}" for x in r["runs"])
        print(f"\n{name} runs (forward/forward+backward s): {times}", end="")
    print()
if p["threads"] != c["threads"]:
    print(f"\nWARNING: thread counts differ (python {p['threads']}, imp {c['threads']})")
print(f"\npython: `{os.environ['PY_CMD']}`\nimp:    `{os.environ['IMP_CMD']}`")
print("\nOnly the ratios are meaningful; absolute times depend on the machine and its load.")
EOF
