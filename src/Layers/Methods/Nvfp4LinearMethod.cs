using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// A dense Linear whose weights a ModelOpt NVFP4 checkpoint stores in fp4 (attention projections, dense MLPs):
/// the nvfp4 group GEMM with one expert in the padded layout, whose one row count is the device token count.
/// So the weights run in the bytes the checkpoint holds (no dequantize and re-quantize) on the kernel the MoE
/// experts use. The count comes from the engine's token-count scalar; without one (a caller that passes a null
/// pointer) the method writes the padded row count into its own scalar, a memset that capture records.
/// Only pre-quantized weights: online nvfp4 stays a MoE mode (<see cref="QuantConfig"/>).
/// </summary>
public sealed class Nvfp4LinearMethod : ILinearMethod
{
    private readonly Nvfp4MoeMethod _weights;
    private readonly DeviceBuffer _rows;
    private readonly int _maxRows;
    private bool _disposed;

    private Nvfp4LinearMethod(Nvfp4MoeMethod weights, DeviceBuffer rows, int maxRows)
    {
        _weights = weights;
        _rows = rows;
        _maxRows = maxRows;
    }

    /// <summary>
    /// ModelOpt's tensors of one Linear [N, K]: weight [N, K/2] (low nibble first), weight_scale [N, K/16] e4m3,
    /// weight_scale_2 (w = e2m1 · weight_scale · weight_scale_2). K must be a multiple of 16.
    /// </summary>
    public static Nvfp4LinearMethod FromPrequantized(LayerContext ctx, int n, int k, DType activation, float globalScale, Nvfp4ExpertReader read)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var weights = Nvfp4MoeMethod.FromPrequantized(ctx, 1, n, k, activation, new[] { globalScale }, read);
        try
        {
            return new Nvfp4LinearMethod(weights, ctx.Device.Allocate(4, "nvfp4 linear rows"), ctx.MaxTokens);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public QuantMode Mode => QuantMode.Nvfp4;
    /// <inheritdoc/>
    public string Label => _weights.Label;
    /// <inheritdoc/>
    public int InFeatures => _weights.K;
    /// <inheritdoc/>
    public int OutFeatures => _weights.N;
    /// <inheritdoc/>
    public long WeightBytes => _weights.WeightBytesPerExpert;

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckForward(_weights.Activation, stream, input, output, paddedRows, _maxRows);
        int k = InFeatures, n = OutFeatures;
        var rows = tokenCount;
        if (rows.IsNull)
        {
            rows = _rows.Ptr;
            stream.Fill32Async(rows, (uint)paddedRows, 1);
        }
        var device = input.Device;
        var problem = new GroupGemmProblem(TokenLayout.Padded, 1, n, k, paddedRows,
            new Tensor(device, input.Ptr, input.DType, 1, paddedRows, k),
            new Tensor(device, rows, DType.I32, 1),
            new Tensor(device, output.Ptr, output.DType, 1, paddedRows, n));
        _weights.Forward(stream, problem);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _weights.DequantizedWeights(0);
    }

    /// <summary>Frees the weights and the row-count scalar.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _weights.Dispose();
        _rows.Dispose();
    }
}
