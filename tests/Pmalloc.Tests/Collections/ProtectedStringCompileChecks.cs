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

    [Fact]
    public void StringsInSwitchesAndPatterns_MatchThroughAsSpan_WithoutAllocating()
    {
        using ProtectedDictionary<ProtectedString, ProtectedString> d = new Dictionary<string, string> { ["alice"] = "admin", ["bob"] = "reader" }.ToProtectedDictionary();
        ProtectedString alice = d["alice"], bob = d["bob"];
        Assert.Equal(2, Level(alice));
        Assert.Equal(1, Level(bob));
        long before = GC.GetAllocatedBytesForCurrentThread();
        int levels = Level(alice) + Level(bob);
        bool privileged = alice.AsSpan() is "admin" or "root";
        bool switched = false;
        switch (bob.AsSpan())
        {
            case "admin":
                break;
            case "reader":
                switched = true;
                break;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(3, levels);
        Assert.True(privileged);
        Assert.True(switched);
        Assert.True(alice == "admin" && "reader" == bob && alice != "root");
        string copy = (string)alice;
        Assert.Equal("admin", copy);

        static int Level(ProtectedString role) => role.AsSpan() switch
        {
            "admin" => 2,
            "reader" => 1,
            _ => 0,
        };
    }

    [Fact]
    public void KeysAsStrings_ThroughTheView()
    {
        using ProtectedDictionary<ProtectedString, int> d = new Dictionary<string, int> { ["alice"] = 1 }.ToProtectedDictionary();
        IReadOnlyDictionary<string, int> view = d.AsReadOnlyDictionary();
        IEnumerable<string> keys = view.Keys;
        Assert.Equal(["alice"], keys);
        using ProtectedSet<ProtectedString> set = new[] { "x" }.ToProtectedSet();
        IReadOnlySet<string> strings = set.AsReadOnlySet();
        Assert.Contains("x", strings);
    }
}
