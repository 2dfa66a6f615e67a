#!/usr/bin/env bash
# `imp chat` on a tiny model: streamed answers, /image, /reset, /exit, an unreadable image reported without
# quitting, a bad image turn dropped from the conversation, and --quantized (an `imp quantize` output only).
#   chat_cli_test.sh IMP MODEL_DIR IMAGE
set -euo pipefail
imp="$1" model="$2" image="$3"
out="$(printf 'hello\n/image %s\nwhat colour?\n/image /nonexistent.png\n/reset\nagain\n/exit\nnot reached\n' "$image" |
  "$imp" chat --model "$model" --max-tokens 4 --device cpu 2>&1)"
echo "$out"
fail() { echo "FAIL: $1"; exit 1; }
grep -q "imp chat: gen_phi2" <<<"$out" || fail "banner with the model name"
grep -q "(image attached to the next message)" <<<"$out" || fail "/image"
grep -q "error: /nonexistent.png: cannot open the image file" <<<"$out" || fail "unreadable image"
grep -q "(conversation cleared)" <<<"$out" || fail "/reset"
[ "$(grep -c '^> ' <<<"$out")" -eq 7 ] || fail "one prompt per line, none after /exit"
! grep -q "error: " <<<"$(grep -v nonexistent <<<"$out")" || fail "unexpected error"

# --quantized takes an imp quantize output, refuses a full-precision model, and excludes --model.
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$imp" quantize --model "$model" --output "$tmp/q8" --bits 8 >/dev/null 2>&1 || fail "imp quantize"
q="$(printf 'hello\n/exit\n' | "$imp" chat --quantized "$tmp/q8" --max-tokens 4 --device cpu 2>&1)" || fail "chat --quantized: $q"
grep -q "imp chat: " <<<"$q" || fail "chat --quantized banner: $q"
! e="$("$imp" chat --quantized "$model" </dev/null 2>&1)" || fail "--quantized accepted a full-precision model"
grep -q "is not a quantized model" <<<"$e" || fail "--quantized on a full-precision model: $e"
! e="$("$imp" serve --model "$model" --quantized "$tmp/q8" 2>&1)" || fail "--model with --quantized accepted"
grep -qi "excludes" <<<"$e" || fail "--model with --quantized: $e"
echo "ok"
