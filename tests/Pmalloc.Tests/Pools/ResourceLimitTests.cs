namespace Pmalloc.Tests;

/// <summary>
/// The OS limits a pool must respect (issue 11), each in a child that lowers or uses up the limit of its own process
/// (<see cref="ChildScenarios"/>): address space (RLIMIT_AS), descriptors (RLIMIT_NOFILE), mappings (vm.max_map_count),
/// file size (RLIMIT_FSIZE). A refusal names the pool and the limit, leaves the pool's statistics as they were and leaves no
/// mapping or descriptor behind; the process goes on.
/// </summary>
public sealed class ResourceLimitTests
{
    private static void AssertSurvived(ChildResult result) =>
        Assert.True(result.ExitCode == 0 && result.StandardOutput.Contains(ChildScenarios.SurvivedMarker, StringComparison.Ordinal), result.ToString());

    [Fact]
    public void Protected_pools_hold_no_descriptor_and_EMFILE_names_RLIMIT_NOFILE_and_changes_nothing()
    {
        Platform.RequireLinux("RLIMIT_NOFILE (Windows has no descriptor limit)");
        ChildResult result = Child.Run("descriptor-limit");
        AssertSurvived(result);
        string o = result.StandardOutput;
        Assert.Contains("protected pools: 300", o, StringComparison.Ordinal);
        Assert.Contains("their descriptors: 0", o, StringComparison.Ordinal);
        Assert.Contains("refused: IOException: Pool 'child-fd-writable'", o, StringComparison.Ordinal);
        Assert.Contains("EMFILE", o, StringComparison.Ordinal);
        Assert.Contains("RLIMIT_NOFILE allows (now 64;", o, StringComparison.Ordinal);
        Assert.Contains("ulimit -n", o, StringComparison.Ordinal);
        Assert.Contains("statistics unchanged: True", o, StringComparison.Ordinal);
        Assert.Contains("descriptors unchanged: True", o, StringComparison.Ordinal);
        Assert.Contains("no mapping of the pool: True", o, StringComparison.Ordinal);
        Assert.Contains("left after dispose: 0 mappings, 0 descriptors", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Near_vm_max_map_count_a_chunk_is_refused_naming_the_limit_while_the_runtime_still_has_room()
    {
        Platform.RequireLinux("vm.max_map_count");
        ChildResult result = Child.Run("mapping-limit-near");
        AssertSurvived(result);
        string o = result.StandardOutput;
        Assert.Contains("refused: InsufficientMemoryException: Pool 'child-maps-near'", o, StringComparison.Ordinal);
        Assert.Contains("vm.max_map_count", o, StringComparison.Ordinal);
        Assert.Contains("in use at the last count", o, StringComparison.Ordinal);
        Assert.Contains("statistics unchanged: True", o, StringComparison.Ordinal);
        Assert.Contains("no mapping and no descriptor left: True", o, StringComparison.Ordinal);
        Assert.Contains("runtime alive: 0,7,14", o, StringComparison.Ordinal);
        Assert.Contains("after the mappings were given back: 1 chunk", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Pools_until_vm_max_map_count_end_in_an_exception_naming_it_and_the_runtime_goes_on()
    {
        Platform.RequireLinux("vm.max_map_count");
        // The case: about 32,500 pools used to kill the runtime ("Failed to create RW mapping for RX memory").
        // Some 61,000 pools: allow for a slow, shared machine.
        ChildResult result = Child.Run("mapping-limit-pools", TimeSpan.FromMinutes(8));
        AssertSurvived(result);
        string o = result.StandardOutput;
        Assert.Contains("refused: Pool 'child-maps-pools'", o, StringComparison.Ordinal);
        Assert.Contains("vm.max_map_count", o, StringComparison.Ordinal);
        Assert.Contains("runtime alive: 285", o, StringComparison.Ordinal);
        Assert.Contains("left after dispose: 0 mappings", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Past_RLIMIT_FSIZE_a_chunk_is_refused_naming_it_instead_of_SIGXFSZ()
    {
        Platform.RequireLinux("RLIMIT_FSIZE");
        ChildResult result = Child.Run("file-size-limit");
        AssertSurvived(result);
        Assert.Contains("refused: IOException: Pool 'child-fsize'", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("RLIMIT_FSIZE", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("statistics unchanged: True", result.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("write-past-chunk")]
    [InlineData("write-before-chunk")]
    public void A_write_into_a_guard_page_kills_the_child(string scenario)
    {
        Child.AssertFaults(scenario);
    }

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
