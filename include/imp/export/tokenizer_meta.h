// The tokenizer of a model directory as GGUF metadata (tokenizer.ggml.*), the way llama.cpp's converter
// writes it: GPT-2 byte-level BPE (model "gpt2": tokens, token types, merges; Phi-2, Qwen) or a
// SentencePiece-style BPE with byte fallback (model "llama": tokens, scores, token types; Phi-3). Read from
// tokenizer.json and tokenizer_config.json; ids the tokenizer lacks up to vocab_size become "[PADn]".
#pragma once

#include <string>

#include "imp/export/gguf_writer.h"
#include "imp/models/config.h"

namespace imp::gguf {

// turn_end: the token that ends an assistant turn in the model's chat template when the tokenizer files may
// lack it (Imp's phi2 recipe adds "</s>" as a new special token at the next free id, as `imp eval --conv-mode
// phi2` and Python Imp's train.py do); written as a control token there and as tokenizer.ggml.eot_token_id, so
// llama.cpp stops at it. Empty: none.
void add_tokenizer(Writer& w, const std::string& model_dir, const TextConfig& c, const std::string& turn_end = "");

}  // namespace imp::gguf
