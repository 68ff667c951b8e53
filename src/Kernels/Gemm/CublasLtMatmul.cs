using GraphEngine.Kernels.Cuda;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// The cuBLASLt plumbing every GEMM of a device shares: one handle, one plan per problem (descriptor,
/// layouts, heuristic-chosen algorithm) built on the first, eager call, and one 32 MiB workspace per
/// stream (streams may run concurrently, so they cannot share one), allocated on the stream's first
/// eager call and freed with the stream. A captured call then only launches cublasLtMatmul, which
/// neither allocates nor synchronizes. Sharing matters: a 32-layer model has over a hundred GEMMs, and a
/// workspace each would hold gigabytes.
/// Row-major C[m, n] = A[m, k] · W[n, k]ᵀ is, read column-major, Cᵀ (n×m) = op(W) · Aᵀ with W as a k×n
/// column-major matrix transposed: the "TN" layout, which fp8 requires anyway.
/// </summary>
internal sealed unsafe class CublasLtMatmul : IDisposable
{
    public const long WorkspaceBytes = 32L << 20;

    private readonly CudaDevice _device;
    private readonly CublasLtHandle _handle;
    private readonly Dictionary<IntPtr, DeviceBuffer> _workspaces = new();
    private readonly Dictionary<PlanKey, Plan> _plans = new();
    private bool _disposed;

    /// <summary>One problem shape and everything that changes which algorithm is legal.</summary>
    internal readonly record struct PlanKey(int M, int N, int K, int InType, int OutType, bool Bias, bool Scaled,
        uint AlignA, uint AlignW, uint AlignC);

    private sealed class Plan : IDisposable
    {
        public required MatmulDescHandle Desc;
        public required MatrixLayoutHandle W, A, C;
        public CublasLt.MatmulAlgo Algo;
        public void Dispose()
        {
            C.Dispose();
            A.Dispose();
            W.Dispose();
            Desc.Dispose();
        }
    }

    public CublasLtMatmul(CudaDevice device)
    {
        _device = device;
        Libraries.Load(Libraries.CublasLt);
        device.EnsureCurrent();
        IntPtr h;
        CublasException.ThrowIfFailed(CublasLt.cublasLtCreate(&h));
        _handle = new CublasLtHandle(h, device.ContextHandle);
    }

    /// <summary>
    /// The stream's workspace; the first call on a stream allocates it. Allocation is refused while capturing,
    /// so CudaStream.BeginCapture makes it first whenever the device has cuBLASLt state.
    /// </summary>
    private DeviceBuffer WorkspaceFor(CudaStream stream)
    {
        lock (_workspaces)
        {
            if (!_workspaces.TryGetValue(stream.Handle, out var ws))
                _workspaces[stream.Handle] = ws = _device.Allocate(WorkspaceBytes, "cuBLASLt workspace");
            return ws;
        }
    }

    /// <summary>Allocates the stream's workspace now, before a capture on it begins (allocation is refused inside).</summary>
    public void EnsureWorkspace(CudaStream stream) => WorkspaceFor(stream);

    /// <summary>Frees a disposed stream's workspace; a no-op for streams that never ran a GEMM.</summary>
    public void ReleaseStream(IntPtr streamHandle)
    {
        lock (_workspaces)
        {
            if (_workspaces.Remove(streamHandle, out var ws)) ws.Dispose();
        }
    }

    public int PlanCount
    {
        get { lock (_plans) return _plans.Count; }
    }

    /// <summary>Largest power-of-two alignment of an address, capped at 256 (cuBLASLt's default assumption).</summary>
    internal static uint Alignment(ulong address) => address == 0 ? 256u : (uint)Math.Min(256UL, address & (~address + 1));

    /// <summary>
    /// D[m, n] = scale · A[m, k] · W[n, k]ᵀ (+ bias[n]) on <paramref name="stream"/>. <paramref name="aScale"/> and
    /// <paramref name="wScale"/> are device pointers to fp32 per-tensor scales (fp8 only; 0 = none).
    /// </summary>
    public void Run(CudaStream stream, int m, int n, int k, int inType, int outType,
        ulong a, ulong w, ulong c, ulong bias, ulong aScale, ulong wScale)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var key = new PlanKey(m, n, k, inType, outType, bias != 0, aScale != 0 || wScale != 0, Alignment(a), Alignment(w), Alignment(c));
        IntPtr streamHandle = stream.Handle;
        var workspace = WorkspaceFor(stream);
        _device.EnsureCurrent();
        Plan plan;
        lock (_plans)
        {
            if (!_plans.TryGetValue(key, out plan!))
                _plans[key] = plan = CreatePlan(key);
            // Pointers may differ between calls of one shape; these are host-side descriptor writes.
            if (bias != 0) SetDesc(plan.Desc, CublasLt.CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
            if (key.Scaled)
            {
                // cuBLASLt's "A" is our W, its "B" our activations.
                SetDesc(plan.Desc, CublasLt.CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, wScale);
                SetDesc(plan.Desc, CublasLt.CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, aScale);
            }
            // alpha and beta have the scale type: int32 for the integer path, fp32 otherwise (same bits for 0, not for 1).
            float alphaF = 1f, betaF = 0f;
            int alphaI = 1, betaI = 0;
            bool integer = IsInteger(inType);
            void* alpha = integer ? &alphaI : &alphaF, beta = integer ? &betaI : &betaF;
            var algo = plan.Algo;
            int st = CublasLt.cublasLtMatmul(_handle.Value, plan.Desc.Value, alpha, w, plan.W.Value, a, plan.A.Value,
                beta, c, plan.C.Value, c, plan.C.Value, &algo, workspace.Ptr.Address, (nuint)WorkspaceBytes, streamHandle);
            if (st != 0)
                throw new CublasException(st, "cublasLtMatmul",
                    $"cublasLtMatmul (m={m}, n={n}, k={k}) failed: {CublasException.StatusName(st)} ({st})");
        }
    }

