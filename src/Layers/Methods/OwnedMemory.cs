using GraphEngine.Kernels;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// The device memory one method owns (weight and scale buffers, its activation workspace), collected as
/// it is allocated: a loader that fails half-way disposes this and frees exactly what it got, and the
/// method's Dispose frees the rest, newest first.
/// </summary>
internal sealed class OwnedMemory : IDisposable
{
    private readonly List<DeviceMemory> _items = new();

    public Tensor Allocate(Device device, long bytes, string tag, DType dtype, params long[] shape) =>
        Add(device.Allocate(bytes, tag)).AsTensor(dtype, shape);

    public Tensor Rent(DevicePool pool, DType dtype, long[] shape, string tag)
    {
        Add(pool.RentTensor(dtype, shape, out var tensor, tag));
        return tensor;
    }

    private T Add<T>(T memory) where T : DeviceMemory
    {
        _items.Add(memory);
        return memory;
    }

    public void Dispose()
    {
        for (int i = _items.Count - 1; i >= 0; i--) _items[i].Dispose();
        _items.Clear();
    }
}
