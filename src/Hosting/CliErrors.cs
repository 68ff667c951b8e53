namespace GraphEngine.Hosting;

/// <summary>
/// Bad input from the user (an option, a config value, a file): printed as one line naming the value,
/// exit code 2, no stack trace unless --debug.
/// </summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
    public UsageException(string message, Exception inner) : base(message, inner) { }
}

public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
}
