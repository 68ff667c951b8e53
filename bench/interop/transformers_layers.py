"""Records transformers' per-layer outputs of small random bf16 models, for `graphengine check --model DIR --oracle FILE`.

For Ernie4_5_MoeForCausalLM, Qwen3MoeForCausalLM and LlamaForCausalLM (transformers 5.x) it builds a model with odd
sizes (hidden 192, 6 or 10 experts, top-k 2 and 8, MoE layers from layer 1 on, a non-zero ERNIE selection bias set
explicitly since transformers initialises it to zero), saves it with save_pretrained into OUTDIR/<arch>/ and, for
every decoder layer and n in 1, 7, 100, 513, feeds random bf16 hidden states to each sublayer and writes
OUTDIR/<arch>/oracle.safetensors:

  layers.{i}.n{n}.input_layernorm.{in,out}
  layers.{i}.n{n}.self_attn.qkv_proj.{in,out}   (out = cat(q_proj, k_proj, v_proj), the engine's fused QKV)
  layers.{i}.n{n}.self_attn.o_proj.{in,out}     (in = a random attention output)
  layers.{i}.n{n}.post_attention_layernorm.{in,out}
  layers.{i}.n{n}.mlp.{in,out}                  (the dense MLP or the whole MoE block, shared experts included)
  layers.{i}.n{n}.mlp.expert_ids                (MoE only: the router's chosen experts, int64 [n, k])

Values are float32 holding the bf16 numbers each side sees; manifest.json beside it lists what was written.
Usage: python3 transformers_layers.py OUTDIR [--device cuda]
"""

import argparse
import json
import math
import os
import sys

import torch

TOKEN_COUNTS = (1, 7, 100, 513)


def configs():
    """(directory name, model class name, config class name, config kwargs) for the three architectures."""
    common = dict(hidden_size=192, num_attention_heads=6, num_key_value_heads=2, vocab_size=256, hidden_act="silu",
                  max_position_embeddings=4096)
    return [
        ("ernie4_5_moe", "Ernie4_5_MoeForCausalLM", "Ernie4_5_MoeConfig", dict(
            common, num_hidden_layers=3, intermediate_size=320, moe_num_experts=6, moe_k=2, moe_intermediate_size=96,
            moe_num_shared_experts=2, moe_layer_start_index=1, moe_layer_end_index=2, moe_layer_interval=1,
            moe_norm_min=1e-12, use_bias=False, tie_word_embeddings=True, rms_norm_eps=1e-5)),
        ("qwen3_moe", "Qwen3MoeForCausalLM", "Qwen3MoeConfig", dict(
            common, num_hidden_layers=3, head_dim=32, intermediate_size=320, num_experts=10, num_experts_per_tok=8,
            moe_intermediate_size=96, norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[0],
            attention_bias=False, tie_word_embeddings=False, rms_norm_eps=1e-6)),
        ("llama", "LlamaForCausalLM", "LlamaConfig", dict(
            common, num_hidden_layers=2, intermediate_size=352, attention_bias=False, mlp_bias=False,
            tie_word_embeddings=False, rms_norm_eps=1e-5)),
    ]


def randomise(model, generator):
    """O(1) activations: matrices N(0, 1/in), norm weights 1 +- 0.25, ERNIE's selection bias in (0.1, 1.1)/E."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("e_score_correction_bias"):
                e = p.shape[-1]
                p.copy_((torch.rand(p.shape, generator=generator) + 0.1) / e)
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p.shape[-1]))
            else:
                p.copy_(1 + 0.25 * (2 * torch.rand(p.shape, generator=generator) - 1))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_((torch.rand(b.shape, generator=generator) + 0.1) / b.shape[-1])


def is_moe(mlp):
    return hasattr(mlp, "experts") and hasattr(mlp, "gate")


def chosen_experts(outputs):
    """The chosen experts among a router's outputs (their order differs between models): its integer tensor."""
    ints = [t for t in (outputs if isinstance(outputs, tuple) else (outputs,))
            if torch.is_tensor(t) and not t.is_floating_point()]
    return ints[0] if ints else None


