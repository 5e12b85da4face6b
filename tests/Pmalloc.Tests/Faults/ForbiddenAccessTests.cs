namespace Pmalloc.Tests;

/// <summary>
/// A write to protected memory must really fault. Each scenario runs in a child process (this test executable with
/// <c>--child NAME</c>, see <see cref="ChildScenarios"/>), which must die of the runtime's AccessViolationException
/// (exit 134), while this process's protected data is intact.
/// </summary>
public sealed unsafe class ForbiddenAccessTests
{
    [Theory]
    [InlineData("write-pointer")]
    [InlineData("write-span")]
    [InlineData("write-memorycopy")]
    [InlineData("read-after-dispose")]
    [InlineData("write-after-free-of-a-chunk")]
    public void A_forbidden_access_kills_the_child_and_leaves_our_data_intact(string scenario)
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(64);
        TestPools.Fill(p, 64, 77);
        pool.Protect();

        ChildResult result = Child.Run(scenario);

        Child.AssertDiedOfAccessViolation(result);
        Assert.True(TestPools.HasPattern(p, 64, 77));
    }

    [Fact]
    public void A_write_into_a_protected_secret_memory_pool_kills_the_child()
    {
        KernelRequirements.Require(KernelFeature.MemfdSecret);
        Child.AssertFaults("secret-write-pointer");
    }

    /// <summary>
    /// Past RLIMIT_MEMLOCK, a locked pool and a secret-memory pool (whose every page counts against it; newer kernels
    /// would SIGBUS a store past it) are refused at <c>Allocate</c>, naming the limit and the pool, and the child lives.
    /// </summary>
    [Theory]
    [InlineData("lock-over-memlock-limit", "child-mlock")]
    [InlineData("secret-over-memlock-limit", "child-secret-mlock")]
    public void Going_past_RLIMIT_MEMLOCK_is_refused_naming_the_limit_and_the_pool_and_changes_nothing(string scenario, string pool)
    {
        Platform.RequireLinux("lowers RLIMIT_MEMLOCK with setrlimit (Windows: WindowsBackendTests checks the working-set message)");
        if (scenario.StartsWith("secret", StringComparison.Ordinal))
        {
            KernelRequirements.Require(KernelFeature.MemfdSecret);
        }

        ChildResult result = Child.Run(scenario);

        Assert.True(result.ExitCode == 0 && result.StandardOutput.Contains(ChildScenarios.SurvivedMarker, StringComparison.Ordinal), result.ToString());
        Assert.Contains("refused: InsufficientMemoryException: ", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("RLIMIT_MEMLOCK", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"'{pool}'", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("statistics unchanged: True", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("mappings and descriptors unchanged: True", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_scenario_is_a_usage_error_listing_the_known_ones()
    {
        // The entry point must not hand an unknown --child to the test runner (which would run every test in the child).
        ChildResult result = Child.Run("no-such-scenario");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("write-pointer", result.StandardError, StringComparison.Ordinal);
    }
}
