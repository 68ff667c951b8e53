namespace GraphEngine.Tests.Cli;

/// <summary>`list` reads in a 100-column terminal or log: no line wider, every note code spelled out under the table.</summary>
public class ListingWidthTests
{
    [Theory]
    [InlineData("Segment")]
    [InlineData("Layer")]
    public void List_fits_100_columns_and_explains_its_notes(string granularity)
    {
        string config = Path.Combine(Path.GetTempPath(), $"ge-listing-{Guid.NewGuid():N}.json");
        File.WriteAllText(config, """{"GraphEngine": {"BlockWiseCudaGraph": {"Exclude": ["layers.2.mlp"]}}}""");
        try
        {
            var r = CliHarness.Run(new[] { "list", "--backend", "reference", "--config", config, "--granularity", granularity, "--sizes", "1,8,64" });
            Assert.True(r.Exit == 0, r.Err);
            var lines = r.Out.Split('\n');
            Assert.All(lines, l => Assert.True(l.TrimEnd('\r').Length <= 100, $"{l.Length} columns: {l}"));
            Assert.Contains(lines, l => l.Contains("layers.2.mlp") && l.TrimEnd().EndsWith("excl", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("excl = excluded by config pattern 'layers.2.mlp'", StringComparison.Ordinal));
            if (granularity == "Segment")
            {
                Assert.Contains(lines, l => l.StartsWith("S1: ", StringComparison.Ordinal));
                // The 16 layers before the excluded one are the step's launch ramp (1, 2, 4, 8, 1); the run after it is whole.
                Assert.Contains(lines, l => l.StartsWith("S4: 8 layers", StringComparison.Ordinal));
                Assert.Contains(lines, l => l.StartsWith("S6: ", StringComparison.Ordinal) && l.Contains("layers.3.input_layernorm .. layers.3.mlp"));
            }
        }
        finally
        {
            File.Delete(config);
        }
    }
}
