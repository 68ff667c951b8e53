using System.Globalization;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers;
using GraphEngine.Models;

namespace GraphEngine.Hosting;

/// <summary>
/// Whether a quantization fits a model's shapes (a group size dividing every K, packed int4 needing even widths, the
/// expert count the router takes), asked of the same checks the layers make when they are built, layer by layer of
/// the plan, before any device or engine exists. Without it `--quant wint4` on a model whose FFN is not a multiple of
/// 128 failed half-way through the build as an internal ArgumentException.
/// </summary>
internal static class QuantFit
{
    /// <summary>
    /// Refuses a model whose layers cannot be built even unquantized (<paramref name="modelOrigin"/>: where the preset or
    /// --model came from), then <paramref name="quant"/>, given as <paramref name="quantText"/> by <paramref name="quantOrigin"/>,
    /// when a layer cannot take it; each error names the value, where it came from, the layer and the shape.
    /// </summary>
    public static void Require(ModelPreset preset, string modelOrigin, QuantConfig quant, string quantText, string quantOrigin)
    {
        foreach (var spec in preset.Plan())
        {
            try
            {
                Check(preset, QuantConfig.Unquantized, spec);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"model '{InputText.OneLine(preset.Name)}' (from {modelOrigin}) cannot be built: {Reason(e)}", e);
            }
            try
            {
                Check(preset, quant, spec);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"quantization {InputText.Quote(quantText)} (from {quantOrigin}) does not fit model '{InputText.OneLine(preset.Name)}': {Reason(e)}", e);
            }
        }
    }

    private static void Check(ModelPreset preset, QuantConfig quant, LayerSpec spec)
    {
        switch (spec.Kind)
        {
            case LayerSpecKind.Linear:
                // A Linear of N = Out output features over K = In input features, as ModelFactory and ModelLoader build it.
                string source = $"linear '{spec.Name}' ({quant.DenseLabel})";
                var group = quant.DenseLayerGroupSize;
                switch (quant.DenseMode)
                {
                    case QuantMode.WInt8: new WeightOnlyScheme(WeightOnlyFormat.Int8, group).Validate(spec.Out, spec.In, source); break;
                    case QuantMode.WInt4: new WeightOnlyScheme(WeightOnlyFormat.Int4, group).Validate(spec.Out, spec.In, source); break;
                    case QuantMode.W8A8: Int8ActPacking.Validate(WeightOnlyFormat.Int8, group, spec.Out, spec.In, source); break;
                    case QuantMode.W4A8: Int8ActPacking.Validate(WeightOnlyFormat.Int4, group, spec.Out, spec.In, source); break;
                }
                break;
            case LayerSpecKind.Moe:
                ModelFactory.MoeOptionsFor(preset.Model, DecoderLayer(spec.Name), quant, seed: 1).Validate(spec.Name);
                break;
        }
    }

    /// <summary>The decoder layer of a plan name ("layers.{i}.mlp").</summary>
    private static int DecoderLayer(string specName) => int.Parse(specName.Split('.')[1], CultureInfo.InvariantCulture);

    /// <summary>The check's own sentence, without the " (Parameter 'x')" and "Actual value was" tails .NET appends.</summary>
    private static string Reason(ArgumentException e)
    {
        string m = e.Message;
        int cut = m.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return InputText.OneLine(cut >= 0 ? m[..cut] : m);
    }
}
