using GraphEngine.Graph;
using Spectre.Console;

namespace GraphEngine.Cli;

/// <summary>Renders an <see cref="EngineListing"/> as a table (plain ASCII when not on a terminal).</summary>
public static class ListingView
{
    /// <summary>Widest line the listing prints: readable in a 100-column terminal or log.</summary>
    public const int MaxWidth = 100;

    /// <summary>
    /// The layer table (no borders, so a 34-character layer name still fits in <see cref="MaxWidth"/>), then what
    /// its note codes mean: Sn is the layer's segment (one line each below the table), and a short code names why an
    /// eager layer is eager, with the full reason once in the legend.
    /// </summary>
    public static void Render(CliConsole console, EngineListing listing)
    {
        var segments = listing.Segments.Select((s, i) => (s.Name, Code: $"S{i + 1}")).ToDictionary(x => x.Name, x => x.Code);
        var legend = new List<(string Code, string Text)>();
        var t = console.Table("engine listing").Border(TableBorder.None);
        foreach (var c in new[] { "layer", "kind", "quant", "path", "ms", "MiB", "replays", "eager", "note" })
            t.AddColumn(new TableColumn(c).Padding(0, 0, 2, 0));
        foreach (var l in listing.Layers)
        {
            string note = "";
            if (l.Segment is { } seg && segments.TryGetValue(seg, out var sc)) note = sc;
            else if (l.FallbackReason is { } why)
            {
                note = ReasonCode(l.Fallback);
                if (!legend.Any(x => x.Code == note)) legend.Add((note, why));
            }
            t.AddRow(Esc(l.Name), Esc(l.Kind), Esc(l.Quant), l.Path == "graph" ? "[green]graph[/]" : "[yellow]eager[/]",
                Num(l.CaptureMs + l.InstantiateMs, 1), Num(l.GraphBytes / 1048576.0, 2), l.Replays.ToString(), l.EagerRuns.ToString(), Esc(note));
        }
        console.Render(t);
        for (int i = 0; i < listing.Segments.Count; i++)
        {
            var s = listing.Segments[i];
            string figures = $"S{i + 1}: {s.LayerCount} layers, {Num(s.CaptureMs + s.InstantiateMs, 1)} ms, {Num(s.GraphBytes / 1048576.0, 2)} MiB, " +
                             $"{s.Replays} replays: ";
            string span = s.LayerCount == 1 ? s.FirstLayer : $"{s.FirstLayer} .. {s.LastLayer}";
            if (figures.Length + span.Length <= MaxWidth) console.Line(figures + span);
            else
            {
                console.Line(figures.TrimEnd(' ', ':'));
                console.Line(Clip("    " + span));
            }
        }
        foreach (var (code, text) in legend) console.Line(Clip($"{code} = {text}"));
        console.Line($"{listing.GraphLayers} layers on graphs, {listing.EagerLayers} eager; {listing.Graphs} graphs ({listing.Granularity}, " +
                     $"sizes {Sizes(listing.Sizes)})");
        console.Line($"capture {listing.CaptureMs:F1} ms + instantiate {listing.InstantiateMs:F1} ms; graph memory " +
                     $"{listing.GraphBytes / 1048576.0:F1} MiB, activations {listing.ActivationBytes / 1048576.0:F1} MiB");
        console.Line($"{listing.PrefillSteps} steps, {listing.Replays} replays, {listing.EagerRuns} eager runs, " +
                     $"{listing.StepsAboveLargestSize} steps above the largest size");
    }

    /// <summary>The note code of an eager layer's reason (the legend under the table spells it out).</summary>
    public static string ReasonCode(FallbackKind kind) => kind switch
    {
        FallbackKind.SplitPoint => "split",
        FallbackKind.NotCapturable => "nocap",
        FallbackKind.Excluded => "excl",
        FallbackKind.CaptureFailed => "fail",
        FallbackKind.GraphsDisabled => "off",
        FallbackKind.NotCaptured => "new",
        FallbackKind.SegmentMember => "member",
        FallbackKind.AboveLargestSize => "above",
        _ => "eager",
    };

    private static string Clip(string line) => line.Length <= MaxWidth ? line : line[..(MaxWidth - 3)] + "...";

    /// <summary>"1,2,4..2048 (12)" style: short enough for a table cell.</summary>
    public static string Sizes(IReadOnlyList<int> sizes)
    {
        if (sizes.Count == 0) return "-";
        if (sizes.Count <= 4) return string.Join(",", sizes);
        return $"{sizes[0]},{sizes[1]}..{sizes[^1]} ({sizes.Count})";
    }

    private static string Esc(string s) => Markup.Escape(s);
    private static string Num(double v, int d) => v.ToString("F" + d, System.Globalization.CultureInfo.InvariantCulture);
}
