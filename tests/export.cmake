# GGUF export: the encodings bit-exact (unit), and whole files read back by llama.cpp's PyPI `gguf` reader
# (integration; needs .venv-gguf from scripts/setup.sh).
imp_add_test(NAME imp_export_tests LABELS unit SRCS export/ggml_quants_test.cpp)
add_test(NAME export.gguf_reader COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export/gguf_test.sh ${PROJECT_SOURCE_DIR} $<TARGET_FILE:imp>)
set_tests_properties(export.gguf_reader PROPERTIES LABELS integration TIMEOUT 600)
