namespace Pmalloc.Tests;

/// <summary>SecretMemory on a kernel without memfd_secret, simulated by overriding the cached probe.</summary>
[Collection(nameof(KernelFeatureOverride))]
public sealed class SecretsUnsupportedTests
{
    [Fact]
    public void SecretMemory_refuses_at_construction_where_memfd_secret_is_missing()
    {
        using (KernelFeatureOverride.Without("s_memfdSecret"))
        {
            PlatformNotSupportedException e = Assert.Throws<PlatformNotSupportedException>(
                () => new WriteOncePool(new PoolOptions { Name = "no-secret", SecretMemory = true }));
            Assert.Contains("'no-secret'", e.Message, StringComparison.Ordinal);
            Assert.Contains("memfd_secret", e.Message, StringComparison.Ordinal);
            Assert.False(ProtectedMemory.Support.MemfdSecret);
        }
    }
}
