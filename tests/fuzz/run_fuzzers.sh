#!/usr/bin/env bash
# Builds every libFuzzer target straight from its sources with clang (ASan + UBSan, no CMake) and
# runs it on a scratch copy of its committed corpus, so the corpus in git never changes. $1 (default
# 30) is the time of each of the four byte-format targets (safetensors, tokenizer, image, records);
# the five config/question-file/request targets run half as long each, so the total is 6.5 x $1. Exits
# non-zero if a build fails or a target crashes; the crashing input is kept and its path printed: add it to tests/fuzz/corpus/<target>/ and to a regression test.
#   tests/fuzz/run_fuzzers.sh [seconds]        (CXX_FUZZ overrides clang++)
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"  # target source lists below use globs relative to the repository root
cxx="${CXX_FUZZ:-clang++}"
work="$(mktemp -d "${TMPDIR:-/tmp}/imp-fuzz.XXXXXX")"
failed=0

# JSON tokens libFuzzer splices into inputs; without them it rarely reaches past the parser.
write_dict() {
  local out="$1"
  : >"$out"
  local tok
  for tok in '{' '}' '[' ']' ':' ',' '"' '__metadata__' 'dtype' 'shape' 'data_offsets' 'format' 'pt' \
             'weight_map' 'metadata' 'total_size' '.safetensors' '../' '\\u0000' '-1' '1e3' '0.5' \
             '18446744073709551615' '9223372036854775808' \
             BOOL U8 I8 I16 U16 I32 U32 I64 U64 F16 BF16 F32 F64 F8_E4M3 F8_E5M2; do
    printf '"%s"\n' "${tok//\"/\\\"}" >>"$out"
  done
}

# fuzz_target NAME SOURCES...: tests/fuzz/fuzz_NAME.cpp + the library sources it needs.
# Optional per target: LIBS="-lfoo" (link flags), DICT="word ..." (extra dictionary words) and
# SECONDS_OF="n" (run time instead of $seconds).
fuzz_target() {
  local name="$1" run_seconds="${SECONDS_OF:-$seconds}"
  shift
  local bin="$work/fuzz_$name" corpus="$work/corpus_$name" crashes="$work/crashes_$name"
  local sources=()
  local s
  for s in "$@"; do sources+=("$root/$s"); done
  echo "== fuzz_$name: building"
  "$cxx" -std=c++17 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I "$root/include" "$root/tests/fuzz/fuzz_$name.cpp" "${sources[@]}" ${LIBS:-} -o "$bin"
  mkdir -p "$corpus" "$crashes"
  if [[ -d "$root/tests/fuzz/corpus/$name" ]]; then cp -R "$root/tests/fuzz/corpus/$name/." "$corpus/"; fi
  write_dict "$work/$name.dict"
  for tok in ${DICT:-}; do printf '"%s"\n' "$tok" >>"$work/$name.dict"; done
  echo "== fuzz_$name: running for ${run_seconds}s"
  if ! "$bin" -max_total_time="$run_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -dict="$work/$name.dict" -artifact_prefix="$crashes/" "$corpus" >"$work/$name.log" 2>&1; then
    tail -n 60 "$work/$name.log"
    echo "== fuzz_$name: CRASH; reproducer(s) in $crashes/, full log $work/$name.log" >&2
    failed=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$work/$name.log" || true
    echo "== fuzz_$name: no crash"
  fi
}

