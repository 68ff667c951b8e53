// The host and kernel namespaces nearly every command reads, declared once for the project.
global using GraphEngine.Hosting;
global using GraphEngine.Kernels;
