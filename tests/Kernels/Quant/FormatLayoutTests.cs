using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Quant;

public class FormatLayoutTests
{
    // The kernel's in-register conversion: sign to bit 7, magnitude to the low bits. As an e4m3 byte with
    // exponent field 0 that is a subnormal worth m * 2^-9, so q = byte value * 512 for every nibble.
    [Fact]
    public void Every_sign_magnitude_nibble_becomes_the_e4m3_byte_worth_q_times_2_pow_minus_9()
    {
        for (int nib = 0; nib < 16; nib++)
        {
            byte e4m3 = (byte)(((nib & 8) << 4) | (nib & 7));
            float value = Fp8E4M3.ToFloat(e4m3);
            Assert.Equal(W4AFp8GroupGemm.FromNibble(nib) / 512f, value);
            Assert.Equal(W4AFp8GroupGemm.FromNibble(nib), value * W4AFp8GroupGemm.NibbleFactor);
        }
        for (int q = -7; q <= 7; q++) Assert.Equal(q, W4AFp8GroupGemm.FromNibble(W4AFp8GroupGemm.ToNibble(q)));
    }

    [Fact]
    public void W4afp8_layout_puts_a_lanes_b_fragment_in_one_word()
    {
        const int kp = 256;
        var seen = new HashSet<(int, int)>();
        for (int k = 0; k < kp; k++) Assert.True(seen.Add(W4AFp8GroupGemm.Position(k)), $"element {k} shares a nibble");
        Assert.Equal(kp, seen.Count);
        // Lane t of mma.m16n8k32 needs k = 4t..4t+3 (b[0]) and 16+4t..16+4t+3 (b[1]) of each 32-wide step:
        // they must be the low and high nibbles of bytes 4t..4t+3 of the step's 16 bytes.
        for (int step = 0; step < kp / 32; step++)
            for (int t = 0; t < 4; t++)
                for (int j = 0; j < 4; j++)
                {
                    Assert.Equal((step * 16 + 4 * t + j, 0), W4AFp8GroupGemm.Position(step * 32 + 4 * t + j));
                    Assert.Equal((step * 16 + 4 * t + j, 1), W4AFp8GroupGemm.Position(step * 32 + 16 + 4 * t + j));
                }
    }

    [Fact]
    public void Nvfp4_layout_puts_a_lanes_four_k_steps_in_eight_bytes()
    {
        const int kp = 128;
        var seen = new HashSet<(int, int)>();
        for (int k = 0; k < kp; k++) Assert.True(seen.Add(Nvfp4GroupGemm.Position(k)), $"element {k} shares a nibble");
        // Lane t, k-step s of m16n8k16 needs elements 2t, 2t+1 (b[0]) and 2t+8, 2t+9 (b[1]): the 16-bit
        // word s of the lane's 8 bytes at chunk * 32 + 8t, nibbles in that order.
        for (int chunk = 0; chunk < kp / 64; chunk++)
            for (int t = 0; t < 4; t++)
                for (int s = 0; s < 4; s++)
                {
                    int k0 = chunk * 64 + s * 16, word = chunk * 32 + 8 * t + 2 * s;
                    Assert.Equal((word, 0), Nvfp4GroupGemm.Position(k0 + 2 * t));
                    Assert.Equal((word, 1), Nvfp4GroupGemm.Position(k0 + 2 * t + 1));
                    Assert.Equal((word + 1, 0), Nvfp4GroupGemm.Position(k0 + 2 * t + 8));
                    Assert.Equal((word + 1, 1), Nvfp4GroupGemm.Position(k0 + 2 * t + 9));
                }
    }

    [Fact]
    public void E2m1_times_e4m3_is_exact_in_bf16_and_fp16()
    {
        // The nvfp4 kernel hands q * block_scale to a bf16/fp16 MMA: it must not round.
        for (int code = 0; code < 16; code++)
            for (int s = 0; s < 0x7F; s++)
            {
                float v = Fp4E2M1.ToFloat((byte)code) * Fp8E4M3.ToFloat((byte)s);
                Assert.Equal(v, Bf16.Round(v));
                Assert.Equal(v, HalfBits.Round(v));
            }
    }

    [Fact]
    public void Fp8_quantizer_definition_handles_zero_groups_and_saturates_at_448()
    {
        var x = new float[130];
        x[129] = -3f;
        var q = new byte[256];
        var s = new float[2];
        Fp8Quant.HostQuantizeRow(x, Fp8ActScaling.PerToken128, q, s);
        Assert.Equal(0f, s[0]);
        Assert.All(q.AsSpan(0, 128).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(3f / 448f, s[1]);
        Assert.Equal(-448f, Fp8Quant.Decode(q[129]));
        Assert.All(q.AsSpan(130).ToArray(), b => Assert.Equal(0, b));    // K tail padded with zeros
    }

    [Fact]
    public void Nvfp4_quantizer_definition_follows_modelopt()
    {
        var w = new float[2 * 16];
        for (int i = 0; i < w.Length; i++) w[i] = (i % 7 - 3) * 0.01f;
        w[5] = 2.688f;                                     // the expert's amax: global = 2.688 / 2688 = 1e-3
        var q = new byte[128 * 64 / 2];
        var sc = new byte[128 * 64 / 16];
        float g = Nvfp4GroupGemm.HostQuantize(w, 1, 32, q, sc);
        Assert.Equal(2.688f / 2688f, g);
        // Block 0 holds the amax: its scale is e4m3(2.688 / 6 / g) = 448, and 2.688 maps to e2m1 6.
        Assert.Equal(448f, Fp8E4M3.ToFloat(sc[Nvfp4GroupGemm.ScaleIndex(128, 0, 0)]));
        var deq = Nvfp4GroupGemm.HostDequantize(q, sc, g, 1, 32);
        Assert.Equal(2.688f, deq[5], 5);
        // Error bounds: half the widest e2m1 gap (between 4 and 6) times block scale * global. Block 0 is
        // crushed by its outlier (scale 448 * 1e-3); block 1 (amax 0.03) gets scale e4m3(5) = 5.
        Assert.Equal(5f, Fp8E4M3.ToFloat(sc[Nvfp4GroupGemm.ScaleIndex(128, 0, 16)]));
        for (int i = 0; i < 32; i++)
        {
            double bound = (i < 16 ? 448 : 5) * g * 1.0 + 1e-7;
            Assert.True(Math.Abs(deq[i] - w[i]) <= bound, $"element {i}: {deq[i]} vs {w[i]} (bound {bound})");
        }
        Assert.True(Math.Abs(deq[20] - w[20]) <= 0.005 + 1e-7);
    }
}
