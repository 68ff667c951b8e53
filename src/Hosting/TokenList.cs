using GraphEngine.Graph;

namespace GraphEngine.Hosting;

/// <summary>Strict parsing of comma-separated positive token counts ("1,7,100,512").</summary>
public static class TokenList
{
    /// <summary>
    /// Parses <paramref name="text"/> with the engine's count-list parser: entries trimmed, each a whole
    /// number in [1, <paramref name="max"/>]; duplicates dropped, order kept. Errors name the entry and its source.
    /// </summary>
    public static int[] Parse(string text, string source, int max)
    {
        try
        {
            return SettingParsers.ParseCountList(text, "token count", source, 1, max).Distinct().ToArray();
        }
        catch (EngineConfigurationException e)
        {
            throw new UsageException(e.Message, e);
        }
    }
}