fuzz_target safetensors src/io/safetensors.cpp src/core/json.cpp src/core/fs.cpp src/core/mapped_file.cpp
DICT="storage FloatStorage BFloat16Storage UntypedStorage torch torch._utils _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter collections OrderedDict data.pkl byteorder big cpu \x80\x02 PK\x03\x04 PK\x01\x02 PK\x05\x06 PK\x06\x06 PK\x06\x07 \xff\xff\xff\xff" fuzz_target torch_pickle src/io/torch_pickle.cpp src/io/pickle_vm.cpp src/io/zip_reader.cpp src/io/safetensors.cpp src/core/json.cpp src/core/fs.cpp src/core/mapped_file.cpp
LIBS="-lpcre2-8 -lutf8proc" DICT="type Sequence ByteLevel Split Regex String Metaspace Prepend Replace NFC BPE behavior Isolated Removed MergedWithNext Contiguous invert rstrip lstrip single_word normalized special byte_fallback fuse_unk TemplateProcessing SpecialToken ids <0x41> (?i:" fuzz_target tokenizer src/text/*.cpp src/core/json.cpp src/core/fs.cpp src/core/utf8.cpp
LIBS="-I/usr/include/opencv4 -ljpeg -lopencv_imgcodecs -lopencv_imgproc -lopencv_core" DICT="IHDR IDAT IEND PLTE tRNS gAMA RIFF WEBP VP8L VP8X Adobe JFIF \x89PNG \xFF\xD8\xFF \xFF\xC0 \xFF\xC2 \xFF\xC4 \xFF\xDA \xFF\xDB \xFF\xD9 \xFF\xEE \x9d\x01\x2a" fuzz_target image src/image/decode.cpp src/image/header.cpp src/image/jpeg.cpp src/image/process.cpp src/image/resize.cpp

fuzz_target records src/data/records.cpp src/data/conversation.cpp src/core/json.cpp src/core/fs.cpp

# JSON files of model directories and evaluation (issue #17): half the time each.
half=$(( (seconds + 1) / 2 ))
config_dict="model_type imp imp_qwen2 imp_phi3 phi qwen2 phi3 siglip siglip_vision_model vision_config vision_tower_config \
  mm_vision_tower vocab_size hidden_size intermediate_size num_hidden_layers num_attention_heads num_key_value_heads \
  partial_rotary_factor rope_scaling su longrope yarn short_factor long_factor eos_token_id image_size patch_size \
  mm_vision_select_layer gelu_new silu gelu_pytorch_tanh"
SECONDS_OF="$half" DICT="$config_dict" fuzz_target model_config src/models/config.cpp src/core/json.cpp src/core/fs.cpp
SECONDS_OF="$half" DICT="peft_type LORA r lora_alpha lora_dropout use_rslora fan_in_fan_out bias none target_modules rank_pattern alpha_pattern" \
  fuzz_target adapter_config src/models/lora_config.cpp src/core/json.cpp src/core/fs.cpp
SECONDS_OF="$half" LIBS="-lpcre2-8 -lutf8proc" DICT="added_tokens_decoder content special bos_token eos_token unk_token pad_token additional_special_tokens add_bos_token add_eos_token clean_up_tokenization_spaces split_special_tokens model_max_length legacy \xff\xff" \
  fuzz_target tokenizer_config src/text/*.cpp src/core/json.cpp src/core/fs.cpp src/core/utf8.cpp
SECONDS_OF="$half" LIBS="-lpcre2-8 -lutf8proc" DICT="question_id image text conversations value id index question hint nan None" \
  fuzz_target questions src/eval/questions.cpp src/eval/stopping.cpp src/eval/score/io.cpp src/eval/score/py_text.cpp \
  src/text/*.cpp src/core/json.cpp src/core/fs.cpp src/core/utf8.cpp src/core/base64.cpp
SECONDS_OF="$half" LIBS="-DIMP_WITH_OPENCV=1 -I/usr/include/opencv4 -ljpeg -lopencv_imgcodecs -lopencv_imgproc -lopencv_core" \
  DICT="messages role content system user assistant type text image_url url data:image/png;base64, file:// max_tokens temperature top_p stop seed stream stream_options include_usage n <image> iVBORw0KGgo" \
  fuzz_target chat_request src/serve/openai.cpp src/image/decode.cpp src/image/header.cpp src/image/jpeg.cpp \
  src/image/process.cpp src/image/resize.cpp src/core/json.cpp src/core/fs.cpp src/core/base64.cpp

if [[ "$failed" == 0 ]]; then rm -rf "$work"; fi
exit "$failed"
