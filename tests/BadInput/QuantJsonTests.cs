using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>Bad quantization settings, from --quant: one line naming the key or value and --quant.</summary>
public class QuantJsonTests
{
    [Theory]
    [InlineData("{\"quantization\":\"mix_quant\",\"moe_quant_type\":\"wint4\"}", "dense_quant_type")]
    [InlineData("{\"quantization\":\"mix_quant\",\"is_moe_quantized\":true,\"moe_quant_type\":\"w4afp8\"}", "dense_quant_type")]
    [InlineData("{\"quantization\":\"wint4\",\"quantization\":\"wint8\"}", "'quantization'")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":128,\"group_size\":-1}", "'group_size'")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"wint4\",\"dense_quant_type\":\"none\",\"moe_quant_type\":\"wint4\"}", "'dense_quant_type'")]
    [InlineData("{\"quantization\":\"wint3\"}", "'wint3'")]
    [InlineData("{\"quantization\":5}", "quantization")]
    [InlineData("{\"quantization\":[\"wint4\"]}", "quantization")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":64}", "64")]
    [InlineData("{\"quantization\":\"w8a8\",\"group_size\":128}", "w8a8")]
    [InlineData("{\"quantization\":\"w4a8\",\"group_size\":64}", "64")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":\"128\"}", "group_size")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":1.5}", "group_size")]
    [InlineData("{\"quantization\":\"wint4\",\"extra\":1}", "'extra'")]
    [InlineData("[1]", "'[1]'")]
    [InlineData("{", "'{'")]
    [InlineData("{}", "quantization")]
    [InlineData("{\"quantization\":\"nvfp4\",\"nvfp4_backend\":\"native\"}", "'native'")]
    [InlineData("{\"quantization\":\"nvfp4\",\"nvfp4_backend\":\"turbo\"}", "'turbo'")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"nvfp4\",\"moe_quant_type\":\"wint4\"}", "'nvfp4'")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"wint4\",\"is_moe_quantized\":\"yes\",\"moe_quant_type\":\"wint4\"}", "is_moe_quantized")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"wint4\",\"is_moe_quantized\":true}", "moe_quant_type")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"wint4\",\"moe_quant_type\":\"block_wise_fp8\"}", "'block_wise_fp8'")]
    [InlineData("{\"quantization\":\"wint4\",\"dense_quant_type\":\"wint4\"}", "'dense_quant_type'")]
    [InlineData("mix_quant", "'mix_quant'")]
    [InlineData("wint3", "'wint3'")]
    [InlineData("fp32", "'fp32'")]
    public void Bad_quantization_names_the_key_and_switch(string quant, string mustName)
    {
        var r = BadInputCli.Run("check", "--backend", "reference", "--quant", quant);
        CliHarness.AssertUsageError(r, mustName, "--quant");
    }

    [Fact]
    public void Moe_only_mode_on_a_dense_preset_is_refused()
    {
        var r = BadInputCli.Run("check", "--backend", "reference", "--preset", "llama3-8b", "--quant", "w4afp8");
        CliHarness.AssertUsageError(r, "'w4afp8'", "--quant");
    }

    [Fact]
    public void A_huge_quant_json_is_cut()
    {
        string json = "{\"quantization\":\"" + new string('w', 100_000) + "\"}";
        var r = BadInputCli.Run("check", "--backend", "reference", "--quant", json);
        CliHarness.AssertUsageError(r, "--quant", "'www");
    }
}
