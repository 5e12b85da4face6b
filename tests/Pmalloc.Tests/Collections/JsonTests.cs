using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pmalloc.Tests;

/// <summary>
/// System.Text.Json: the views write what the FrozenDictionary and FrozenSet they replace write, the dictionaries of
/// ProtectedString write what the Dictionary they were built from writes, and the ProtectedString converter works through
/// a source-generated context, the only way there is under NativeAOT (no reflection).
/// </summary>
public class JsonTests
{
    private static readonly Dictionary<string, int> Rights = new() { ["alice"] = 3, ["bob"] = 1, ["Ünïcødé \"quoted\" \\ \u0001"] = 7, [""] = 0 };
    private static readonly Dictionary<string, string> Roles = new() { ["alice"] = "admin", ["bob"] = "reader <b>&amp;</b>", ["carol"] = "" };

    [Fact]
    public void DictionaryViews_SerializeLikeFrozenDictionary()
    {
        using ProtectedDictionary<ProtectedString, int> rights = Rights.ToProtectedDictionary();
        using ProtectedDictionary<ProtectedString, ProtectedString> roles = Roles.ToProtectedDictionary();
        AssertSameObject(JsonSerializer.Serialize<IReadOnlyDictionary<string, int>>(Rights.ToFrozenDictionary()), JsonSerializer.Serialize(rights.AsReadOnlyDictionary()));
        AssertSameObject(JsonSerializer.Serialize<IReadOnlyDictionary<string, string>>(Roles.ToFrozenDictionary()), JsonSerializer.Serialize(roles.AsReadOnlyDictionary()));

        // As the runtime type too (an object property, say), and as a FrozenDictionary itself writes.
        AssertSameObject(JsonSerializer.Serialize(Rights.ToFrozenDictionary()), JsonSerializer.Serialize<object>(rights.AsReadOnlyDictionary()));
    }

    [Fact]
    public void ProtectedDictionaries_SerializeLikeTheirSource()
    {
        using ProtectedDictionary<ProtectedString, int> rights = Rights.ToProtectedDictionary();
        using ProtectedDictionary<ProtectedString, ProtectedString> roles = Roles.ToProtectedDictionary();
        using ProtectedDictionary<int, ProtectedString> byId = new Dictionary<int, string> { [1] = "alice", [2] = "bob" }.ToProtectedDictionary();
        AssertSameObject(JsonSerializer.Serialize(Rights), JsonSerializer.Serialize(rights));
        AssertSameObject(JsonSerializer.Serialize(Roles), JsonSerializer.Serialize(roles));
        AssertSameObject(JsonSerializer.Serialize(new Dictionary<int, string> { [1] = "alice", [2] = "bob" }), JsonSerializer.Serialize(byId));
    }

    [Fact]
    public void SetView_SerializesLikeFrozenSet()
    {
        string[] names = ["alice", "bob", "Ünïcødé"];
        using ProtectedSet<ProtectedString> set = names.ToProtectedSet();
        string expected = JsonSerializer.Serialize<IReadOnlySet<string>>(names.ToFrozenSet());
        string actual = JsonSerializer.Serialize(set.AsReadOnlySet());
        Assert.Equal(JsonSerializer.Deserialize<string[]>(expected)!.Order(StringComparer.Ordinal), JsonSerializer.Deserialize<string[]>(actual)!.Order(StringComparer.Ordinal));
        Assert.Equal(names.Order(StringComparer.Ordinal), JsonSerializer.Deserialize<string[]>(JsonSerializer.Serialize(set))!.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ProtectedString_IsAJsonString_InAndOut()
    {
        using ProtectedSet<ProtectedString> set = new[] { "mallory \"m\"" }.ToProtectedSet();
        ProtectedString stored = set[0];
        Assert.Equal(JsonSerializer.Serialize("mallory \"m\""), JsonSerializer.Serialize(stored));
        ProtectedString read = JsonSerializer.Deserialize<ProtectedString>("\"from json\"");
        Assert.False(read.IsInPool);
        Assert.Equal("from json", read.ToString());
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ProtectedString>("42"));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ProtectedString>("null"));
        Dictionary<ProtectedString, int> keyed = JsonSerializer.Deserialize<Dictionary<ProtectedString, int>>("{\"a\":1}")!;
        Assert.Equal(1, keyed["a"]);
        Grant grant = new(stored, 7);
        Assert.Equal("{\"Subject\":\"mallory \\u0022m\\u0022\",\"Rights\":7}", JsonSerializer.Serialize(grant));
    }

    [Fact]
    public void SourceGeneratedContext_WritesTheSameJson_WithoutReflection()
    {
        using ProtectedDictionary<ProtectedString, int> rights = Rights.ToProtectedDictionary();
        using ProtectedDictionary<ProtectedString, ProtectedString> roles = Roles.ToProtectedDictionary();
        using ProtectedSet<ProtectedString> names = Rights.Keys.ToProtectedSet();
        AssertSameObject(JsonSerializer.Serialize(Rights), JsonSerializer.Serialize(rights.AsReadOnlyDictionary(), ProtectedJsonContext.Default.IReadOnlyDictionaryStringInt32));
        AssertSameObject(JsonSerializer.Serialize(Roles), JsonSerializer.Serialize(roles.AsReadOnlyDictionary(), ProtectedJsonContext.Default.IReadOnlyDictionaryStringString));
        Assert.Equal(Rights.Keys.Order(StringComparer.Ordinal), JsonSerializer.Deserialize<string[]>(JsonSerializer.Serialize(names.AsReadOnlySet(), ProtectedJsonContext.Default.IReadOnlySetString))!.Order(StringComparer.Ordinal));
        Assert.Equal("{\"Subject\":\"alice\",\"Rights\":3}", JsonSerializer.Serialize(new Grant(rights.Keys.First(k => k == "alice"), 3), ProtectedJsonContext.Default.Grant));
        Grant back = JsonSerializer.Deserialize("{\"Subject\":\"bob\",\"Rights\":1}", ProtectedJsonContext.Default.Grant)!;
        Assert.Equal("bob", back.Subject.ToString());
        Assert.Equal("\"alice\"", JsonSerializer.Serialize(rights.Keys.First(k => k == "alice"), ProtectedJsonContext.Default.ProtectedString));
    }

    private static void AssertSameObject(string expected, string actual)
    {
        Dictionary<string, JsonElement> e = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(expected)!;
        Dictionary<string, JsonElement> a = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(actual)!;
        Assert.Equal(e.Count, a.Count);
        foreach ((string key, JsonElement value) in e)
        {
            Assert.True(a.TryGetValue(key, out JsonElement got), $"'{key}' missing from {actual}");
            Assert.Equal(value.GetRawText(), got.GetRawText());
        }
    }
}

/// <summary>A record with a protected string in it, for the converter.</summary>
public sealed record Grant(ProtectedString Subject, int Rights);

/// <summary>The source-generated metadata a NativeAOT program would use: no reflection at run time.</summary>
[JsonSerializable(typeof(IReadOnlyDictionary<string, int>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlySet<string>))]
[JsonSerializable(typeof(Grant))]
[JsonSerializable(typeof(ProtectedString))]
internal sealed partial class ProtectedJsonContext : JsonSerializerContext;
