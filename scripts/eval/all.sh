#!/usr/bin/env bash
# Runs every benchmark whose question file is present under $EVAL_DIR (same environment as the
# per-benchmark scripts, e.g. MODEL_PATH=... CUDA_VISIBLE_DEVICES=0,1,2,3 bash scripts/eval/all.sh;
# STAGE=score re-scores existing answers) and prints the Imp README table for CKPT.
# BENCHMARKS="gqa pope" limits the run; TABLE_ONLY=1 only prints the table from earlier results.
# Exit status 1 when a benchmark script failed or BENCHMARKS names an unknown one (the table is still
# printed); benchmarks without their question file are skipped, not failed.
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/common.sh"
set +e

declare -A QUESTIONS=(
  [vqav2]="vqav2/llava_vqav2_mscoco_test-dev2015.jsonl" [gqa]="gqa/llava_gqa_testdev_balanced.jsonl"
  [vizwiz]="vizwiz/llava_test.jsonl" [sqa]="scienceqa/llava_test_CQM-A.json"
  [textvqa]="textvqa/llava_textvqa_val_v051_ocr.jsonl" [pope]="pope/llava_pope_test.jsonl"
  [mme]="MME/llava_mme.jsonl" [mmbench]="mmbench/mmbench_dev_20230712.tsv" [mmvet]="mm-vet/llava-mm-vet.jsonl"
)
ORDER=(vqav2 gqa vizwiz sqa textvqa pope mme mmbench mmvet)
TITLES=(VQAv2 GQA VizWiz "SQA(IMG)" TextVQA POPE "MME(P)" MMB MM-Vet)

FAILED=()
if [[ -z "${TABLE_ONLY:-}" ]]; then
  for b in ${BENCHMARKS:-${ORDER[@]}}; do
    if [[ -z "${QUESTIONS[$b]:-}" ]]; then
      echo "unknown benchmark '$b' (one of: ${ORDER[*]})" >&2
      FAILED+=("$b")
      continue
    fi
    if [[ ! -f "$EVAL_DIR/${QUESTIONS[$b]}" ]]; then
      echo "== $b: skipped, $EVAL_DIR/${QUESTIONS[$b]} not found (see playground/README.md)" >&2
      continue
    fi
    echo "== $b" >&2
    bash "$HERE/$b.sh" || { echo "== $b: FAILED (exit $?)" >&2; FAILED+=("$b"); }
  done
fi

header="| Model |" rule="|:--|" row="| $CKPT |"
for i in "${!ORDER[@]}"; do
  header+=" ${TITLES[$i]} |"
  rule+=":--:|"
  cell="-"
  f="$RESULTS_DIR/${ORDER[$i]}.txt"
  if [[ -f "$f" ]]; then
    value="$(cut -f2 "$f")"
    case "$value" in
      server:*) cell="server" ;;
      n/a) cell="n/a" ;;
      *) if [[ "${ORDER[$i]}" == mme ]]; then cell="$(LC_ALL=C printf "%.1f" "$value")"; else cell="$(LC_ALL=C printf "%.2f" "$value")"; fi ;;
    esac
  fi
  row+=" $cell |"
done
printf '%s\n%s\n%s\n' "$header" "$rule" "$row"
for b in "${ORDER[@]}"; do
  f="$RESULTS_DIR/$b.txt"
  [[ -f "$f" && "$(cut -f2 "$f")" == server:* ]] && echo "$b: submit $(cut -f2 "$f" | cut -d: -f2-)"
done
if ((${#FAILED[@]})); then
  echo "failed: ${FAILED[*]}" >&2
  exit 1
fi
exit 0
