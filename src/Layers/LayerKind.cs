namespace GraphEngine.Layers;

public enum LayerKind { RmsNorm, Linear, Moe, Custom }
