namespace GraphEngine.Kernels.Moe;

/// <summary>
/// wi4a16 group GEMM (after FastDeploy PR #7078): unsigned int4 weights with per-group (128) scales and zeros,
/// w = (q - zero) * scale, fp16/bf16 activations. Its tile list is planned on the HOST: <see cref="Run"/>
/// waits for the stream, reads the offsets back, builds the list of (expert, rows) tiles, uploads it to
/// the plan's preallocated device buffer and launches exactly that many tiles. That device-to-host read
/// makes it impossible to capture: called while capturing it throws <see cref="StreamCaptureException"/>
/// before touching anything.
/// </summary>
public abstract class Wi4A16GroupGemm
{
    /// <summary>The group size of the format (FastDeploy's wi4a16 uses 128).</summary>
    public const int GroupSize = 128;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Wi4A16GroupGemm Create(Device device) =>
        KernelBackend.Create<Wi4A16GroupGemm>(device, cuda => new Wi4A16GroupGemmCuda(cuda), () => new Wi4A16GroupGemmReference());

    /// <summary>The M tile the plan uses for a problem (same rule as the capturable kernel).</summary>
    public static int TileM(GroupGemmProblem p) => GroupGemmCuda.TileM(p);

    /// <summary>The CUDA kernel <see cref="Run"/> launches for <paramref name="problem"/>'s host-side shape:
    /// wi4a16_group_gemm&lt;T, M tile, K tile&gt;; the rule reads no architecture.</summary>
    public static string Variant(GroupGemmProblem problem) => Wi4A16GroupGemmCuda.KernelName(LaunchTarget.TypeParameter, TileM(problem));

    /// <summary>Every name <see cref="Variant"/> can return: the 16-row and the 64-row tile.</summary>
    public static IReadOnlyList<string> Variants { get; } = new[] { 16, 64 }.Select(m => Wi4A16GroupGemmCuda.KernelName(LaunchTarget.TypeParameter, m)).ToArray();

    /// <summary>Why this GEMM cannot be captured, for listings and errors.</summary>
    public const string NotCapturableReason =
        "wi4a16 plans its group-GEMM tiles on the host from the per-expert token counts, which needs a device-to-host read inside the forward";

    /// <summary>Symmetric group-128 quantization of [E, N, K] bf16/fp16 weights (zero = 8).</summary>
    public void Quantize(ComputeStream stream, Tensor source, ExpertWeights destination)
    {
        ArgumentNullException.ThrowIfNull(stream);
        source.RequireRank(nameof(source), 3).RequireDevice(nameof(source), stream.Device);
        if (!source.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(source)} must be BF16 or F16, got {source}", nameof(source));
        RequireFormat(destination);
        destination.Validate(source.DType, (int)source.Dim(0), (int)source.Dim(1), (int)source.Dim(2));
        QuantizeCore(stream, source, destination);
    }

    /// <summary>C_e = A_e · dequant(W_e)ᵀ for every expert of <paramref name="problem"/>: waits for <paramref name="stream"/>, plans the tiles into <paramref name="plan"/> on the host, then launches them. Not capturable: throws <see cref="StreamCaptureException"/> while capturing.</summary>
    public void Run(ComputeStream stream, GroupGemmProblem problem, ExpertWeights weights, Wi4A16TilePlan plan)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(plan);
        var act = problem.A.IsEmpty ? DType.BF16 : problem.A.DType;
        if (!act.IsHalfPrecisionFloat()) throw new ArgumentException($"A must be BF16 or F16, got {problem.A}", nameof(problem));
        problem.Validate(act, act);
        problem.RequirePlainEpilogue("the wi4a16 group GEMM");
        RequireFormat(weights);
        weights.Validate(act, problem.Experts, problem.N, problem.K);
        GroupGemm.RequireDevice(stream.Device, problem, weights);
        if (stream.IsCapturing) throw new StreamCaptureException($"cannot capture the wi4a16 group GEMM: {NotCapturableReason}");
        if (problem.RowsBound == 0) return;

        int bm = TileM(problem);
        int tiles = plan.Build(stream, problem, bm);
        if (tiles == 0) return;
        RunCore(stream, problem, weights, plan, tiles, bm);
    }

    private static void RequireFormat(ExpertWeights w)
    {
        if (w.Format != ExpertWeightFormat.Int4ZeroPointGroup)
            throw new ArgumentException($"wi4a16 weights must be {ExpertWeightFormat.Int4ZeroPointGroup}, got {w.Format}", nameof(w));
        if (w.GroupSize != Quant.GroupSize.Of(GroupSize))
            throw new ArgumentOutOfRangeException(nameof(w), w.GroupSize, $"wi4a16 group size must be {GroupSize}");
    }

    /// <summary>The backend's kernel behind <see cref="Quantize"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeCore(ComputeStream stream, Tensor source, ExpertWeights destination);
    /// <summary>The backend's kernel behind <see cref="Run"/>, called once the arguments are checked.; <paramref name="tiles"/> tiles of <paramref name="tileM"/> rows are planned.</summary>
    protected abstract void RunCore(ComputeStream stream, GroupGemmProblem problem, ExpertWeights weights, Wi4A16TilePlan plan, int tiles, int tileM);
}

