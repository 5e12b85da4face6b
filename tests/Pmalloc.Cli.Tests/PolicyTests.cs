using Pmalloc.Cli.Policy;

namespace Pmalloc.Cli.Tests;

/// <summary>The demo's policy loader and query path, in this process.</summary>
public sealed unsafe class PolicyTests
{
    private static readonly string Samples = Path.Combine(AppContext.BaseDirectory, "samples");

    private static bool Allowed(LoadedPolicy policy, string user, string action, string obj) =>
        Decisions.IsAllowed((PolicyRoot*)policy.Root, user, action, obj);

    [Fact]
    public void The_shipped_policy_answers_as_its_rules_say()
    {
        using WriteOncePool pool = TestPools.NewPool();
        using LoadedPolicy policy = PolicyLoader.LoadFile(pool, Path.Combine(Samples, "policy.txt"));
        pool.Protect();

        Assert.Equal(("corp", 1), (policy.Name, policy.Version));
        Assert.Contains("mallory", policy.Users);
        Assert.True(Allowed(policy, "root", "write", "/etc/shadow"));
        Assert.False(Allowed(policy, "mallory", "write", "/etc/shadow"));
        Assert.True(Allowed(policy, "mallory", "read", "/srv/public/index.html"));

        // Inheritance: admin inherits every lead, a lead its senior, a senior its staff, staff the employee role.
        Assert.True(Allowed(policy, "root", "deploy", "service:eng-api-0"));
        Assert.True(Allowed(policy, "root", "read", "/srv/wiki"));
        Assert.False(Allowed(policy, "nobody", "read", "/srv/wiki"));
        Assert.False(Allowed(policy, "root", "read", "/srv/no-such-object"));
        Assert.False(Allowed(policy, "root", "", ""));
    }

    [Fact]
    public void Every_line_of_a_small_policy_is_honoured()
    {
        using WriteOncePool pool = TestPools.NewPool();
        string[] lines =
        [
            "# a comment", "policy tiny 7", "",
            "role reader", "role writer inherits reader   # trailing comment", "role ünïcode",
            "user ann reader", "user bob writer ünïcode",
            "allow reader read /doc", "allow writer write /doc", "allow ünïcode read /ü",
        ];
        using LoadedPolicy policy = PolicyLoader.Load(pool, lines, "tiny");
        pool.Protect();

        Assert.Equal(("tiny", 7, 3), (policy.Name, policy.Version, policy.Rules));
        Assert.True(Allowed(policy, "ann", "read", "/doc"));
        Assert.False(Allowed(policy, "ann", "write", "/doc"));
        Assert.True(Allowed(policy, "bob", "read", "/doc"));
        Assert.True(Allowed(policy, "bob", "write", "/doc"));
        Assert.True(Allowed(policy, "bob", "read", "/ü"));
        Assert.False(Allowed(policy, "ann", "read", "/ü"));
        Assert.Equal("ünïcode", System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)policy.FindRole("ünïcode")->Name));
    }

    [Theory]
    [InlineData("allow reader read", 4, "expected 'allow ROLE ACTION OBJECT'")]
    [InlineData("allow ghost read /doc", 4, "role 'ghost' is not declared")]
    [InlineData("user eve ghost", 4, "role 'ghost' is not declared")]
    [InlineData("role reader", 4, "role 'reader' is declared twice")]
    [InlineData("user ann reader", 4, "user 'ann' is declared twice")]
    [InlineData("allow reader read /doc", 4, "is given twice")]
    [InlineData("deny reader read /doc", 4, "unknown keyword 'deny'")]
    [InlineData("role x inherits", 4, "expected 'role NAME' or 'role NAME inherits PARENT...'")]
    [InlineData("policy late 2", 4, "'policy' must come before")]
    public void A_malformed_line_is_named_and_the_pool_is_left_exactly_as_it_was(string bad, int line, string message)
    {
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);

        // Something already in the pool, so "as it was" is not simply "empty".
        using LoadedPolicy first = PolicyLoader.Load(pool, ["role base", "user first base", "allow base read /x"], "first");
        PoolStatistics before = pool.Statistics;

        // Enough before the bad line to fill more than one chunk.
        string[] lines = ["role reader", "user ann reader", "allow reader read /doc", bad, .. Enumerable.Range(0, 10).Select(i => $"allow reader read /{i}")];
        string[] padded = [.. lines[..3], .. Enumerable.Range(0, 300).Select(i => $"allow reader list /long/object/name/{i}"), .. lines[3..]];
        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => PolicyLoader.Load(pool, padded, "bad.txt"));

        Assert.Equal(line + 300, e.Line);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"bad.txt:{line + 300}: ", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, pool.Statistics);

        // The policy loaded before still answers, and the pool takes the next load as if nothing had happened.
        Assert.True(Allowed(first, "first", "read", "/x"));
        using LoadedPolicy next = PolicyLoader.Load(pool, lines[..3], "next");
        Assert.True(Allowed(next, "ann", "read", "/doc"));
    }

    [Fact]
    public void The_shipped_malformed_policy_fails_halfway_and_rolls_back()
    {
        using WriteOncePool pool = TestPools.NewPool();
        using LoadedPolicy first = PolicyLoader.LoadFile(pool, Path.Combine(Samples, "policy.txt"));
        PoolStatistics before = pool.Statistics;

        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => PolicyLoader.LoadFile(pool, Path.Combine(Samples, "policy-malformed.txt")));

        int total = File.ReadAllLines(Path.Combine(Samples, "policy-malformed.txt")).Length;
        Assert.InRange(e.Line, total / 3, 2 * total / 3);
        Assert.Equal(before, pool.Statistics);

        // The policy loaded first is whole: its records and index tables were not touched by the rollback.
        pool.Protect();
        Assert.True(Allowed(first, "root", "write", "/etc/shadow"));
        Assert.False(Allowed(first, "mallory", "write", "/etc/shadow"));
    }

    [Fact]
    public void The_reload_version_changes_the_decisions_it_should()
    {
        using WriteOncePool v1Pool = TestPools.NewPool(), v2Pool = TestPools.NewPool();
        using LoadedPolicy v1 = PolicyLoader.LoadFile(v1Pool, Path.Combine(Samples, "policy.txt"));
        using LoadedPolicy v2 = PolicyLoader.LoadFile(v2Pool, Path.Combine(Samples, "policy-v2.txt"));

        Assert.Equal(2, v2.Version);
        Assert.False(Allowed(v1, "dave.kim", "deploy", "service:security-api-0"));
        Assert.True(Allowed(v2, "dave.kim", "deploy", "service:security-api-0"));
        Assert.False(Allowed(v1, "alice.ng", "read", "/srv/wiki/handbook-v2"));
        Assert.True(Allowed(v2, "alice.ng", "read", "/srv/wiki/handbook-v2"));
    }
}
