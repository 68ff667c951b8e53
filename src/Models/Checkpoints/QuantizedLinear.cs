namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// One nn.Linear [N, K] a pre-quantized checkpoint stores quantized: its weight and the scale tensors of its
/// format, each checked (present, dtype, shape) when found, so a bad file fails before any upload with the
/// file and the tensor named. NVFP4: <see cref="Scale"/> is weight_scale, <see cref="GlobalScale"/>
/// weight_scale_2, <see cref="InputScale"/> input_scale (optional; read for its checks only, since the engine's
/// nvfp4 keeps activations in bf16/fp16). Block fp8: <see cref="Scale"/> is weight_scale_inv.
/// </summary>
public sealed record QuantizedLinear(
    PrequantizedFormat Format,
    string Module,
    int OutFeatures,
    int InFeatures,
    CheckpointTensor Weight,
    CheckpointTensor Scale,
    CheckpointTensor? GlobalScale,
    CheckpointTensor? InputScale)
{
    /// <summary>Block edge of <see cref="PrequantizedFormat.BlockFp8"/> scales.</summary>
    public const int Fp8Block = 128;
    /// <summary>Weights per e4m3 scale of <see cref="PrequantizedFormat.Nvfp4"/>.</summary>
    public const int Nvfp4Group = 16;

    /// <summary>
    /// The quantized tensors of the Linear whose weight <paramref name="expected"/> describes ([N, K] as nn.Linear
    /// declares it), or null when the file stores that weight unquantized (bf16 / fp16 / fp32: the caller loads it
    /// as usual). Consumes what it returns.
    /// </summary>
    /// <exception cref="CheckpointException">A scale is missing or of the wrong dtype or shape, the weight is of a dtype the format does not use, or the quantization config excludes a module the file stores quantized.</exception>
    public static QuantizedLinear? Read(CheckpointDirectory ckpt, CheckpointQuantization quant, ExpectedTensor expected)
    {
        ArgumentNullException.ThrowIfNull(ckpt);
        ArgumentNullException.ThrowIfNull(quant);
        ArgumentNullException.ThrowIfNull(expected);
        if (expected.Shape.Count != 2 || !expected.Name.EndsWith(".weight", StringComparison.Ordinal))
            throw new ArgumentException($"{expected} is not a Linear weight", nameof(expected));
        var w = ckpt.Get(expected.Name);
        if (w.DType is SafetensorsDType.BF16 or SafetensorsDType.F16 or SafetensorsDType.F32) return null;
        string module = expected.Name[..^".weight".Length];
        int n = checked((int)expected.Shape[0]), k = checked((int)expected.Shape[1]);
        if (quant.IsExcluded(module))
            throw new CheckpointException(w.File.Path, w.Name,
                $"is stored {w.DType.HeaderName()}, but {Path.GetFileName(quant.File)} lists '{module}' as left unquantized");
        return quant.Format == PrequantizedFormat.Nvfp4 ? Nvfp4(ckpt, module, n, k, w) : BlockFp8(ckpt, module, n, k, w);
    }

    private static QuantizedLinear Nvfp4(CheckpointDirectory ckpt, string module, int n, int k, CheckpointTensor w)
    {
        Expect(w, SafetensorsDType.U8, "NVFP4 stores weights as U8 (two e2m1 per byte) or unquantized in bf16/fp16/fp32");
        if (k % Nvfp4Group != 0)
            throw new CheckpointException(w.File.Path, w.Name, $"has K = {k} input features, not a multiple of the NVFP4 group of {Nvfp4Group}");
        Shape(w, n, k / 2);
        var scale = Companion(ckpt, w, module, "weight_scale", SafetensorsDType.F8E4M3);
        Shape(scale, n, k / Nvfp4Group);
        var global = Companion(ckpt, w, module, "weight_scale_2", SafetensorsDType.F32);
        Scalar(global);
        CheckpointTensor? input = null;
        if (ckpt.Contains($"{module}.input_scale"))
        {
            input = Companion(ckpt, w, module, "input_scale", SafetensorsDType.F32);
            Scalar(input);
        }
        return new QuantizedLinear(PrequantizedFormat.Nvfp4, module, n, k, w, scale, global, input);
    }

    private static QuantizedLinear BlockFp8(CheckpointDirectory ckpt, string module, int n, int k, CheckpointTensor w)
    {
        Expect(w, SafetensorsDType.F8E4M3, "block-wise fp8 stores weights as F8_E4M3 or unquantized in bf16/fp16/fp32");
        Shape(w, n, k);
        var scale = Companion(ckpt, w, module, "weight_scale_inv", SafetensorsDType.F32);
        Shape(scale, (n + Fp8Block - 1) / Fp8Block, (k + Fp8Block - 1) / Fp8Block);
        return new QuantizedLinear(PrequantizedFormat.BlockFp8, module, n, k, w, scale, null, null);
    }

    /// <summary>weight_scale_2 as a float (a scalar or one-element tensor), checked finite and positive.</summary>
    public float ReadGlobalScale()
    {
        var t = GlobalScale ?? throw new InvalidOperationException($"{Module} has no weight_scale_2 ({Format})");
        Span<byte> b = stackalloc byte[4];
        t.Read(0, b);
        float v = BitConverter.ToSingle(b);
        if (!float.IsFinite(v) || v <= 0)
            throw new CheckpointException(t.File.Path, t.Name, $"is {v}; a global scale must be finite and > 0");
        return v;
    }

    private static CheckpointTensor Companion(CheckpointDirectory ckpt, CheckpointTensor weight, string module, string suffix, SafetensorsDType dtype)
    {
        string name = $"{module}.{suffix}";
        if (!ckpt.TryGet(name, out var t))
            throw new CheckpointException(weight.File.Path, name,
                $"is missing: {weight.Name} is stored {weight.DType.HeaderName()} (pre-quantized), which needs it");
        Expect(t, dtype, null);
        return t;
    }

    private static void Expect(CheckpointTensor t, SafetensorsDType dtype, string? why)
    {
        if (t.DType != dtype)
            throw new CheckpointException(t.File.Path, t.Name, $"is {t.DType.HeaderName()}, expected {dtype.HeaderName()}" + (why is null ? "" : $" ({why})"));
    }

    private static void Shape(CheckpointTensor t, params long[] shape)
    {
        if (!t.Shape.SequenceEqual(shape))
            throw new CheckpointException(t.File.Path, t.Name, $"has shape {t.Entry.ShapeText}, expected [{string.Join(", ", shape)}]");
    }

    private static void Scalar(CheckpointTensor t)
    {
        if (t.Entry.ElementCount != 1 || t.Shape.Count > 1)
            throw new CheckpointException(t.File.Path, t.Name, $"has shape {t.Entry.ShapeText}, expected a scalar ([] or [1])");
    }
}
