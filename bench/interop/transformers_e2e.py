"""Records transformers' final hidden states of small random bf16 models, for samples/RealModel --expected FILE.

For Ernie4_5_MoeForCausalLM and Qwen3MoeForCausalLM (transformers 5.x) it builds the models transformers_layers.py
builds (same configs, seeds and randomisation), selects eager attention (attn_implementation "eager": bf16 matmuls,
softmax in fp32), saves each with save_pretrained into OUTDIR/<arch>/ and, for n in 1, 7, 100 random token ids, runs
model.model(input_ids) and writes OUTDIR/<arch>/final_hidden_states.safetensors:

  input_ids.n{n}                [n] int64
  last_hidden_state.n{n}        [n, hidden] float32 holding the bf16 values (after the final norm)
  expert_ids.n{n}.layers.{i}    [n, k] int64: the experts MoE layer i's router chose

manifest_e2e.json beside it names the versions, the attention implementation and the RoPE parameters the model used.
Usage: python3 transformers_e2e.py OUTDIR [--device cuda]
"""

import sys

import torch

from transformers_layers import chosen_experts, is_moe, write_models

TOKEN_COUNTS = (1, 7, 100)
ARCHS = ("ernie4_5_moe", "qwen3_moe")


def use_eager_attention(model):
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:
        model.config._attn_implementation = "eager"
    got = getattr(model.config, "_attn_implementation", None)
    if got != "eager":
        sys.exit(f"{type(model).__name__}: attention implementation is {got!r}, not 'eager'")


def record(model, cfg, n, device, generator, out):
    ids = torch.randint(0, cfg.vocab_size, (1, n), generator=generator)
    chosen = {}
    hooks = []
    for i, layer in enumerate(model.model.layers):
        if is_moe(layer.mlp):
            def grab(_module, _inputs, outputs, i=i):
                chosen[i] = chosen_experts(outputs)
            hooks.append(layer.mlp.gate.register_forward_hook(grab))
    try:
        hidden = model.model(input_ids=ids.to(device), use_cache=False).last_hidden_state
    finally:
        for h in hooks:
            h.remove()
    out[f"input_ids.n{n}"] = ids[0].to(torch.int64).contiguous()
    out[f"last_hidden_state.n{n}"] = hidden[0].float().cpu().contiguous()
    for i, e in chosen.items():
        if e is None:
            sys.exit(f"layer {i}: the router hook saw no expert ids")
        out[f"expert_ids.n{n}.layers.{i}"] = e.reshape(n, -1).to(torch.int64).cpu().contiguous()


def record_all_counts(model, cfg, device, generator, out):
    for n in TOKEN_COUNTS:
        record(model, cfg, n, device, generator, out)


def describe_e2e(model, cfg):
    rope = getattr(cfg, "rope_parameters", None) or {"rope_theta": getattr(cfg, "rope_theta", None)}
    return dict(attn_implementation=model.config._attn_implementation, rope=rope, token_counts=list(TOKEN_COUNTS)), ""


def main():
    write_models(__doc__, "final_hidden_states.safetensors", "manifest_e2e.json", record_all_counts, describe_e2e,
                 prepare=use_eager_attention, archs=ARCHS)

if __name__ == "__main__":
    main()
