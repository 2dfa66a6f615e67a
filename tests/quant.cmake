# Weight-only quantization: error bounds, the quantized Linear vs a dequantized fp32 Linear (kernel and
# fallback paths), quantized directories load and match, refusals, corrupt files; the CLI end to end.
imp_add_test(NAME imp_quant_tests LABELS unit SRCS quant/quant_test.cpp)
imp_add_test(NAME imp_quant_cli_tests LABELS integration SRCS quant/quant_cli_test.cpp)
add_dependencies(imp_quant_cli_tests imp)
