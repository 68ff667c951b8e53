namespace GraphEngine.Kernels.Cuda;

internal static partial class CudaLog
{
    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Debug,
        Message = "graph exec update refused ({Error}, update result {Result}); re-instantiating")]
    internal static partial void LogDebugUpdateRefused(this Microsoft.Extensions.Logging.ILogger logger, string error, int result);
}
