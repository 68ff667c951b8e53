namespace GraphEngine.Samples.RealModel;

/// <summary>The sample's CUDA sources (cuda/*.cu), embedded in its assembly and handed to the engine's compiler.</summary>
public static class KernelSources
{
    /// <summary>The text of <paramref name="name"/> ("cuda/attention.cu").</summary>
    public static string Read(string name)
    {
        using var stream = typeof(KernelSources).Assembly.GetManifestResourceStream(name)
                           ?? throw new ArgumentException($"no embedded kernel source '{name}'", nameof(name));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
