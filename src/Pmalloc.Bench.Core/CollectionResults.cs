namespace Pmalloc.Bench;

/// <summary>The protected collections' measurements of one run (<see cref="CollectionBench"/>).</summary>
public sealed record CollectionResults
{
    public List<StringLookupResult> StringLookups { get; } = [];

    public List<BuildResult> Builds { get; } = [];

    public HashFloodResult? Flood { get; set; }
}

/// <summary>String lookups in one table: ns per lookup, half copies of keys, half misses of the same shape.</summary>
public sealed record StringLookupResult(string Shape, int Entries, string Table, double NsPerLookup);

/// <summary>Building one table from a Dictionary of <paramref name="Entries"/> keys of <paramref name="KeyType"/>, int values.</summary>
public sealed record BuildResult(string KeyType, int Entries, string Builder, double MicrosecondsPerBuild);

/// <summary>
/// Lookups (half hits, half misses) of <paramref name="Keys"/> keys of <paramref name="KeyLength"/> characters crafted to collide
/// in the protected collections' string hash, against random keys of the same shape, in each table; and the two protected builds.
/// </summary>
public sealed record HashFloodResult(
    int Keys, int KeyLength, double NsCrafted, double NsRandom, double NsFrozenCrafted, double NsFrozenRandom,
    double NsDictionaryCrafted, double NsDictionaryRandom, double BuildCraftedMs, double BuildRandomMs);
