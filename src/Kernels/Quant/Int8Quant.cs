namespace GraphEngine.Kernels.Quant;

/// <summary>
/// Dynamic per-token int8 activation quantizer of w8a8 and w4a8, a capturable kernel run inside every forward:
/// scale = amax / 127 per row, q = clamp(rint(x / scale), -127, 127) rounded half to even. K is zero-padded to
/// a multiple of 128 (<see cref="Fp8Quant.Pad128"/>), so the int8 GEMMs need no K tail. A row of zeros gets
/// scale 0 and q = 0. The host functions below are the definition both backends reproduce byte for byte.
/// </summary>
public abstract class Int8Quant
{
    /// <summary>The largest magnitude a code takes: symmetric, so -128 is never produced (scale = amax / 127).</summary>
    public const int QMax = 127;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Int8Quant Create(Device device) =>
        KernelBackend.Create<Int8Quant>(device, cuda => new Int8QuantCuda(cuda), () => new Int8QuantReference());

    /// <summary>
    /// Quantizes rows [0, <paramref name="rows"/>) of <paramref name="x"/> [R, K] (bf16/fp16) into <paramref name="q"/>
    /// I8 [>= rows, Pad128(K)] and <paramref name="scales"/> F32 [>= rows]. Rows at or past the device token count
    /// (if given) are not touched.
    /// </summary>
    public void QuantizeActivations(ComputeStream stream, Tensor x, Tensor q, Tensor scales, int rows, DevicePtr tokenCount)
    {
        ArgumentNullException.ThrowIfNull(stream);
        x.RequireRank(nameof(x), 2).RequireDevice(nameof(x), stream.Device);
        if (!x.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(x)} must be BF16 or F16, got {x}", nameof(x));
        int k = checked((int)x.Dim(1)), kp = Fp8Quant.Pad128(k);
        q.RequireRank(nameof(q), 2).Require(nameof(q), DType.I8).RequireDevice(nameof(q), stream.Device);
        if (q.Dim(1) != kp) throw new ArgumentException($"{nameof(q)} must be [>= {rows}, {kp}] (K={k} padded to 128), got {q}", nameof(q));
        scales.RequireRank(nameof(scales), 1).Require(nameof(scales), DType.F32).RequireDevice(nameof(scales), stream.Device);
        if (rows < 0 || rows > x.Rows || rows > q.Rows || rows > scales.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({x.Rows}, {q.Rows}, {scales.Rows})]");
        if (rows == 0) return;
        QuantizeActivationsCore(stream, x, q, scales, rows, k, kp, tokenCount);
    }

    /// <summary>The backend's kernel behind <see cref="QuantizeActivations"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeActivationsCore(ComputeStream stream, Tensor x, Tensor q, Tensor scales, int rows, int k, int kp, DevicePtr tokenCount);

    /// <summary>Compiles the kernel for <paramref name="activation"/> inputs now, so a first forward inside a capture does not compile. No-op on the reference backend.</summary>
    public virtual void Prepare(DType activation) { }

    // ----- the definition (host) -----

    /// <summary>The scale of a row with largest magnitude <paramref name="amax"/>: amax / 127.</summary>
    public static float ScaleOf(float amax) => amax / QMax;

    /// <summary>clamp(rint(<paramref name="x"/> / <paramref name="scale"/>), -127, 127), half to even; 0 when the scale is 0.</summary>
    public static sbyte Quantize(float x, float scale)
    {
        if (!(scale > 0)) return 0;
        float v = MathF.Round(x / scale, MidpointRounding.ToEven);
        return (sbyte)Math.Clamp((int)v, -QMax, QMax);
    }

    /// <summary>One activation row: <paramref name="x"/> has K values, <paramref name="q"/> Pad128(K) codes; returns the row's scale.</summary>
    public static float HostQuantizeRow(ReadOnlySpan<float> x, Span<sbyte> q)
    {
        int k = x.Length, kp = Fp8Quant.Pad128(k);
        if (q.Length != kp) throw new ArgumentException($"q holds {q.Length} codes, expected {kp}", nameof(q));
        float amax = 0;
        for (int c = 0; c < k; c++) amax = MathF.Max(amax, MathF.Abs(x[c]));
        float scale = ScaleOf(amax);
        for (int c = 0; c < kp; c++) q[c] = c < k ? Quantize(x[c], scale) : (sbyte)0;
        return scale;
    }
}
