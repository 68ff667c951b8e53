namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// What an fp8 encoder does with a finite value beyond the format's range, as cuda_fp8.h's
/// __nv_saturation_t. Infinity is "beyond the range" too.
/// </summary>
public enum Fp8Saturation
{
    /// <summary>__NV_SATFINITE: clamp to the largest finite value of the same sign (what quantizers want).</summary>
    SatFinite,

    /// <summary>__NV_NOSAT: e5m2 overflows to infinity; e4m3, which has no infinity, to NaN.</summary>
    NoSat,
}
