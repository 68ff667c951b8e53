using System.Text.RegularExpressions;
using GraphEngine.Conformance;

namespace GraphEngine.Tests.Kernels;

/// <summary>
/// tests/Kernels/native-emu/mutants.sh builds each emulation main with the catalog's mutants whose kernels it runs and
/// requires every one to fail. Its table must name only catalog mutants, each under a main that includes the files its
/// #if blocks live in, and must leave out no catalog mutant whose files some main includes (a new mutant of an emulated
/// kernel is then run on every CI machine, not only on the GPU).
/// </summary>
public class EmulatorMutantTableTests
{
    private static readonly string Emu = RepoPaths.Of("tests", "Kernels", "native-emu");

    /// <summary>main name -> defines, from the script's table rows ("main: DEFINE DEFINE ...").</summary>
    private static Dictionary<string, string[]> Table()
    {
        var rows = Regex.Matches(File.ReadAllText(Path.Combine(Emu, "mutants.sh")), "^  \"(\\w+): ([A-Z0-9_ ]+)\"$", RegexOptions.Multiline);
        Assert.NotEmpty(rows);
        return rows.ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>The native/ files (relative, as the catalog names them) a main includes, directly or through other files.</summary>
    private static HashSet<string> Included(string main)
    {
        string native = RepoPaths.Of("native");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push(Path.Combine(Emu, main + "_main.cpp"));
        while (pending.Count > 0)
        {
            string file = pending.Pop();
            foreach (Match m in Regex.Matches(File.ReadAllText(file), "^#include \"([^\"]+)\"", RegexOptions.Multiline))
            {
                string name = m.Groups[1].Value;
                string? path = new[] { Path.Combine(native, name), Path.Combine(Path.GetDirectoryName(file)!, name) }.FirstOrDefault(File.Exists);
                if (path is null || !path.StartsWith(native, StringComparison.Ordinal)) continue;   // emulation headers, samples
                string rel = Path.GetRelativePath(native, path).Replace('\\', '/');
                if (seen.Add(rel)) pending.Push(path);
            }
        }
        return seen;
    }

    [Fact]
    public void The_table_names_catalog_mutants_under_mains_that_include_their_files()
    {
        var catalog = MutantCatalog.All.ToDictionary(m => m.Define);
        foreach (var (main, defines) in Table())
        {
            var files = Included(main);
            foreach (var d in defines)
            {
                Assert.True(catalog.TryGetValue(d, out var spec), $"{d} (under {main}) is not in MutantCatalog");
                Assert.True(spec!.Files.All(files.Contains), $"{d}: {main}_main.cpp does not include {string.Join(", ", spec.Files.Where(f => !files.Contains(f)))}");
            }
        }
    }

    [Fact]
    public void Every_catalog_mutant_of_an_emulated_kernel_is_in_the_table()
    {
        var table = Table();
        var listed = table.Values.SelectMany(d => d).ToHashSet();
        var includes = table.Keys.ToDictionary(m => m, Included);
        var left = MutantCatalog.All.Where(m => !listed.Contains(m.Define) && includes.Values.Any(f => m.Files.All(f.Contains))).Select(m => m.Define).ToList();
        Assert.True(left.Count == 0, $"in the emulation's kernels but not in mutants.sh: {string.Join(", ", left)}");
        // The mains the table names exist, and the mutants it runs are most of the catalog's emulated kernels' ones.
        Assert.All(table.Keys, m => Assert.True(File.Exists(Path.Combine(Emu, m + "_main.cpp")), m));
    }
}
