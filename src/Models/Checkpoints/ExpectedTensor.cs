namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// A tensor the model needs, under the name transformers writes, with the shape its module declares
/// (nn.Linear weights are [out, in]). <see cref="Fp32"/>: transformers keeps it in float32 whatever the
/// checkpoint dtype (ERNIE's _keep_in_fp32_modules_strict: the router gate and moe_statics).
/// </summary>
public sealed record ExpectedTensor(string Name, IReadOnlyList<long> Shape, bool Fp32 = false)
{
    /// <summary>Name and shape, with " fp32" when the tensor must be float32.</summary>
    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]{(Fp32 ? " fp32" : "")}";
}
