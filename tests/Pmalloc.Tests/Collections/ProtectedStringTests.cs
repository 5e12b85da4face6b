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
