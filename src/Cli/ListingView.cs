using GraphEngine.Graph;
using Spectre.Console;

namespace GraphEngine.Cli;

/// <summary>Renders an <see cref="EngineListing"/> as a table (plain ASCII when not on a terminal).</summary>
public static class ListingView
{
    public static void Render(CliConsole console, EngineListing listing)
    {
        var t = console.Table("engine listing");
        foreach (var c in new[] { "layer", "kind", "quant", "path", "sizes", "capture ms", "graph MiB", "replays", "eager", "segment / fallback reason" })
            t.AddColumn(new TableColumn(c));
        foreach (var l in listing.Layers)
        {
            string why = l.FallbackReason ?? l.Segment ?? "";
            t.AddRow(Esc(l.Name), Esc(l.Kind), Esc(l.Quant), l.Path == "graph" ? "[green]graph[/]" : "[yellow]eager[/]",
                Esc(Sizes(l.CapturedSizes)), Num(l.CaptureMs + l.InstantiateMs, 1), Num(l.GraphBytes / 1048576.0, 2),
                l.Replays.ToString(), l.EagerRuns.ToString(), Esc(why));
        }
        console.Render(t);
        console.Line($"{listing.GraphLayers} layers on graphs, {listing.EagerLayers} eager; {listing.Graphs} graphs ({listing.Granularity}, " +
                     $"sizes {Sizes(listing.Sizes)}), capture {listing.CaptureMs:F1} ms + instantiate {listing.InstantiateMs:F1} ms, " +
                     $"graph memory {listing.GraphBytes / 1048576.0:F1} MiB, activations {listing.ActivationBytes / 1048576.0:F1} MiB; " +
                     $"{listing.PrefillSteps} steps, {listing.Replays} replays, {listing.EagerRuns} eager runs, {listing.StepsAboveLargestSize} steps above the largest size");
    }

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
