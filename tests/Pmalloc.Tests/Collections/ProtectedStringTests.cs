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
    public void AfterTheDictionaryIsDisposed_EveryCheckedAccessorThrows_AndLengthStillAnswers()
    {
        ProtectedDictionary<ProtectedString, ProtectedString> roles = new Dictionary<string, string> { ["alice"] = "admin" }.ToProtectedDictionary(new PoolOptions { Name = "roles" });
        ProtectedString key = roles.Keys[0], value = roles["alice"];
        ProtectedString fromEnumeration = roles.First().Value;
        roles.Dispose();
        foreach (ProtectedString stale in new[] { key, value, fromEnumeration })
        {
            AssertDisposed(stale, "roles");
            Assert.Equal(5, stale.Length);
            Assert.False(stale.IsEmpty);
            Assert.True(stale.IsInPool);
        }
    }

    [Fact]
    public void AfterTheCallersPoolIsDestroyed_ItsStringsThrow_AndDisposingOneCollectionStopsOnlyItsOwn()
    {
        WriteOncePool pool = new(new PoolOptions { Name = "policy" });
        ProtectedSet<ProtectedString> users = new[] { "alice", "bob" }.ToProtectedSet(pool);
        ProtectedDictionary<int, ProtectedString> names = new Dictionary<int, string> { [1] = "carol" }.ToProtectedDictionary(pool);
        pool.Protect();
        ProtectedString alice = users[0], carol = names[1];

        // Disposing the set ends its strings, even though their pool is alive; the dictionary's stay readable.
        users.Dispose();
        AssertDisposed(alice, "policy");
        Assert.Equal("carol", carol.ToString());

        pool.Dispose();
        AssertDisposed(carol, "policy");
    }

    [Fact]
    public void ManagedStrings_NeverExpire()
    {
        ProtectedString wrapped;
        using (ProtectedSet<ProtectedString> set = new[] { "x" }.ToProtectedSet())
        {
            wrapped = "x";
            Assert.True(set.Contains(wrapped));
        }

        Assert.Equal("x", wrapped.ToString());
        Assert.True(wrapped == "x");
        Assert.Equal("".GetHashCode(), default(ProtectedString).GetHashCode());
    }

    [Fact]
    public void ExplicitConversionToString_CopiesPoolText_AndReturnsAWrappedStringItself()
    {
        using ProtectedSet<ProtectedString> set = new[] { "mallory" }.ToProtectedSet();
        string copy = (string)set[0];
        Assert.Equal("mallory", copy);
        string text = "plain";
        Assert.Same(text, (string)(ProtectedString)text);
        Assert.Equal("", (string)default(ProtectedString));
    }

    [Fact]
    public void StringOperators_CompareWithStrings_AndNull()
    {
        using ProtectedSet<ProtectedString> set = new[] { "admin" }.ToProtectedSet();
        ProtectedString admin = set[0];
        string? none = null;
        Assert.True(admin == "admin");
        Assert.True("admin" == admin);
        Assert.False(admin != "admin");
        Assert.True(admin != "root");
        Assert.False(admin == none);
        Assert.True(admin != none);
        Assert.False(none == admin);
        Assert.True(admin == (ProtectedString)"admin");
    }

    private static void AssertDisposed(ProtectedString stale, string pool)
    {
        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(() => stale.AsSpan().Length);
        Assert.Contains($"'{pool}'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{stale.DangerousAddress:x}", e.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => stale.ToString());
        Assert.Throws<ObjectDisposedException>(() => (string)stale);
        Assert.Throws<ObjectDisposedException>(() => stale[0]);
        Assert.Throws<ObjectDisposedException>(() => stale.Equals("alice"));
        Assert.Throws<ObjectDisposedException>(() => stale.Equals((ProtectedString)"alice"));
        Assert.Throws<ObjectDisposedException>(() => stale.Equals("alice".AsSpan()));
        Assert.Throws<ObjectDisposedException>(() => stale.Equals("alice".AsSpan(), StringComparison.OrdinalIgnoreCase));
        Assert.Throws<ObjectDisposedException>(() => stale.Equals((object)stale));
        Assert.Throws<ObjectDisposedException>(() => stale == "alice");
        Assert.Throws<ObjectDisposedException>(() => "alice" != stale);
        Assert.Throws<ObjectDisposedException>(() => stale == (ProtectedString)"alice");
        Assert.Throws<ObjectDisposedException>(() => stale.GetHashCode());
        Assert.Throws<ObjectDisposedException>(() => System.Text.Json.JsonSerializer.Serialize(stale));
    }

    [Fact]
    public void PoolString_IsReadOnlyMemory()
    {
        Child.AssertFaults("set-string-write");
    }
}
