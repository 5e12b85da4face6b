using Pmalloc.Cli;

namespace Pmalloc.Tests;

/// <summary>
/// A write to protected memory must really fault. Each attack runs in a child process (<c>pmalloc attack NAME</c>),
/// which must die of the runtime's AccessViolationException (exit 134), while this process's protected data is intact.
/// </summary>
public sealed unsafe class FaultTests
{
    [Theory]
    [InlineData("write-pointer")]
    [InlineData("write-span")]
    [InlineData("write-memorycopy")]
    [InlineData("read-after-dispose")]
    public void A_forbidden_access_kills_the_child_and_leaves_our_data_intact(string attack)
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(64);
        TestPools.Fill(p, 64, 77);
        pool.Protect();

        ChildResult result = Child.Attack(attack);

        Child.AssertDiedOfAccessViolation(result);
        Assert.Equal(Outcome.AccessViolation, Attacks.Cases[attack].Expected);
        Assert.True(TestPools.HasPattern(p, 64, 77));
    }

    [Theory]
    [InlineData("free-after-protect", "InvalidOperationException")]
    [InlineData("allocate-after-protect", "InvalidOperationException")]
    [InlineData("over-read", "ArgumentOutOfRangeException")]
    public void A_forbidden_call_is_refused_with_an_exception(string attack, string exception)
    {
        ChildResult result = Child.Attack(attack);
        Assert.Equal(Attacks.RefusedExitCode, result.ExitCode);
        Assert.Contains($"refused: {exception}: Pool 'attack'", result.StandardOutput, StringComparison.Ordinal);
    }
}
