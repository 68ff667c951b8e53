using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.Reliability;

/// <summary>The setting scripts/gpu-sanitize.sh sets: read with the one bool parser, refused by name when malformed.</summary>
public class ResetDeviceSettingTests
{
    [Fact]
    public void Reset_device_at_exit_accepts_1_and_refuses_yes_naming_the_variable()
    {
        var ok = CliHarness.Run("faults --backend reference --filter kernel-cache",
            new Dictionary<string, string?> { ["GRAPHENGINE__RUN__RESETDEVICEATEXIT"] = "1" });
        Assert.True(ok.Exit == 0, ok.Out + ok.Err);
        CliHarness.AssertUsageError(CliHarness.Run("faults --backend reference --filter kernel-cache",
            new Dictionary<string, string?> { ["GRAPHENGINE__RUN__RESETDEVICEATEXIT"] = "yes" }), "'yes'", "GRAPHENGINE__RUN__RESETDEVICEATEXIT");
    }
}
