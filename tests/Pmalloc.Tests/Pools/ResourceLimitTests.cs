namespace Pmalloc.Tests;

/// <summary>
/// A refill the OS refuses (here: RLIMIT_AS, in a child, so the limit binds no other test) throws an exception that
/// names the pool, and leaves the pool, its mappings and its descriptors exactly as they were.
/// </summary>
public sealed class ResourceLimitTests
{
    [Theory]
    [InlineData("refill-over-address-space-limit-metadata")]
    [InlineData("refill-over-address-space-limit-mapping")]
    public void A_refill_refused_under_RLIMIT_AS_names_the_pool_and_leaves_nothing_behind(string scenario)
    {
        Platform.RequireLinux("lowers RLIMIT_AS with setrlimit and reads /proc/self/maps");
        ChildResult result = Child.Run(scenario);

        Assert.True(result.ExitCode == 0 && result.StandardOutput.Contains(ChildScenarios.SurvivedMarker, StringComparison.Ordinal), result.ToString());
        Assert.Contains("refused: OutOfMemoryException: Pool 'child-as': cannot ", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("statistics unchanged: True", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("mappings and descriptors unchanged: True", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("after dispose: 0 mappings, 0 descriptors", result.StandardOutput, StringComparison.Ordinal);
    }
}
