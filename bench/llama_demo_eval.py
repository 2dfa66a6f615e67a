#!/usr/bin/env python3
"""The demo's held-out questions answered by llama.cpp (libmtmd through PyPI llama-cpp-python) from an
`imp export gguf --mmproj` pair, for `imp demo-score`: the llama.cpp column of the demo accuracy per format.

    llama_demo_eval.py MODEL.gguf MMPROJ.gguf QUESTIONS.jsonl IMAGE_DIR ANSWERS.jsonl [--max-new-tokens 8]
                       [--threads 2]

Each question is rendered with Imp's phi2 template as `imp eval --conv-mode phi2` renders it (system prompt,
"USER: <image>\\n<question> ASSISTANT:"), the image goes through mtmd (llama.cpp's own preprocessing: the demo's
images already have the tower's size, so only rescale and normalise), and the answer is decoded greedily until
the end of the turn (llama.cpp's end-of-generation tokens: EOS and the "</s>" imp's export marks as
tokenizer.ggml.eot_token_id) or the token limit. Writes one {"question_id", "text"} line per question (imp
eval's keys).
"""
import ctypes
import json
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama, mtmd_cpp
from PIL import Image

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    gguf_path, mmproj, questions, image_dir, answers = sys.argv[1:6]
    max_new, threads = arg("--max-new-tokens", 8), arg("--threads", 2)
    llm = Llama(model_path=gguf_path, n_ctx=512, n_batch=512, n_threads=threads, verbose=False)
    params = mtmd_cpp.mtmd_context_params_default()
    params.use_gpu, params.n_threads, params.print_timings = False, threads, False
    mctx = mtmd_cpp.mtmd_init_from_file(mmproj.encode(), llm.model, params)
    if not mctx:
        sys.exit(f"llama_demo_eval.py: mtmd_init_from_file failed on {mmproj}")
    vocab_p = llama_cpp.llama_model_get_vocab(llm.model)
    vocab = llama_cpp.llama_n_vocab(vocab_p)
    marker = mtmd_cpp.mtmd_default_marker().decode()
    with open(questions) as f, open(answers, "w") as out:
        for line in f:
            q = json.loads(line)
            rgb = np.asarray(Image.open(f"{image_dir}/{q['image']}").convert("RGB"), dtype=np.uint8)
            h, w = rgb.shape[:2]
            bitmap = mtmd_cpp.mtmd_bitmap_init(w, h, (ctypes.c_uint8 * rgb.size).from_buffer_copy(rgb.tobytes()))
            prompt = f"{SYSTEM} USER: {marker}\n{q['text']} ASSISTANT:".encode()
            text = mtmd_cpp.mtmd_input_text()
            text.text, text.text_len, text.add_special, text.parse_special = prompt, len(prompt), False, False
            chunks = mtmd_cpp.mtmd_input_chunks_init()
            bitmaps = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
            assert mtmd_cpp.mtmd_tokenize(mctx, chunks, ctypes.byref(text), bitmaps, 1) == 0, "mtmd_tokenize failed"
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
            n_past = llama_cpp.llama_pos(0)
            assert mtmd_cpp.mtmd_helper_eval_chunks(mctx, llm.ctx, chunks, 0, 0, 512, True, ctypes.byref(n_past)) == 0
            ids = []
            for _ in range(max_new):
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocab,))
                tok = int(np.argmax(logits))
                if llama_cpp.llama_vocab_is_eog(vocab_p, tok):
                    break
                ids.append(tok)
                assert llama_cpp.llama_decode(llm.ctx, llama_cpp.llama_batch_get_one((llama_cpp.llama_token * 1)(tok), 1)) == 0
            mtmd_cpp.mtmd_input_chunks_free(chunks)
            mtmd_cpp.mtmd_bitmap_free(bitmap)
            answer = llm.detokenize(ids).decode("utf-8", errors="replace").strip()
            out.write(json.dumps({"question_id": q["question_id"], "text": answer}) + "\n")
    mtmd_cpp.mtmd_free(mctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
