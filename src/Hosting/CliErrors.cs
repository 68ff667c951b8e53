namespace GraphEngine.Hosting;

/// <summary>
/// Bad input from the user (an option, a config value, a file): printed as one line naming the value,
/// exit code 2, no stack trace unless --debug.
/// </summary>
public sealed class UsageException : Exception
{
    /// <summary>Bad input described by <paramref name="message"/>, which names the value.</summary>
    public UsageException(string message) : base(message) { }
    /// <summary>Bad input described by <paramref name="message"/>, found through <paramref name="inner"/> (a parse or configuration error).</summary>
    public UsageException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The process exit codes of the graphengine commands.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>The command ran and failed (a check out of tolerance, a CUDA error).</summary>
    public const int Failed = 1;
    /// <summary>Bad input: an option, configuration value or file (<see cref="UsageException"/>).</summary>
    public const int Usage = 2;
}
