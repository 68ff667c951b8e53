namespace GraphEngine.Kernels;

/// <summary>Which backend <see cref="Device.Open"/> should pick.</summary>
public enum BackendPreference { Auto, Cuda, Reference }