/// <summary>
/// Host-planned tile list of a wi4a16 group GEMM: host scratch and a device buffer of int4
/// {expert, first row, end row, 0}, both sized at construction for the largest problem.
/// </summary>
public sealed class Wi4A16TilePlan : IDisposable
{
    private readonly DeviceBuffer _device;
    private readonly int[] _offsets;
    private readonly int[] _tiles;

    /// <param name="maxRowsBound">Largest RowsBound any problem run with this plan will have.</param>
    /// <summary>A plan on <paramref name="device"/> for <paramref name="experts"/> experts in <paramref name="layout"/>, sized for the smallest M tile.</summary>
    /// <param name="device">Where the tile list is allocated.</param>
    /// <param name="experts">E.</param>
    /// <param name="layout">The token layout of the problems.</param>
    public Wi4A16TilePlan(Device device, int experts, TokenLayout layout, int maxRowsBound)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (experts < 1) throw new ArgumentOutOfRangeException(nameof(experts), experts, "must be >= 1");
        if (maxRowsBound < 1) throw new ArgumentOutOfRangeException(nameof(maxRowsBound), maxRowsBound, "must be >= 1");
        // The smallest M tile gives the most tiles.
        long perExpert = (maxRowsBound + 15) / 16;
        Capacity = checked((int)(layout == TokenLayout.PrefixSum ? Math.Min(perExpert + experts, perExpert * experts) : perExpert * experts));
        Experts = experts;
        Layout = layout;
        _device = device.Allocate(16L * Capacity, "wi4a16 tile plan");
        _offsets = new int[experts + 1];
        _tiles = new int[4 * Capacity];
    }

    /// <summary>E: experts the plan covers.</summary>
    public int Experts { get; }
    /// <summary>The token layout the plan was sized for.</summary>
    public TokenLayout Layout { get; }
    /// <summary>The most tiles the plan holds.</summary>
    public int Capacity { get; }
    /// <summary>Address of the device tile list, int4 {expert, first row, end row, 0} per tile.</summary>
    public DevicePtr DevicePtr => _device.Ptr;

    /// <summary>The planned tiles of the last <see cref="Build"/>: expert, first row, end row.</summary>
    public IEnumerable<(int Expert, int Begin, int End)> Tiles(int count)
    {
        for (int i = 0; i < count; i++) yield return (_tiles[4 * i], _tiles[4 * i + 1], _tiles[4 * i + 2]);
    }

    /// <summary>Reads the offsets back (waiting for the stream), plans the tiles and uploads them; returns the count.</summary>
    internal int Build(ComputeStream stream, GroupGemmProblem p, int tileM)
    {
        if (p.Experts != Experts || p.Layout != Layout)
            throw new ArgumentException($"tile plan made for {Experts} experts ({Layout}) used with {p.Experts} experts ({p.Layout})", nameof(p));
        stream.Synchronize();
        var host = _offsets.AsSpan(0, p.Layout == TokenLayout.PrefixSum ? Experts + 1 : Experts);
        p.Offsets.CopyTo<int>(host);
        int count = 0;
        for (int e = 0; e < Experts; e++)
        {
            int begin, rows;
            if (p.Layout == TokenLayout.PrefixSum) { begin = Math.Clamp(host[e], 0, p.RowsBound); rows = Math.Clamp(host[e + 1], begin, p.RowsBound) - begin; }
            else { begin = e * p.RowsBound; rows = Math.Clamp(host[e], 0, p.RowsBound); }
            for (int m = 0; m < rows; m += tileM)
            {
                if (count == Capacity)
                    throw new InvalidOperationException($"wi4a16 tile plan holds {Capacity} tiles; the offsets need more (rows bound {p.RowsBound})");
                _tiles[4 * count] = e;
                _tiles[4 * count + 1] = begin + m;
                _tiles[4 * count + 2] = begin + Math.Min(m + tileM, rows);
                _tiles[4 * count + 3] = 0;
                count++;
            }
        }
        if (count > 0)
            stream.Device.CopyToDevice(_device.Ptr, System.Runtime.InteropServices.MemoryMarshal.AsBytes(_tiles.AsSpan(0, 4 * count)));
        return count;
    }

    /// <summary>Frees the device tile list.</summary>
    public void Dispose() => _device.Dispose();
}
