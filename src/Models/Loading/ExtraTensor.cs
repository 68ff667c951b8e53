using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// A checkpoint tensor no engine layer uses (embeddings, final norm, LM head, q/k norms): where its bytes
/// are, so the application can read it itself.
/// </summary>
public sealed record ExtraTensor(string Name, string File, SafetensorsEntry Entry);
