using System.Text.Json;

namespace GraphEngine.Models.Checkpoints;

internal static class JsonElementExtensions
{
    /// <summary>TryGetInt64 that answers false instead of throwing when the element is not a number.</summary>
    public static bool TryGetInt64OrFalse(this JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value);
    }
}
