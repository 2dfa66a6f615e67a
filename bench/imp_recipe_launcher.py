"""Runs the original Python Imp `imp_llava/train/train.py` from a checkout, unchanged, on a CPU (bench/run_recipe_bench.sh).

Usage: python imp_recipe_launcher.py IMP_SRC [train.py flags...]

What it changes at run time, without touching the checkout:
- `attn_implementation='flash_attention_2'`, hard-coded in train.py's from_pretrained calls, becomes 'eager'
  (a CPU has no flash-attention);
- two API changes of transformers since Imp's 4.36, so that a current 4.x runs it: ALL_LAYERNORM_LAYERS is no
  longer exported by transformers.trainer (Imp's llava_trainer.py imports it there; it is put back with its old
  value, [nn.LayerNorm]), and Trainer now passes the dataset to _get_train_sampler (Imp's override takes none;
  it is wrapped to ignore it);
- training stops after `trainer.train()`: the final save (get_peft_state_maybe_zero_3) imports deepspeed, which a
  CPU install does not have; nothing is saved (run with --save_strategy no).
Run it in a scratch working directory: train.py writes tmp/debug_<rank>.txt there.
Prints one JSON line: train_runtime (HF's, the N steps), the per-step losses and the process's peak RSS.
"""
import json
import resource
import sys
import time


class _StopBeforeSave(Exception):
    pass


def main():
    src, flags = sys.argv[1], sys.argv[2:]
    sys.path.insert(0, src)
    import torch
    import transformers
    import transformers.trainer as hf_trainer

    if not hasattr(hf_trainer, "ALL_LAYERNORM_LAYERS"):
        hf_trainer.ALL_LAYERNORM_LAYERS = [torch.nn.LayerNorm]
    import imp_llava.train.train as imp_train

    for name in ("ImpForCausalLM", "ImpQwen2ForCausalLM", "ImpPhi3ForCausalLM"):
        cls = getattr(imp_train, name, None)
        if cls is None:
            continue
        original = cls.from_pretrained.__func__

        def eager(klass, *args, _original=original, **kwargs):
            if "attn_implementation" in kwargs:
                kwargs["attn_implementation"] = "eager"
            return _original(klass, *args, **kwargs)

        cls.from_pretrained = classmethod(eager)

    trainer_cls = imp_train.LLaVATrainer
    sampler = trainer_cls._get_train_sampler
    trainer_cls._get_train_sampler = lambda self, *args, _sampler=sampler: _sampler(self)

    result = {}
    trainer_train = imp_train.LLaVATrainer.train

    def train_then_stop(self, *args, **kwargs):
        start = time.time()
        out = trainer_train(self, *args, **kwargs)
        result["wall_s"] = time.time() - start
        result["train_runtime"] = out.metrics.get("train_runtime")
        result["losses"] = [h["loss"] for h in self.state.log_history if "loss" in h]
        result["steps"] = self.state.global_step
        result["trainable_params"] = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        result["params"] = sum(p.numel() for p in self.model.parameters())
        raise _StopBeforeSave

    imp_train.LLaVATrainer.train = train_then_stop
    sys.argv = [src + "/imp_llava/train/train.py"] + flags
    try:
        imp_train.train()
    except _StopBeforeSave:
        pass
    if not result:
        sys.exit("imp_recipe_launcher: train.py returned without training")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["torch"] = torch.__version__
    result["transformers"] = transformers.__version__
    import peft

    result["peft"] = peft.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
