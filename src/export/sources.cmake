# GGUF export for llama.cpp: the writer (format only), ggml encodings, per-architecture maps, tokenizer
# metadata and `imp export gguf`; see docs/deploy.md.
target_sources(imp_lib PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/gguf_writer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ggml_quants.cpp
  ${CMAKE_CURRENT_LIST_DIR}/arch_map.cpp
  ${CMAKE_CURRENT_LIST_DIR}/phi2_map.cpp
  ${CMAKE_CURRENT_LIST_DIR}/qwen2_map.cpp
  ${CMAKE_CURRENT_LIST_DIR}/phi3_map.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_meta.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mmproj.cpp
  ${CMAKE_CURRENT_LIST_DIR}/export_gguf.cpp
  ${PROJECT_SOURCE_DIR}/src/cli/export.cpp
)
# ggml's reference quantizers are matched byte for byte: no fused multiply-add where the reference has none.
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/ggml_quants.cpp PROPERTIES COMPILE_OPTIONS -ffp-contract=off)
endif()
