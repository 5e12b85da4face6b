using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc.Cli;

/// <summary>The protected-collection cases: writes into a dictionary's values, strings and hash table.</summary>
internal static unsafe partial class Attacks
{
    static partial void AddCollectionCases(Action<Attack> add)
    {
        add(new("collection-write", "write a ProtectedDictionary value through its ref readonly", Outcome.AccessViolation, () =>
        {
            using ProtectedDictionary<int, long> rights = new Dictionary<int, long> { [1000] = 0x1, [0] = 0x7FFF }.ToProtectedDictionary();
            ref readonly long guest = ref rights.GetValueRefOrNullRef(1000);
            Ready();
            Unsafe.AsRef(in guest) = 0x7FFF;
        }));
        add(new("collection-string-write", "write a ProtectedString value through its span", Outcome.AccessViolation, () =>
        {
            using ProtectedDictionary<ProtectedString, ProtectedString> roles = new Dictionary<string, string> { ["alice"] = "reader" }.ToProtectedDictionary();
            ReadOnlySpan<char> role = roles["alice"].AsSpan();
            Ready();
            MemoryMarshal.GetReference(role) = 'W';
        }));
        add(new("collection-table-write", "redirect a ProtectedSet lookup by writing its hash table", Outcome.AccessViolation, () =>
        {
            using ProtectedSet<ProtectedString> banned = new[] { "mallory" }.ToProtectedSet();
            int* count = TableCount(banned);
            Ready();
            *count = 0;
        }));
    }

    /// <summary>
    /// The entry count of a set's hash table: the table is one pool allocation that holds its keys' text too, and begins
    /// with the count. Found from a key's address with <see cref="ProtectedMemory.TryGetAllocation"/>, checked by value.
    /// </summary>
    private static int* TableCount(ProtectedSet<ProtectedString> set)
    {
        nint key;
        fixed (char* text = set[0].AsSpan())
        {
            key = (nint)text;
        }

        if (!ProtectedMemory.TryGetAllocation(key, out AllocationInfo table) || *(int*)table.Start != set.Count)
        {
            throw new InvalidOperationException($"setup: the allocation holding the key at 0x{key:x} does not begin with the set's count");
        }

        return (int*)table.Start;
    }
}
