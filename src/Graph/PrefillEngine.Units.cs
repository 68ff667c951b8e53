using GraphEngine.Kernels;
using GraphEngine.Layers;

namespace GraphEngine.Graph;

// The plan's bookkeeping: a slot per layer, a unit per layer or segment.
public sealed partial class PrefillEngine
{
    private sealed class Slot
    {
        public Slot(Layer layer, int index)
        {
            Layer = layer;
            Index = index;
        }

        public Layer Layer { get; }
        /// <summary>Position in the plan; moves when a step is inserted before it.</summary>
        public int Index { get; set; }

        /// <summary>Why the layer always runs eagerly; null while it is (or may become) captured.</summary>
        public FallbackReason? Static;
        public Unit? Unit;
        public long EagerRuns;
        public long EagerAboveLargest;
    }

    /// <summary>A layer or a segment: the graphs of every size (null for an eager unit) and their figures.</summary>
    private sealed class Unit
    {
        public Unit(string name, int first, int last, int sizes)
        {
            Name = name;
            First = first;
            Last = last;
            if (sizes > 0)
            {
                Graphs = new DeviceGraph?[sizes];
                CaptureMs = new double[sizes];
                InstantiateMs = new double[sizes];
                Bytes = new long[sizes];
            }
        }

        public string Name { get; }
        public int First { get; }
        public int Last { get; }
        public DeviceGraph?[]? Graphs { get; private set; }
        public double[] CaptureMs { get; } = Array.Empty<double>();
        public double[] InstantiateMs { get; } = Array.Empty<double>();
        public long[] Bytes { get; } = Array.Empty<long>();
        public long Replays;

        /// <summary>Drops the references without disposing (the graphs moved elsewhere).</summary>
        public void ForgetGraphs() => Graphs = null;

        public void DisposeGraphs()
        {
            if (Graphs is null) return;
            foreach (var g in Graphs) g?.Dispose();
            Graphs = null;
        }
    }
}
