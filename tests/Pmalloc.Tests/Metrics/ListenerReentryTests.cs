namespace Pmalloc.Tests;

/// <summary>
/// A <see cref="System.Diagnostics.Metrics.MeterListener"/> callback may read the statistics of the pool it measures: the
/// meter records nothing while a pool's (non-reentrant) lock is held. Run in a child, so that a deadlock fails this test
/// (after the child's timeout) instead of hanging the run.
/// </summary>
public sealed class ListenerReentryTests
{
    [Fact]
    public void A_listener_that_reads_the_pool_statistics_does_not_deadlock_the_pool()
    {
        ChildResult result = Child.Run("metrics-listener-reads-statistics");

        Assert.True(result.ExitCode == 0 && result.StandardOutput.Contains(ChildScenarios.SurvivedMarker, StringComparison.Ordinal), result.ToString());

        // Three write-rare updates and four observable sizes, each callback reading the pool's two allocations.
        Assert.Contains("the listener read the statistics 7 times: 2 live allocations", result.StandardOutput, StringComparison.Ordinal);
    }
}
