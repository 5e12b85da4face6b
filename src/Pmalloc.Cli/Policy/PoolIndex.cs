using System.Runtime.InteropServices;

namespace Pmalloc.Cli.Policy;

/// <summary>
/// A string-keyed hash index laid out in pool memory (open addressing, linear probing), so it is
/// protected with the data it indexes. Built once from all its entries, then only read: lookups take
/// no lock and allocate nothing.
/// </summary>
/// <remarks>
/// TODO(collections): replace with <c>ProtectedDictionary&lt;string, nint&gt;</c> built into the policy's pool
/// once branch <c>collections</c> is on main (issue 5 asks the demo's index to use it).
/// </remarks>
internal readonly unsafe struct PoolIndex
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Header
    {
        public int Mask;
        public int Count;
        public Entry* Entries;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        /// <summary>The key's hash; compared before the key itself.</summary>
        public int Hash;
        public int KeyLength;

        /// <summary>The key as UTF-16 in the pool, so lookups by <see cref="ReadOnlySpan{T}"/> compare without transcoding; 0 marks an empty slot.</summary>
        public char* Key;
        public nint Value;
    }

    private readonly Header* _header;

    private PoolIndex(Header* header) => _header = header;

    /// <summary>The index's address in the pool, to store in another pool structure.</summary>
    internal nint Address => (nint)_header;

    internal int Count => _header->Count;

    internal static PoolIndex At(nint address) => new((Header*)address);

    /// <summary>Builds the index in <paramref name="pool"/>; every allocation it makes is added to <paramref name="allocations"/> (for a rollback).</summary>
    internal static PoolIndex Build(ProtectablePool pool, IReadOnlyCollection<KeyValuePair<string, nint>> entries, List<nint> allocations)
    {
        // Load factor at most 1/2: probes stay short, misses included.
        int capacity = (int)Math.Max(8, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)entries.Count * 2));
        Entry* table = (Entry*)Track(pool.Allocate((nuint)capacity * (nuint)sizeof(Entry)), allocations);
        Header* header = (Header*)Track(pool.Allocate((nuint)sizeof(Header)), allocations);
        *header = new Header { Mask = capacity - 1, Count = entries.Count, Entries = table };
        foreach ((string key, nint value) in entries)
        {
            int hash = string.GetHashCode(key);
            int slot = hash & header->Mask;
            while (table[slot].Key != null)
            {
                slot = (slot + 1) & header->Mask;
            }

            // One extra char, so an empty key still gets an address (a null Key marks an empty slot).
            char* copy = (char*)Track(pool.Allocate((nuint)(key.Length + 1) * sizeof(char)), allocations);
            key.CopyTo(new Span<char>(copy, key.Length));
            table[slot] = new Entry { Hash = hash, KeyLength = key.Length, Key = copy, Value = value };
        }

        return new PoolIndex(header);
    }

    private static nint Track(nint address, List<nint> allocations)
    {
        allocations.Add(address);
        return address;
    }

    /// <summary>The value stored for <paramref name="key"/>, or 0.</summary>
    internal nint Lookup(ReadOnlySpan<char> key)
    {
        int hash = string.GetHashCode(key);
        int mask = _header->Mask;
        Entry* entries = _header->Entries;
        for (int slot = hash & mask; ; slot = (slot + 1) & mask)
        {
            Entry* entry = entries + slot;
            if (entry->Key == null)
            {
                return 0;
            }

            if (entry->Hash == hash && new ReadOnlySpan<char>(entry->Key, entry->KeyLength).SequenceEqual(key))
            {
                return entry->Value;
            }
        }
    }
}
