using System.Runtime.CompilerServices;
using CsCheck;

namespace Pmalloc.Tests;

public class ProtectedStringTests
{
    [Fact]
    public void PoolStrings_EqualManagedStringsAndSpans_WithConsistentHashCodes()
    {
        Gen.Select(CollectionAssert.Text.Array[1, 20], CollectionAssert.Text).Sample((texts, other) =>
        {
            using ProtectedSet<ProtectedString> set = texts.ToProtectedSet();
            foreach (ProtectedString stored in set)
            {
                string text = stored.ToString();
                Assert.True(stored.IsInPool);
                Assert.Equal(text.Length, stored.Length);
                Assert.Equal(text.Length == 0, stored.IsEmpty);
                Assert.True(stored.AsSpan().SequenceEqual(text));
                Assert.True(stored.Equals(text));
                Assert.True(stored.Equals(text.AsSpan()));
                Assert.True(stored == text);
                Assert.True(stored == (ProtectedString)new string(text.AsSpan()));
                Assert.Equal(text.GetHashCode(), stored.GetHashCode());
                Assert.Equal(((ProtectedString)text).GetHashCode(), stored.GetHashCode());
                Assert.Equal(stored, (ProtectedString)text);
                Assert.Equal(string.Equals(text, other, StringComparison.Ordinal), stored == other);
                Assert.Equal(string.Equals(text, other, StringComparison.Ordinal), stored.Equals((object)(ProtectedString)other));
                for (int i = 0; i < text.Length; i++)
                {
                    Assert.Equal(text[i], stored[i]);
                }
            }
        }, iter: 200);
    }

    [Fact]
    public void ManagedStrings_ConvertWithoutCopying_AndAreNotInAPool()
    {
        string text = "hello";
        ProtectedString wrapped = text;
        Assert.False(wrapped.IsInPool);
        Assert.Same(text, wrapped.ToString());
        Assert.True(Unsafe.AreSame(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(text.AsSpan()), ref System.Runtime.InteropServices.MemoryMarshal.GetReference(wrapped.AsSpan())));
        Assert.Equal(ProtectedString.FromString(text), wrapped);
        Assert.Throws<ArgumentNullException>(() => (ProtectedString)(string)null!);
    }

    [Fact]
    public void Default_IsTheEmptyString()
    {
        ProtectedString empty = default;
        Assert.True(empty.IsEmpty);
        Assert.Equal("", empty.ToString());
        Assert.True(empty == "");
        Assert.Equal("".GetHashCode(), empty.GetHashCode());
        Assert.False(empty.IsInPool);
    }

    [Fact]
    public void EqualsObject_IsTrueOnlyForProtectedStrings_SoEqualityStaysSymmetric()
    {
        ProtectedString text = "a";
        Assert.False(text.Equals((object)"a"));
        Assert.True(text.Equals((object)(ProtectedString)"a"));
        Assert.True(text.Equals("A".AsSpan(), StringComparison.OrdinalIgnoreCase));
        Assert.False(text.Equals((string?)null));
    }

    [Fact]
    public void PoolString_IsReadOnlyMemory()
    {
        Child.AssertFaults("set-string-write");
    }
}

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
