using Spectre.Console;

namespace GraphEngine.Hosting;

/// <summary>
/// Where the commands write. On a terminal: Spectre with colour and live progress bars. Redirected
/// (the GPU machine pipes output to a file) or in tests: plain text, no ANSI codes, no live rendering,
/// ASCII table borders and a wide fixed width so tables are not squeezed.
/// </summary>
public sealed class CliConsole
{
    /// <summary>A console writing text to <paramref name="output"/> and diagnostics to <paramref name="error"/>; <paramref name="interactive"/> turns on colour, markup and live rendering.</summary>
    public CliConsole(TextWriter output, TextWriter error, bool interactive) : this(output, error, interactive, output) { }

    private CliConsole(TextWriter output, TextWriter error, bool interactive, TextWriter data)
    {
        Data = data;
        Out = output;
        Error = error;
        Interactive = interactive;
        Ui = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        if (!interactive)
        {
            Ui.Profile.Width = 240;
            Ui.Profile.Capabilities.Unicode = false;
            Ui.Profile.Capabilities.Links = false;
        }
    }

    /// <summary>The process console: interactive only when stdout is a terminal.</summary>
    public static CliConsole ForProcess() =>
        new(Console.Out, Console.Error, !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null);

    /// <summary>A console over writers (tests, captured output): always plain.</summary>
    public static CliConsole Plain(TextWriter output, TextWriter error) => new(output, error, interactive: false);

    /// <summary>
    /// The console of a --json run: text, tables and progress go to stderr, and stdout carries only the one document
    /// written by <see cref="Document"/>, so `graphengine ... --json | jq` always parses.
    /// </summary>
    public CliConsole ForJson() => new(Error, Error, interactive: false, data: Out);

    /// <summary>Writes the run's JSON document to stdout; a second one is a bug, refused before it corrupts the stream.</summary>
    public void Document(string json)
    {
        if (_documentWritten) throw new InvalidOperationException("a command printed a second JSON document; --json promises exactly one");
        _documentWritten = true;
        Data.WriteLine(json);
        Data.Flush();
    }
    private bool _documentWritten;

    /// <summary>Where the data goes: stdout (in a --json run, the only thing written there).</summary>
    public TextWriter Data { get; }

    /// <summary>Where text, tables and progress go (stderr in a --json run).</summary>
    public TextWriter Out { get; }
    /// <summary>Where warnings, errors and the log go.</summary>
    public TextWriter Error { get; }
    /// <summary>True on a terminal: colour, markup and live progress; false writes plain ASCII text.</summary>
    public bool Interactive { get; }
    /// <summary>The Spectre console over <see cref="Out"/>, set up for <see cref="Interactive"/>.</summary>
    public IAnsiConsole Ui { get; }

    /// <summary>
    /// True while a live display (a progress bar) is up on <see cref="Ui"/>: <see cref="Line"/> then writes through the
    /// Spectre console, which prints the line above the bar instead of through it.
    /// </summary>
    public bool LiveDisplay { get; set; }

    /// <summary>Writes <paramref name="text"/> and a newline to <see cref="Out"/>, as is (no markup).</summary>
    public void Line(string text = "")
    {
        if (LiveDisplay) Ui.WriteLine(text);
        else Out.WriteLine(text);
    }

    /// <summary>Markup on a terminal, the plain text otherwise (markup is stripped, never printed raw).</summary>
    public void Markup(string markup)
    {
        if (Interactive) Ui.MarkupLine(markup);
        else Out.WriteLine(Spectre.Console.Markup.Remove(markup));
    }

    /// <summary>Writes a Spectre table, panel or other renderable to <see cref="Out"/>.</summary>
    public void Render(Spectre.Console.Rendering.IRenderable renderable) => Ui.Write(renderable);

    /// <summary>A table with ASCII borders when output is not a terminal (files, pipes, CI logs).</summary>
    public Table Table(string title)
    {
        var t = new Table().Title(title);
        if (!Interactive) t.Border(TableBorder.Ascii);
        return t;
    }
}
