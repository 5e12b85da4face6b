using Pmalloc.Cli;

namespace Pmalloc.Tests;

/// <summary>The sealing, usercopy and secrets attack cases, each in a child process, end as the catalog says.</summary>
public sealed class SealingAttackTests
{
    public static TheoryData<string> Cases => [.. Attacks.Cases.Values
        .Where(a => a.Name.StartsWith("sealed-", StringComparison.Ordinal) || a.Name.StartsWith("unsealed-", StringComparison.Ordinal)
            || a.Name.StartsWith("secret-", StringComparison.Ordinal) || a.Name is "check-write-protected" or "libc-memset" or "lock-over-memlock-limit")
        .Select(a => a.Name)];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Ends_as_expected(string name)
    {
        Attack attack = Attacks.Cases[name];
        ChildResult result = Child.Attack(name);
        string context = $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}";
        Assert.True(result.StandardOutput.Contains(Attacks.ReadyMarker, StringComparison.Ordinal), $"the child died before the attack: {context}");
        switch (attack.Expected)
        {
            case Outcome.AccessViolation:
                Child.AssertDiedOfAccessViolation(result);
                break;
            case Outcome.Refused:
                Assert.True(result.ExitCode == Attacks.RefusedExitCode && result.StandardOutput.Contains("refused: ", StringComparison.Ordinal), context);
                Assert.DoesNotContain(Attacks.SurvivedMarker, result.StandardOutput, StringComparison.Ordinal);
                break;
            case Outcome.NotBlocked:
                Assert.True(result.ExitCode == 0 && result.StandardOutput.Contains(Attacks.SurvivedMarker, StringComparison.Ordinal), context);
                break;
            case Outcome.Segfault:
                Assert.True(result.ExitCode == 139, context);
                break;
        }
    }

    [Fact]
    public void The_memlock_refusal_names_RLIMIT_MEMLOCK_and_leaves_the_pool_unchanged()
    {
        ChildResult result = Child.Attack("lock-over-memlock-limit");
        Assert.Contains("RLIMIT_MEMLOCK", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("InsufficientMemoryException", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("'attack-mlock'", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("pool unchanged, nothing left mapped", result.StandardOutput, StringComparison.Ordinal);
    }
}
