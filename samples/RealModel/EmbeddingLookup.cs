using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Reference;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Samples.RealModel;

/// <summary>
/// embed_tokens on the device: token ids to rows of the [vocab, hidden] bf16 table, written into the first rows of the
/// engine's residual stream before a step. Ids are checked on the host (a bad id is an exception naming it and the
/// vocabulary size), then uploaded and gathered on the engine's stream.
/// </summary>
public abstract class EmbeddingLookup : IDisposable
{
    private readonly DeviceBuffer _table, _ids;

    private protected EmbeddingLookup(Device device, CheckpointTensor embedTokens, int maxTokens)
    {
        Device = device;
        Vocab = checked((int)embedTokens.Shape[0]);
        Hidden = checked((int)embedTokens.Shape[1]);
        MaxTokens = maxTokens;
        _table = device.AllocateTensor(DType.BF16, new long[] { Vocab, Hidden }, out var table, "embed_tokens");
        try
        {
            _ids = device.AllocateTensor(DType.I32, new long[] { maxTokens }, out var ids, "token_ids");
            Table = table;
            Ids = ids;
            Upload(embedTokens, table);
        }
        catch
        {
            _ids?.Dispose();
            _table.Dispose();
            throw;
        }
    }

    /// <summary>The implementation for <paramref name="device"/>, with <paramref name="embedTokens"/> ([vocab, hidden], bf16, f16 or f32) uploaded as bf16.</summary>
    public static EmbeddingLookup Create(Device device, CheckpointTensor embedTokens, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(embedTokens);
        if (embedTokens.Shape.Count != 2)
            throw new CheckpointException(embedTokens.File.Path, embedTokens.Name, $"must be [vocab, hidden], got {embedTokens.Entry.ShapeText}");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        return device switch
        {
            CudaDevice cuda => new EmbeddingLookupCuda(cuda, embedTokens, maxTokens),
            ReferenceDevice => new EmbeddingLookupReference(device, embedTokens, maxTokens),
            _ => throw new ArgumentException($"no embedding lookup for backend {device.Kind}", nameof(device)),
        };
    }

    /// <summary>The device it runs on.</summary>
    public Device Device { get; }
    /// <summary>Rows of the table.</summary>
    public int Vocab { get; }
    /// <summary>Columns of the table.</summary>
    public int Hidden { get; }
    /// <summary>The most ids one call takes.</summary>
    public int MaxTokens { get; }
    /// <summary>[vocab, hidden] bf16.</summary>
    protected Tensor Table { get; }
    /// <summary>[MaxTokens] int32: the ids of the last call.</summary>
    protected Tensor Ids { get; }

    /// <summary>Checks and uploads <paramref name="ids"/>, then enqueues the gather of their rows into rows [0, ids.Length) of <paramref name="output"/> [>= n, hidden] bf16 on <paramref name="stream"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside [0, vocab) or there are more than MaxTokens.</exception>
    public void Run(ComputeStream stream, ReadOnlySpan<int> ids, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (ids.Length > MaxTokens) throw new ArgumentOutOfRangeException(nameof(ids), ids.Length, $"at most {MaxTokens} tokens per step");
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)Vocab)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"token {i} has id {ids[i]}, outside the vocabulary [0, {Vocab})");
        output.Require(nameof(output), DType.BF16).RequireRank(nameof(output), 2).RequireDevice(nameof(output), Device);
        if (output.Dim(1) != Hidden || output.Rows < ids.Length)
            throw new ArgumentException($"output must be [>= {ids.Length}, {Hidden}], got {output}", nameof(output));
        if (ids.Length == 0) return;
        Ids.SliceRows(0, ids.Length).CopyFrom(ids);
        RunCore(stream, ids.Length, output);
    }

    /// <summary>The backend's gather of the first <paramref name="n"/> ids.</summary>
    protected abstract void RunCore(ComputeStream stream, int n, Tensor output);

    private static void Upload(CheckpointTensor source, Tensor table)
    {
        var dtype = source.KernelDType;
        if (dtype is not (DType.BF16 or DType.F16 or DType.F32))
            throw new CheckpointException(source.File.Path, source.Name, $"is {source.DType.HeaderName()}; the sample reads bf16, f16 or f32");
        int size = dtype == DType.F32 ? 4 : 2;
        var bits = new ushort[1 << 20];
        new TensorUploader(1 << 22).Upload(source, (chunk, offset) =>
        {
            var at = table.Ptr + offset / size * 2;
            if (dtype == DType.BF16)
            {
                table.Device.CopyToDevice(at, chunk);
                return;
            }
            int count = chunk.Length / size;
            var converted = count <= bits.Length ? bits.AsSpan(0, count) : new ushort[count];
            for (int i = 0; i < count; i++)
            {
                float v = size == 4 ? BitConverter.ToSingle(chunk.Slice(i * 4, 4)) : GraphEngine.Kernels.Numerics.HalfBits.ToFloat(BitConverter.ToUInt16(chunk.Slice(i * 2, 2)), dtype.Value);
                converted[i] = GraphEngine.Kernels.Numerics.Bf16.FromFloat(v);
            }
            table.Device.CopyToDevice(at, System.Runtime.InteropServices.MemoryMarshal.AsBytes(converted));
        });
    }

    /// <summary>Frees the table and the id buffer.</summary>
    public void Dispose()
    {
        _ids.Dispose();
        _table.Dispose();
        GC.SuppressFinalize(this);
    }
}
