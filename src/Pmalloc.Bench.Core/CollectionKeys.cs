namespace Pmalloc.Bench;

/// <summary>
/// The string keys the collection measurements use: two shapes of real-looking keys, and keys crafted to collide in
/// the protected collections' own string hash whatever its per-process seed (the hash-flooding attack), with random
/// keys of the same shape to compare them with. Seeded: every run measures the same keys.
/// </summary>
public static class CollectionKeys
{
    /// <summary>The key shapes of the lookup measurements.</summary>
    public static readonly string[] Shapes = [Identifiers, Paths];

    /// <summary>Identifiers: 5 to 20 characters of <c>[a-z0-9_-]</c>, no common prefix (user names, feature flags, header names).</summary>
    public const string Identifiers = "identifiers";

    /// <summary>Paths: <c>/usr/&lt;dir&gt;/&lt;name&gt;/&lt;file&gt;&lt;.ext&gt;</c>, 15 to 50 characters sharing prefixes and suffixes (a file index, routes).</summary>
    public const string Paths = "paths";

    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-";
    private static readonly string[] Directories = ["lib", "share", "bin", "include", "local", "src", "doc", "man"];
    private static readonly string[] Extensions = [".so", ".h", ".txt", ".gz", ".py", ".json", ""];

    /// <summary>Crafted keys are this long: a fixed prefix and suffix of <see cref="FixedEnds"/> each around 16 pairs of 4-character blocks.</summary>
    public const int CraftedLength = (2 * FixedEnds) + (CraftedPairs * 8);

    private const int FixedEnds = 24;
    private const int CraftedPairs = 16;

    /// <summary><paramref name="count"/> distinct keys of <paramref name="shape"/>.</summary>
    public static string[] Distinct(string shape, int count, int seed)
    {
        Random random = new(seed);
        HashSet<string> keys = new(count, StringComparer.Ordinal);
        Span<char> buffer = stackalloc char[64];
        while (keys.Count < count)
        {
            keys.Add(shape switch
            {
                Identifiers => Word(random, buffer, random.Next(5, 21), Alphabet.Length),
                Paths => $"/usr/{Directories[random.Next(Directories.Length)]}/{Word(random, buffer, random.Next(3, 12), 26)}/{Word(random, buffer, random.Next(3, 16), Alphabet.Length)}{Extensions[random.Next(Extensions.Length)]}",
                _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, "no such key shape"),
            });
        }

        return [.. keys];
    }

    /// <summary>
    /// <paramref name="count"/> (at most 65,536) keys that all have one hash code under the collections' full ordinal string
    /// hash, for every seed. The hash mixes 4 code units at a time: <c>h = rotl((h ^ block) * M, 29)</c>. Flipping the top
    /// bit of a block flips exactly bit 63 of the product (M is odd), so bit 28 after the rotation; flipping bit 28 of the
    /// next block cancels it. Each of 16 block pairs is flipped or not: 2^16 keys, one state. The same 24 characters at
    /// both ends leave no slice that tells them apart, so the build cannot avoid the full hash by slicing.
    /// </summary>
    public static string[] Crafted(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 1 << CraftedPairs);
        string[] keys = new string[count];
        char[] key = new char[CraftedLength];
        for (int k = 0; k < count; k++)
        {
            key.AsSpan().Fill('a');
            for (int pair = 0; pair < CraftedPairs; pair++)
            {
                if ((k >> pair & 1) != 0)
                {
                    int block = FixedEnds + (pair * 8);
                    key[block + 3] ^= '\u8000'; // bit 63 of the first block
                    key[block + 5] ^= '\u1000'; // bit 28 of the second (code unit 1, bit 12)
                }
            }

            keys[k] = new string(key);
        }

        return keys;
    }

    /// <summary>Keys of the crafted keys' shape (the same length, ends and alphabet) whose middles are random.</summary>
    public static string[] LikeCrafted(int count, int seed)
    {
        Random random = new(seed);
        HashSet<string> keys = new(count, StringComparer.Ordinal);
        char[] key = new char[CraftedLength];
        char[] units = ['a', '\u8061', '\u1061', '\u9061'];
        while (keys.Count < count)
        {
            key.AsSpan().Fill('a');
            for (int i = FixedEnds; i < CraftedLength - FixedEnds; i++)
            {
                key[i] = units[random.Next(units.Length)];
            }

            keys.Add(new string(key));
        }

        return [.. keys];
    }

    /// <summary>
    /// Lookups: copies of keys (new string objects, so no lookup can succeed by comparing references) and misses of the
    /// same shape, alternately, in random order.
    /// </summary>
    public static string[] Queries(string[] keys, string[] misses, int count, int seed)
    {
        Random random = new(seed);
        string[] queries = new string[count];
        for (int i = 0; i < count; i++)
        {
            string source = (i & 1) == 0 ? keys[random.Next(keys.Length)] : misses[random.Next(misses.Length)];
            queries[i] = new string(source.AsSpan());
        }

        return queries;
    }

    private static string Word(Random random, Span<char> buffer, int length, int alphabet)
    {
        for (int i = 0; i < length; i++)
        {
            buffer[i] = Alphabet[random.Next(alphabet)];
        }

        return new string(buffer[..length]);
    }
}
