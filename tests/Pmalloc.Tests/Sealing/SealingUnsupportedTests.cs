namespace Pmalloc.Tests;

/// <summary>Sealing on a kernel without mseal, simulated by overriding the cached probe (so this collection runs alone).</summary>
[Collection(nameof(KernelFeatureOverride))]
public sealed class SealingUnsupportedTests
{
    [Fact]
    public void Required_refuses_at_construction_and_IfSupported_degrades_and_says_so()
    {
        using (KernelFeatureOverride.Without("s_mseal"))
        {
            PlatformNotSupportedException e = Assert.Throws<PlatformNotSupportedException>(
                () => new WriteOncePool(new PoolOptions { Name = "no-mseal", Seal = SealMode.Required }));
            Assert.Contains("'no-mseal'", e.Message, StringComparison.Ordinal);
            Assert.Contains("mseal", e.Message, StringComparison.Ordinal);
            Assert.False(ProtectedMemory.Support.Mseal);

            using WriteOncePool pool = new(new PoolOptions { Name = "no-mseal", Seal = SealMode.IfSupported });
            pool.Allocate(16);
            pool.Protect();
            Assert.Equal(PoolState.Protected, pool.State);
            Assert.False(pool.Statistics.Sealed);
            Assert.Equal(PoolHardening.None, pool.Statistics.Hardening & (PoolHardening.MappingsSealed | PoolHardening.BackingSealed));
            Assert.DoesNotContain("sl", SmapsEntry.OfChunk(pool.Chunks[0].Mapping).Mapping.VmFlags);
        }
    }
}
