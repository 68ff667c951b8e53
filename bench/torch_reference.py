#!/usr/bin/env python3
"""PyTorch peers for `graphengine bench --torch`.

Reads a spec (JSON, written by the C# bench) that lists the stacks and kernels to time, builds each
with torch's own kernels (F.rms_norm, F.linear, torch._grouped_mm, torch._weight_int8pack_mm,
torch._weight_int4pack_mm, torch._scaled_mm) and prints one JSON document on stdout. Stacks are timed
eagerly and under torch.cuda.graph; kernels the way the C# side times its own: S instances with their own
weights (S and R from the spec) captured back to back, the whole turn R times over, in one CUDA graph per
token count; median over --reps replays (after --warmup) of the event time around one replay, synchronized
after each as the C# side does, divided by S x R. A kernel shape's instances are built once, at its largest
token count, and reused at every count (activations are row slices of one buffer), as ours are:

  {"torch": "2.11.0", "device": "...", "results": [{"key": ..., "name": ..., "ms": ...} |
                                                   {"key": ..., "name": ..., "error": "..."}]}

Every item is independent: an item that fails (a kernel torch lacks, out of memory) is reported with
its error and the rest go on. Inputs are random (never zeros). Nothing here is part of the product.
"""
import argparse
import json
import math
import statistics
import sys
import time
import traceback


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median_ms(torch, fn, reps, warmup):
    """Median of per-call CUDA-event times (ms); each call is bracketed by its own events and synchronized after,
    as Timing.Step does on the C# side, so a call never overlaps the next one's launch."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def graphed(torch, fn, warmup):
    """Captures fn into a CUDA graph (after warm-up on a side stream, as torch's docs ask); returns replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(1, warmup)):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    torch.cuda.synchronize()
    return g.replay, g


def rand(torch, shape, dtype, scale=1.0, device="cuda"):
    """Uniform in [-scale, scale): random non-zero data, as every figure here must be timed on."""
    t = torch.empty(shape, dtype=dtype, device=device)
    t.uniform_(-scale, scale)
    return t


# ----------------------------------------------------------------------------- stacks

class Stack:
    """A prefill stack from the spec's op list, with buffers sized for max_tokens rows."""

    def __init__(self, torch, spec, max_tokens):
        self.torch = torch
        F = torch.nn.functional
        self.F = F
        bf16 = torch.bfloat16
        self.ops = []
        self.eps = 1e-6
        hidden = spec["hidden"]
        self.x = rand(torch, (max_tokens, hidden), bf16)
        self.residual = rand(torch, (max_tokens, hidden), bf16)
        self.max_tokens = max_tokens
        for op in spec["ops"]:
            kind = op["op"]
            if kind == "rmsnorm":
                w = rand(torch, (op["hidden"],), bf16, 0.5).add_(1.0)
                self.ops.append(("rmsnorm", w, bool(op.get("residual", False))))
            elif kind == "linear":
                w = rand(torch, (op["out"], op["in"]), bf16, 1.0 / math.sqrt(op["in"]))
                fresh = rand(torch, (max_tokens, op["in"]), bf16) if op.get("fresh_input") else None
                self.ops.append(("linear", w, fresh, bool(op.get("swiglu", False))))
            elif kind == "moe":
                e, k, ffn, h = op["experts"], op["top_k"], op["expert_ffn"], op["hidden"]
                gate = rand(torch, (e, h), bf16, 1.0 / math.sqrt(h))
                # [E, N, K] contiguous, passed to _grouped_mm as its [E, K, N] transpose (column-major B).
                w1 = rand(torch, (e, 2 * ffn, h), bf16, 1.0 / math.sqrt(h))
                w2 = rand(torch, (e, h, ffn), bf16, 1.0 / math.sqrt(ffn))
                self.ops.append(("moe", gate, w1, w2, e, k, ffn))
            else:
                raise ValueError(f"unknown op {kind!r}")
        self.n = max_tokens

    def moe(self, x, gate, w1, w2, e, k, ffn):
        torch, F = self.torch, self.F
        n = x.shape[0]
        logits = F.linear(x, gate).float()
        weights, ids = torch.topk(torch.softmax(logits, dim=-1), k, dim=-1)
        weights = (weights / weights.sum(dim=-1, keepdim=True)).to(x.dtype)
        flat = ids.reshape(-1)
        order = torch.argsort(flat, stable=True)
        token = order // k
        counts = torch.zeros(e, dtype=torch.int32, device=x.device)
        counts.scatter_add_(0, flat.to(torch.int64), torch.ones_like(flat, dtype=torch.int32))
        offs = torch.cumsum(counts, 0, dtype=torch.int32)
        xs = x.index_select(0, token)
        h1 = torch._grouped_mm(xs, w1.transpose(1, 2), offs=offs)
        g, u = h1.chunk(2, dim=-1)
        a = F.silu(g) * u
        h2 = torch._grouped_mm(a, w2.transpose(1, 2), offs=offs)
        h2 = h2 * weights.reshape(-1)[order].unsqueeze(-1)
        out = torch.zeros_like(x)
        out.index_add_(0, token, h2)
        return out

    def step(self, n=None):
        F = self.F
        n = self.n if n is None else n
        x = self.x[:n]
        res = self.residual[:n]
        for op in self.ops:
            if op[0] == "rmsnorm":
                _, w, fused = op
                if fused:
                    res = x + res
                    x = F.rms_norm(res, (w.shape[0],), w, self.eps)
                else:
                    x = F.rms_norm(x, (w.shape[0],), w, self.eps)
            elif op[0] == "linear":
                _, w, fresh, swiglu = op
                inp = fresh[:n] if fresh is not None else x
                x = F.linear(inp, w)
                if swiglu:
                    g, u = x.chunk(2, dim=-1)
                    x = F.silu(g) * u
            else:
                x = self.moe(x, *op[1:])
        return x


def run_stack(torch, item, reps, warmup, results):
    tokens = item["tokens"]
    try:
        stack = Stack(torch, item, max(tokens))
    except Exception as e:  # noqa: BLE001 - report and go on
        for n in tokens:
            for mode in ("eager", "graph"):
                results.append({"key": item["keys"][mode][str(n)], "name": f"torch {mode}", "error": f"{type(e).__name__}: {e}"})
        return
    for n in tokens:
        stack.n = n
        for mode in ("eager", "graph"):
            key = item["keys"][mode][str(n)]
            try:
                if mode == "eager":
                    ms = median_ms(torch, stack.step, reps, warmup)
                else:
                    replay, g = graphed(torch, stack.step, warmup)
                    ms = median_ms(torch, replay, reps, warmup)
                    del g
                results.append({"key": key, "name": f"torch {mode}", "ms": ms})
            except Exception as e:  # noqa: BLE001
                results.append({"key": key, "name": f"torch {mode}", "error": f"{type(e).__name__}: {e}"})
                torch.cuda.synchronize()
    del stack
    torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- kernels

def kernel_instances(torch, item):
    """Builds a kernel item's S instances (their own weights, at the item's largest token count) once.

    Returns (name, make): make(point) gives the S calls for one point, on the first `tokens` rows of the shared input.
    Activations are shared by the instances, as ours are: in a model they were just written by the previous kernel.
    """
    F = torch.nn.functional
    bf16 = torch.bfloat16
    op = item["op"]
    count = max(1, int(item.get("instances", 1)))
    m = max(p["tokens"] for p in item["points"])

    if op == "rmsnorm":
        h = item["hidden"]
        x = rand(torch, (m, h), bf16)
        ws = [rand(torch, (h,), bf16, 0.5).add_(1.0) for _ in range(count)]
        return "F.rms_norm", lambda p: [(lambda w=w, xs=x[:p["tokens"]]: F.rms_norm(xs, (h,), w, 1e-6)) for w in ws]
    if op == "linear":
        k, n, mode = item["k"], item["n"], item["mode"]
        x = rand(torch, (m, k), bf16)
        if mode == "bf16":
            ws = [rand(torch, (n, k), bf16, 1.0 / math.sqrt(k)) for _ in range(count)]
            return "F.linear", lambda p: [(lambda w=w, xs=x[:p["tokens"]]: F.linear(xs, w)) for w in ws]
        if mode == "wint8":
            ws = [(torch.randint(-127, 128, (n, k), dtype=torch.int8, device="cuda"),
                   rand(torch, (n,), bf16, 0.01).abs_().add_(1e-3)) for _ in range(count)]
            return "torch._weight_int8pack_mm", lambda p: [
                (lambda w=w, xs=x[:p["tokens"]]: torch._weight_int8pack_mm(xs, w[0], w[1])) for w in ws]
        if mode == "wint4":
            group = item.get("group", 128)
            ws = [(torch._convert_weight_to_int4pack(torch.randint(0, 256, (n, k // 2), dtype=torch.uint8, device="cuda"), 8),
                   rand(torch, (k // group, n, 2), bf16, 0.01)) for _ in range(count)]
            return "torch._weight_int4pack_mm", lambda p: [
                (lambda w=w, xs=x[:p["tokens"]]: torch._weight_int4pack_mm(xs, w[0], group, w[1])) for w in ws]
        if mode == "fp8_tensor":
            a8 = rand(torch, (m, k), torch.float32).to(torch.float8_e4m3fn)
            one = torch.ones((), dtype=torch.float32, device="cuda")
            ws = [rand(torch, (n, k), torch.float32).to(torch.float8_e4m3fn) for _ in range(count)]
            return "torch._scaled_mm (per-tensor)", lambda p: [
                (lambda b=b, a=a8[:p["tokens"]]: torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=bf16)) for b in ws]
        raise NotImplementedError(f"no torch peer for linear mode {mode}")
    if op == "moe_layer":
        stacks = [Stack(torch, {"hidden": item["hidden"], "ops": [dict(item, op="moe")]}, m) for _ in range(count)]
        for s in stacks[1:]:
            s.x = stacks[0].x  # one shared input, as ours
        return ("torch MoE layer (router, topk, 2x torch._grouped_mm, SwiGLU, index_add)",
                lambda p: [(lambda s=s, t=p["tokens"]: s.step(t)) for s in stacks])
    if op == "grouped_mm":
        e, n, k = item["experts"], item["n"], item["k"]
        rows = max(p["rows"] for p in item["points"])
        a = rand(torch, (rows, k), bf16)
        ws = [rand(torch, (e, n, k), bf16, 1.0 / math.sqrt(k)) for _ in range(count)]

        def make(p):
            offs = torch.cumsum(torch.tensor(p["counts"], dtype=torch.int32, device="cuda"), 0, dtype=torch.int32)
            return [(lambda w=w, xs=a[:p["rows"]], o=offs: torch._grouped_mm(xs, w.transpose(1, 2), offs=o)) for w in ws]
        return "torch._grouped_mm", make
    raise NotImplementedError(f"no torch peer for op {op}")


# A replay of the rotated graph is kept under this many ms: a slow peer (torch._weight_int8pack_mm at 2048
# rows runs for milliseconds) gets fewer repeats instead of minutes of device time. The S instances still
# rotate the weights past L2, so fewer repeats change the sample count, not the method.
REPLAY_BUDGET_MS = 50.0


def repeats_within_budget(torch, fns, repeats):
    """R, lowered so that S x R calls take at most REPLAY_BUDGET_MS, from one eager pass over the S instances."""
    for f in fns:
        f()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for f in fns:
        f()
    end.record()
    end.synchronize()
    pass_ms = start.elapsed_time(end)
    return max(1, min(repeats, int(REPLAY_BUDGET_MS / max(pass_ms, 1e-3))))


def rotated_ms(torch, fns, repeats, reps, warmup):
    """Ours' method: the S instances captured back to back, R times over, in one CUDA graph; median replay time / (S x R).

    Returns (ms per call, the R used)."""
    repeats = repeats_within_budget(torch, fns, repeats)

    def turns():
        for _ in range(repeats):
            for f in fns:
                f()

    replay, g = graphed(torch, turns, warmup)
    ms = median_ms(torch, replay, reps, warmup)
    del g
    return ms / (len(fns) * repeats), repeats


def run_kernel(torch, item, reps, warmup, results):
    name = item["op"]
    instances = max(1, int(item.get("instances", 1)))
    repeats = max(1, int(item.get("repeats", 1)))
    t0 = time.monotonic()
    try:
        name, make = kernel_instances(torch, item)
    except Exception as e:  # noqa: BLE001 - every point of the shape reports the error and the rest go on
        for p in item["points"]:
            results.append({"key": p["key"], "name": name, "error": f"{type(e).__name__}: {e}"})
        torch.cuda.empty_cache()
        return
    for p in item["points"]:
        try:
            ms, used = rotated_ms(torch, make(p), repeats, reps, warmup)
            results.append({"key": p["key"], "name": name, "ms": ms, "instances": instances, "repeats": used})
        except Exception as e:  # noqa: BLE001
            results.append({"key": p["key"], "name": name, "error": f"{type(e).__name__}: {e}"})
            try:
                torch.cuda.synchronize()
            except Exception:  # noqa: BLE001
                pass
    log(f"torch: {name} ({len(item['points'])} points, {instances} instances x {repeats} repeats) in {time.monotonic() - t0:.1f} s")
    make = None
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, help="JSON spec written by graphengine bench")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    out = {"torch": None, "device": None, "results": []}
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        out["error"] = f"cannot import torch: {type(e).__name__}: {e}"
        print(json.dumps(out))
        return 0
    out["torch"] = torch.__version__
    if not torch.cuda.is_available():
        out["error"] = "torch sees no CUDA device"
        print(json.dumps(out))
        return 0
    out["device"] = torch.cuda.get_device_name(0)
    torch.manual_seed(1234)
    for item in spec.get("stacks", []):
        t0 = time.monotonic()
        run_stack(torch, item, args.reps, args.warmup, out["results"])
        log(f"torch: stack {item.get('name')} in {time.monotonic() - t0:.1f} s")
    for item in spec.get("kernels", []):
        run_kernel(torch, item, args.reps, args.warmup, out["results"])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - the C# side reads one JSON document whatever happens
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"torch": None, "results": [], "error": f"{type(e).__name__}: {e}"}))
        sys.exit(0)