def build(arch, model_cls, config_cls, kwargs, device):
    """The random bf16 model of one configs() entry, seeded, as both scripts build it (ERNIE's router kept fp32)."""
    import transformers
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1234)
    cfg = getattr(transformers, config_cls)(**kwargs)
    model = getattr(transformers, model_cls)(cfg)
    randomise(model, generator)
    model = model.to(torch.bfloat16)
    # transformers keeps ERNIE's router and selection bias in fp32 (_keep_in_fp32_modules_strict); so do we.
    for layer in model.model.layers:
        if arch == "ernie4_5_moe" and is_moe(layer.mlp):
            layer.mlp.gate.float()
    return cfg, model.to(device).eval(), generator


def record_layer(layer, i, n, cfg, device, generator, out):
    h = cfg.hidden_size
    p = f"layers.{i}.n{n}"

    def rand(width, scale):
        x = (2 * torch.rand((1, n, width), generator=generator) - 1) * scale
        return x.to(torch.bfloat16).to(device)

    def put(name, t):
        out[f"{p}.{name}"] = t.reshape(n, -1).float().cpu().contiguous()

    x = rand(h, 2.0)
    put("input_layernorm.in", x)
    put("input_layernorm.out", layer.input_layernorm(x))
    x = rand(h, 1.0)
    attn = layer.self_attn
    put("self_attn.qkv_proj.in", x)
    put("self_attn.qkv_proj.out", torch.cat([attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)], dim=-1))
    a = rand(attn.o_proj.in_features, 1.0)
    put("self_attn.o_proj.in", a)
    put("self_attn.o_proj.out", attn.o_proj(a))
    x = rand(h, 2.0)
    put("post_attention_layernorm.in", x)
    put("post_attention_layernorm.out", layer.post_attention_layernorm(x))
    x = rand(h, 1.0)
    put("mlp.in", x)
    ids = []
    hook = None
    if is_moe(layer.mlp):
        def grab(_module, _inputs, outputs):
            ids.append(chosen_experts(outputs))
        hook = layer.mlp.gate.register_forward_hook(grab)
    y = layer.mlp(x)
    if isinstance(y, tuple):
        y = y[0]
    if hook is not None:
        hook.remove()
        if not ids or ids[0] is None:
            sys.exit(f"layer {i}: the router hook saw no expert ids")
        out[f"{p}.mlp.expert_ids"] = ids[0].reshape(n, -1).to(torch.int64).cpu().contiguous()
    put("mlp.out", y)


def write_models(doc, oracle_file, manifest_file, record, describe, prepare=None, archs=None):
    """The command both scripts are: for each configs() entry (those in `archs` when given) build the model, let
    `prepare(model)` adjust it, save it with save_pretrained into OUTDIR/<arch>/, fill a dict through
    `record(model, cfg, device, generator, out)` under no_grad and write it to OUTDIR/<arch>/<oracle_file>, with a
    manifest beside it; `describe(model, cfg)` gives the manifest's own fields and a note for the summary line."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    import transformers
    from safetensors.torch import save_file

    for arch, model_cls, config_cls, kwargs in configs():
        if archs is not None and arch not in archs:
            continue
        cfg, model, generator = build(arch, model_cls, config_cls, kwargs, args.device)
        if prepare is not None:
            prepare(model)
        target = os.path.join(args.outdir, arch)
        os.makedirs(target, exist_ok=True)
        model.save_pretrained(target)
        out = {}
        with torch.no_grad():
            record(model, cfg, args.device, generator, out)
        save_file(out, os.path.join(target, oracle_file))
        fields, note = describe(model, cfg)
        manifest = dict(arch=arch, model_class=model_cls, transformers=transformers.__version__, torch=torch.__version__,
                        **fields, tensors=len(out), config=kwargs)
        with open(os.path.join(target, manifest_file), "w") as f:
            json.dump(manifest, f, indent=2, default=str)
        print(f"{arch}: {len(out)} tensors{note} -> {target}/{oracle_file}")


def record_all_layers(model, cfg, device, generator, out):
    for i, layer in enumerate(model.model.layers):
        for n in TOKEN_COUNTS:
            record_layer(layer, i, n, cfg, device, generator, out)


def describe_layers(model, cfg):
    moe_layers = [i for i, l in enumerate(model.model.layers) if is_moe(l.mlp)]
    return dict(token_counts=list(TOKEN_COUNTS), layers=len(model.model.layers), moe_layers=moe_layers), f", MoE layers {moe_layers}"


def main():
    write_models(__doc__, "oracle.safetensors", "manifest.json", record_all_layers, describe_layers)

if __name__ == "__main__":
    main()
