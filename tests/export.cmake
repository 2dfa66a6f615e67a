# GGUF export: the encodings bit-exact (unit), and whole files read back by llama.cpp's PyPI `gguf` reader
# (integration; needs .venv-gguf from scripts/setup.sh).
imp_add_test(NAME imp_export_tests LABELS unit SRCS export/ggml_quants_test.cpp)
add_test(NAME export.gguf_reader COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export/gguf_test.sh ${PROJECT_SOURCE_DIR} $<TARGET_FILE:imp>)
set_tests_properties(export.gguf_reader PROPERTIES LABELS integration TIMEOUT 600)
# Opt-in: llama.cpp's greedy tokens on the exported files and the --mmproj image path (label `llama`, about 8
# minutes on 2 loaded cores; skipped without .venv-llama, which only `IMP_LLAMA_CPP=1 scripts/setup.sh` builds:
# a from-source llama.cpp build, 17 minutes, is too slow for CI's default path).
add_test(NAME export.llama_greedy COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export/llama_greedy.sh ${PROJECT_SOURCE_DIR} $<TARGET_FILE:imp>)
set_tests_properties(export.llama_greedy PROPERTIES LABELS "integration;llama" TIMEOUT 1500 SKIP_RETURN_CODE 77)
