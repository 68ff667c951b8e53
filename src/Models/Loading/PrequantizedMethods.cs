using System.Runtime.InteropServices;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// Builds the engine's methods from a pre-quantized checkpoint's tensors, bytes as stored: NVFP4 Linears on
/// <see cref="Nvfp4LinearMethod"/> and experts on <see cref="Nvfp4MoeMethod"/>, block-wise fp8 Linears on
/// <see cref="BlockWiseFp8LinearMethod"/> and experts on <see cref="BlockWiseFp8MoeMethod"/>. Where the engine fuses
/// projections the checkpoint keeps apart (q/k/v, gate/up) the parts are stacked along N, which is exact only
/// when the formats' scales stack too: NVFP4 parts must share weight_scale_2 (ModelOpt's export ties them for
/// this reason), block-fp8 parts before the last must have N a multiple of 128 (a 128-row scale block may not
/// straddle two projections). Anything else is refused naming the tensor rather than re-quantized.
/// </summary>
internal static class PrequantizedMethods
{
    public static QuantMode ModeOf(PrequantizedFormat format) =>
        format == PrequantizedFormat.Nvfp4 ? QuantMode.Nvfp4 : QuantMode.BlockWiseFp8;

    /// <summary>One Linear over <paramref name="parts"/> stacked along N (a single part: the projection itself).</summary>
    public static ILinearMethod Linear(LayerContext ctx, DType activation, IReadOnlyList<QuantizedLinear> parts, DeviceUpload upload)
    {
        int k = parts[0].InFeatures, n = parts.Sum(p => p.OutFeatures);
        if (parts[0].Format == PrequantizedFormat.Nvfp4)
        {
            float global = SharedGlobal(parts);
            return Nvfp4LinearMethod.FromPrequantized(ctx, n, k, activation, global, (_, q, s) => Stack(parts, upload, q, s));
        }
        var (w, scales) = StackFp8(parts, upload);
        return BlockWiseFp8LinearMethod.FromPrequantized(ctx, w, scales, n, k, activation);
    }

    /// <summary>The experts of one group GEMM: <paramref name="experts"/>[e] are expert e's parts, stacked along N.</summary>
    public static IMoeMethod Experts(LayerContext ctx, DType activation, IReadOnlyList<IReadOnlyList<QuantizedLinear>> experts,
        int slabRows, DeviceUpload upload)
    {
        var first = experts[0];
        int k = first[0].InFeatures, n = first.Sum(p => p.OutFeatures), count = experts.Count;
        if (first[0].Format == PrequantizedFormat.Nvfp4)
        {
            var globals = experts.Select(SharedGlobal).ToArray();
            return Nvfp4MoeMethod.FromPrequantized(ctx, count, n, k, activation, globals, (e, q, s) => Stack(experts[e], upload, q, s));
        }
        return BlockWiseFp8MoeMethod.FromPrequantized(ctx, count, n, k, activation, slabRows, (e, w, s) =>
        {
            var (bytes, scales) = StackFp8(experts[e], upload);
            bytes.CopyTo(w, 0);
            scales.CopyTo(s, 0);
        });
    }

    private static float SharedGlobal(IReadOnlyList<QuantizedLinear> parts)
    {
        float global = parts[0].ReadGlobalScale();
        foreach (var p in parts.Skip(1))
        {
            float g = p.ReadGlobalScale();
            if (BitConverter.SingleToInt32Bits(g) != BitConverter.SingleToInt32Bits(global))
                throw new CheckpointException(p.GlobalScale!.File.Path, p.GlobalScale.Name,
                    $"is {g:R} but {parts[0].GlobalScale!.Name} is {global:R}; the engine runs these projections as one with one global " +
                    "scale and does not re-quantize (ModelOpt's export ties them)");
        }
        return global;
    }

    /// <summary>Writes the parts' weights end to end into <paramref name="packed"/> and their scales into <paramref name="scales"/>:
    /// NVFP4 and fp8 store both row-major along N, so fusing along N is concatenation.</summary>
    private static void Stack(IReadOnlyList<QuantizedLinear> parts, DeviceUpload upload, byte[] packed, byte[] scales)
    {
        long q = 0, s = 0;
        foreach (var p in parts)
        {
            upload.ToHost(p.Weight, packed, q);
            upload.ToHost(p.Scale, scales, s);
            q += p.Weight.ByteLength;
            s += p.Scale.ByteLength;
        }
    }

    private static (byte[] Weights, float[] Scales) StackFp8(IReadOnlyList<QuantizedLinear> parts, DeviceUpload upload)
    {
        const int b = QuantizedLinear.Fp8Block;
        for (int i = 0; i < parts.Count - 1; i++)
            if (parts[i].OutFeatures % b != 0)
                throw new CheckpointException(parts[i].Weight.File.Path, parts[i].Weight.Name,
                    $"has N = {parts[i].OutFeatures}, not a multiple of {b}: fused with {parts[i + 1].Module}, one 128-row scale block would " +
                    "cover both projections");
        var w = new byte[parts.Sum(p => p.Weight.ByteLength)];
        var s = new byte[parts.Sum(p => p.Scale.ByteLength)];
        Stack(parts, upload, w, s);
        return (w, MemoryMarshal.Cast<byte, float>(s).ToArray());
    }
}
