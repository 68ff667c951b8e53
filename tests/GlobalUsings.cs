// The engine namespaces nearly every test file reads, declared once for the project.
global using GraphEngine.Kernels;
global using GraphEngine.Kernels.Numerics;
global using GraphEngine.Kernels.Reference;
global using GraphEngine.Layers;
