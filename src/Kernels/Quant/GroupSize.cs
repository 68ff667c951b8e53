using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace GraphEngine.Kernels.Quant;

/// <summary>
/// Scale granularity along K of a quantized weight: one scale per output channel (<see cref="PerChannel"/>,
/// also <c>default</c>), or one per output channel and per group of <see cref="Size"/> consecutive K
/// elements (<see cref="Of"/>). The one spelling of "per channel" above the kernel launchers; each kernel
/// family converts it to the integer its native code takes in one place (0, K, 1 &lt;&lt; 30, or a flag).
/// </summary>
public readonly record struct GroupSize
{
    private const string PerChannelText = "per-channel";

    // 0 = per channel, so default(GroupSize) is PerChannel.
    private readonly int _size;

    private GroupSize(int size) => _size = size;

    /// <summary>One scale per output channel (a single group spanning K).</summary>
    public static GroupSize PerChannel => default;

    /// <summary>Groups of <paramref name="size"/> along K; <paramref name="size"/> must be >= 1.</summary>
    public static GroupSize Of(int size)
    {
        if (size <= 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, "group size must be >= 1; use GroupSize.PerChannel for one scale per output channel");
        return new GroupSize(size);
    }

    /// <summary>True for one scale per output channel.</summary>
    public bool IsPerChannel => _size == 0;

    /// <summary>Elements per group along K. Throws <see cref="InvalidOperationException"/> when per channel,
    /// which has no fixed size (its one group is K wide): check <see cref="IsPerChannel"/> first.</summary>
    public int Size => _size != 0 ? _size : throw new InvalidOperationException("a per-channel group size has no fixed size (its one group spans K)");

    /// <summary>True when the groups tile <paramref name="k"/> exactly; always true per channel.</summary>
    public bool Divides(int k) => IsPerChannel || k % _size == 0;

    /// <summary>Scale groups along <paramref name="k"/>: 1 per channel, else k / Size.</summary>
    public int Groups(int k) => IsPerChannel ? 1 : k / _size;

    /// <summary>"per-channel" or "g128"; <see cref="Parse"/> reads it back.</summary>
    public override string ToString() => IsPerChannel ? PerChannelText : "g" + _size.ToString(CultureInfo.InvariantCulture);

    /// <summary>Reads what <see cref="ToString"/> writes: "per-channel" or "g&lt;size&gt;" with size >= 1.</summary>
    public static GroupSize Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var g) ? g
            : throw new FormatException($"group size \"{text}\" must be \"{PerChannelText}\" or g<size> with size >= 1 (e.g. g128)");
    }

    /// <summary>Reads "per-channel" or "g&lt;size&gt;" into <paramref name="result"/>; false (and the default) for anything else.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out GroupSize result)
    {
        result = default;
        if (text is null) return false;
        if (text == PerChannelText) return true;
        if (text.Length < 2 || text[0] != 'g' || !char.IsAsciiDigit(text[1])) return false;
        if (!int.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int size) || size <= 0) return false;
        result = new GroupSize(size);
        return true;
    }
}
