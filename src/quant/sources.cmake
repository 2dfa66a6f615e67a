# Weight-only int8/int4 quantization (imp quantize, the quantized Linear); see docs/deploy.md.
target_sources(imp_lib PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/quantize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/quant_linear.cpp
  ${CMAKE_CURRENT_LIST_DIR}/quantize_dir.cpp
  ${PROJECT_SOURCE_DIR}/src/cli/quantize.cpp
)
