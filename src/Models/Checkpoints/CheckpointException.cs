using GraphEngine.Kernels;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// A checkpoint file, index or config.json that cannot be used as it is. The message is one line:
/// the file, then the tensor or key at fault, then the problem, so a log shows which download to fix.
/// </summary>
public sealed class CheckpointException : GraphEngineException
{
    /// <summary>Longest value, name or parser message quoted; hostile headers can carry megabytes in one string.</summary>
    public const int MaxQuoted = 80;

    /// <summary>A problem with <paramref name="file"/>: the tensor or key <paramref name="subject"/> (null: the file as a whole) and what is wrong, <paramref name="problem"/>; long quoted values are cut to <see cref="MaxQuoted"/>.</summary>
    public CheckpointException(string file, string? subject, string problem)
        : base(Compose(file, subject, problem))
    {
        File = file;
        Subject = subject;
    }

    /// <summary>As the three-argument constructor, caused by <paramref name="inner"/> (an I/O or JSON error).</summary>
    public CheckpointException(string file, string? subject, string problem, Exception inner)
        : base(Compose(file, subject, problem), inner)
    {
        File = file;
        Subject = subject;
    }

    /// <summary>The file at fault (a safetensors shard, the index, config.json), or the directory.</summary>
    public string File { get; }

    /// <summary>The tensor name or config key at fault, when there is one.</summary>
    public string? Subject { get; }

    /// <summary><paramref name="text"/> cut to <see cref="MaxQuoted"/> characters, on one line.</summary>
    public static string Clip(string? text)
    {
        if (text is null) return "null";
        string flat = text.ReplaceLineEndings(" ");
        return flat.Length <= MaxQuoted ? flat : string.Concat(flat.AsSpan(0, MaxQuoted - 3), "...");
    }

    private static string Compose(string file, string? subject, string problem) =>
        subject is null
            ? $"{Clip(file)}: {problem.ReplaceLineEndings(" ")}"
            : $"{Clip(file)}: '{Clip(subject)}': {problem.ReplaceLineEndings(" ")}";
}
