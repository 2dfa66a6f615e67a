// Encoding float rows into ggml's tensor types, bit-exact with ggml's reference quantizers (and PyPI
// gguf.quants): F16 (round to nearest even), Q8_0 (blocks of 32: f16 d = max|x|/127, int8 round(x/d)),
// Q4_0 (blocks of 32: f16 d = x_maxabs / -8, nibbles trunc(x/d + 8.5) clamped to 15, byte j = q[j] | q[j+16] << 4),
// Q4_K (blocks of 256 in 8 sub-blocks of 32 with 6-bit scales and offsets fitted by weighted least squares,
// ggml's quantize_row_q4_K_ref; layout in ggml_quants.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "imp/export/gguf_writer.h"

namespace imp::gguf {

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
// n values (a multiple of the type's block_size) -> the type's bytes.
std::vector<uint8_t> encode(const float* x, size_t n, TensorType type);
size_t block_size(TensorType t);  // values per block: 1 for F32/F16, 32 for Q8_0/Q4_0, 256 for Q4_K
bool is_quantized(TensorType t);  // a block type (the file then carries general.quantization_version)
// The type a 2-d tensor with rows of `row` values is written in when `want` is asked for: `want` when the rows
// are whole blocks; else Q8_0 for Q4_K (llama.cpp also writes such rows of a k-quant file in a wider type) when
// they are whole Q8_0 blocks; else F16.
TensorType row_type(TensorType want, int64_t row);

}  // namespace imp::gguf