    /// <summary>int8 inputs accumulate in int32 (compute type 32I, int32 scale type); every other input type in fp32.</summary>
    private static bool IsInteger(int inType) => inType == CublasLt.CUDA_R_8I;

    private static void SetDesc(MatmulDescHandle desc, int attribute, ulong value) =>
        CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(desc.Value, attribute, &value, sizeof(ulong)));

    private static void SetDesc(MatmulDescHandle desc, int attribute, int value) =>
        CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulDescSetAttribute(desc.Value, attribute, &value, sizeof(int)));

    private static MatrixLayoutHandle Layout(int type, long rows, long cols, long ld)
    {
        IntPtr l;
        CublasException.ThrowIfFailed(CublasLt.cublasLtMatrixLayoutCreate(&l, type, (ulong)rows, (ulong)cols, ld));
        return new MatrixLayoutHandle(l);
    }

    private Plan CreatePlan(PlanKey key)
    {
        IntPtr d;
        bool integer = IsInteger(key.InType);
        CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulDescCreate(&d,
            integer ? CublasLt.CUBLAS_COMPUTE_32I : CublasLt.CUBLAS_COMPUTE_32F, integer ? CublasLt.CUDA_R_32I : CublasLt.CUDA_R_32F));
        var plan = new Plan
        {
            Desc = new MatmulDescHandle(d),
            W = Layout(key.InType, key.K, key.N, key.K),      // W [n, k] row-major = k×n column-major, used transposed
            A = Layout(key.InType, key.K, key.M, key.K),      // A [m, k] row-major = k×m column-major
            C = Layout(key.OutType, key.N, key.M, key.N),     // C [m, n] row-major = n×m column-major
        };
        try
        {
            SetDesc(plan.Desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSA, CublasLt.CUBLAS_OP_T);
            SetDesc(plan.Desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSB, CublasLt.CUBLAS_OP_N);
            if (key.Bias)
            {
                SetDesc(plan.Desc, CublasLt.CUBLASLT_MATMUL_DESC_EPILOGUE, CublasLt.CUBLASLT_EPILOGUE_BIAS);
                SetDesc(plan.Desc, CublasLt.CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, key.OutType);
            }

            IntPtr p;
            CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceCreate(&p));
            using var pref = new MatmulPreferenceHandle(p);
            ulong ws = (ulong)WorkspaceBytes;
            CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceSetAttribute(p, CublasLt.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ulong)));
            // Row slices start at arbitrary offsets: only algorithms legal for the actual alignment may be chosen.
            uint alignW = key.AlignW, alignA = key.AlignA, alignC = key.AlignC;
            CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceSetAttribute(p, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alignW, sizeof(uint)));
            CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceSetAttribute(p, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alignA, sizeof(uint)));
            CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceSetAttribute(p, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alignC, sizeof(uint)));
            CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulPreferenceSetAttribute(p, CublasLt.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alignC, sizeof(uint)));

            CublasLt.MatmulHeuristicResult result;
            int returned = 0;
            CublasException.ThrowIfFailed(CublasLt.cublasLtMatmulAlgoGetHeuristic(_handle.Value, plan.Desc.Value,
                plan.W.Value, plan.A.Value, plan.C.Value, plan.C.Value, p, 1, &result, &returned));
            if (returned == 0)
                throw new CublasException(15, "cublasLtMatmulAlgoGetHeuristic",
                    $"cuBLASLt has no algorithm for m={key.M}, n={key.N}, k={key.K}, input type {key.InType}, output type {key.OutType}, " +
                    $"bias={key.Bias}, alignments A={key.AlignA} W={key.AlignW} C={key.AlignC} bytes");
            plan.Algo = result.Algo;
            return plan;
        }
        catch
        {
            plan.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_plans)
        {
            foreach (var p in _plans.Values) p.Dispose();
            _plans.Clear();
        }
        _handle.Dispose();
        lock (_workspaces)
        {
            foreach (var ws in _workspaces.Values) ws.Dispose();
            _workspaces.Clear();
        }
    }
}
