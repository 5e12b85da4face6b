namespace Pmalloc.Tests;

/// <summary>Assertions a user would naturally write about string collections: they must compile (no ambiguous overloads) and hold.</summary>
public class ProtectedStringCompileChecks
{
    [Fact]
    public void NaturalAssertions_CompileAndHold()
    {
        using ProtectedDictionary<ProtectedString, ProtectedString> d = new Dictionary<string, string> { ["alice"] = "admin" }.ToProtectedDictionary();
        Assert.Equal("admin", d["alice"]);
        Assert.Equal(d["alice"], "admin");
        Assert.True(d["alice"] == "admin");
        Assert.Equal("admin", d["alice"].ToString());
        Assert.NotEqual("root", d["alice"]);
        Assert.Contains((ProtectedString)"alice", d.Keys);
        Assert.Contains("alice", d.Keys);
        Assert.True(d["alice"].Equals("admin"));
        Assert.Equal("admin", d["alice"].AsSpan());
        Assert.True(d.TryGetValue("alice", out var role) && role == "admin");
        Assert.True(d.ContainsKey("alice"));
        Assert.Equal("admin", d.GetAlternateLookup<ReadOnlySpan<char>>()["alice".AsSpan()]);
        using ProtectedSet<ProtectedString> set = new[] { "x" }.ToProtectedSet();
        Assert.Contains("x", set);
        Assert.True(set.Contains("x"));
        Assert.Equal("x", Assert.Single(set));
        Assert.Equal(["alice"], d.Keys);
        Assert.Equal(new ProtectedString[] { "admin" }, d.Values);
    }
}
