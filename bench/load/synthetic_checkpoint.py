#!/usr/bin/env python3
"""A synthetic Llama checkpoint of a chosen size, sharded as save_pretrained shards it, for load measurements.

    python3 bench/load/synthetic_checkpoint.py OUTDIR GB [--hidden 4096 --ffn 14336 --heads 32 --kv-heads 8 --vocab 32000 --shard-gb 2]
    python3 bench/load/synthetic_checkpoint.py --evict OUTDIR

Writes config.json, model-0000i-of-0000n.safetensors (about 2 GB each) and model.safetensors.index.json with as
many decoder layers as reach GB (decimal gigabytes of tensor data). Values are bf16 uniform in [-0.02, 0.02): one
64 MiB block of them is drawn once and repeated, because the measurement is of reading and uploading bytes, not of
what they hold. Standard library only (the GPU machine has no internet and numpy is not needed).

--evict drops the shards from the page cache (posix_fadvise DONTNEED, no root needed), so the next load reads
the disk rather than memory; a load straight after writing would otherwise measure the page cache.
"""
import argparse
import json
import os
import random
import struct
import sys

BLOCK_BYTES = 64 << 20


def bf16_block():
    rng = random.Random(7)
    # bf16 = the top half of a float32 (truncation; the values only need to be finite). 2 MiB drawn, repeated.
    vals = [struct.unpack("<I", struct.pack("<f", rng.uniform(-0.02, 0.02)))[0] >> 16 for _ in range(1 << 20)]
    base = struct.pack(f"<{len(vals)}H", *vals)  # 2 MiB
    return (base * (BLOCK_BYTES // len(base)))[:BLOCK_BYTES]


def tensors(layers, h, f, heads, kv, vocab):
    d = h // heads
    yield "model.embed_tokens.weight", [vocab, h]
    for i in range(layers):
        p = f"model.layers.{i}"
        yield f"{p}.input_layernorm.weight", [h]
        yield f"{p}.post_attention_layernorm.weight", [h]
        yield f"{p}.self_attn.q_proj.weight", [heads * d, h]
        yield f"{p}.self_attn.k_proj.weight", [kv * d, h]
        yield f"{p}.self_attn.v_proj.weight", [kv * d, h]
        yield f"{p}.self_attn.o_proj.weight", [h, heads * d]
        yield f"{p}.mlp.gate_proj.weight", [f, h]
        yield f"{p}.mlp.up_proj.weight", [f, h]
        yield f"{p}.mlp.down_proj.weight", [h, f]
    yield "model.norm.weight", [h]
    yield "lm_head.weight", [vocab, h]


def nbytes(shape):
    n = 2
    for s in shape:
        n *= s
    return n


def layers_for(gb, h, f, heads, kv, vocab):
    d = h // heads
    per_layer = 2 * (2 * h + 2 * heads * d * h + 2 * kv * d * h + 3 * f * h)
    fixed = 2 * (2 * vocab * h + h)
    return max(1, round((gb * 1e9 - fixed) / per_layer))


def write_shard(path, items, block):
    header, at = {}, 0
    for name, shape in items:
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [at, at + nbytes(shape)]}
        at += nbytes(shape)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        left = at
        while left:
            n = min(left, len(block))
            out.write(block[:n])
            left -= n
        out.flush()
        os.fsync(out.fileno())
    return at


def evict(directory):
    for name in sorted(os.listdir(directory)):
        if name.endswith(".safetensors"):
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evict", action="store_true", help="only drop OUTDIR's shards from the page cache")
    ap.add_argument("out")
    ap.add_argument("gb", nargs="?", type=float)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--ffn", type=int, default=14336)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--shard-gb", type=float, default=2.0, help="largest shard (save_pretrained's max_shard_size)")
    a = ap.parse_args()
    if a.evict:
        evict(a.out)
        return 0
    if a.gb is None or a.gb <= 0:
        ap.error("GB must be > 0")
    layers = layers_for(a.gb, a.hidden, a.ffn, a.heads, a.kv_heads, a.vocab)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "attention_bias": False,
        "mlp_bias": False, "hidden_size": a.hidden, "intermediate_size": a.ffn, "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads, "num_hidden_layers": layers, "rms_norm_eps": 1e-5, "vocab_size": a.vocab,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }
    os.makedirs(a.out, exist_ok=True)
    config_path = os.path.join(a.out, "config.json")
    if os.path.exists(config_path) and os.path.exists(os.path.join(a.out, "model.safetensors.index.json")):
        with open(config_path) as f:
            if json.load(f) == config:
                print(f"{a.out}: already written ({layers} layers)")
                return 0
    shards, current, size = [], [], 0
    for name, shape in tensors(layers, a.hidden, a.ffn, a.heads, a.kv_heads, a.vocab):
        if current and size + nbytes(shape) > a.shard_gb * 1e9:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += nbytes(shape)
    shards.append(current)
    block = bf16_block()
    weight_map, total = {}, 0
    for i, items in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_shard(os.path.join(a.out, file), items, block)
        weight_map.update({name: file for name, _ in items})
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    with open(config_path, "w") as f:
        json.dump(config, f)
    print(f"{a.out}: {layers} layers, {len(shards)} shards, {total / 1e9:.4f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
