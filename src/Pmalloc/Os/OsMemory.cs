namespace Pmalloc;

/// <summary>
/// The OS memory contract: everything the pools need from the operating system, stated once here and implemented
/// once per OS (<c>OsMemory.Linux.cs</c>, chosen in the csproj). It maps a chunk (backed by a named memory file, with
/// guard pages), protects it read-only, seals it, writes through the backing, advises, wipes and unmaps.
/// </summary>
/// <remarks>
/// <para><b>Preconditions, for every method:</b> addresses are page-aligned, lengths are non-zero multiples of
/// <see cref="PageSize"/> (except <see cref="TryWriteBacking"/> and <see cref="Wipe"/>, which take any byte range inside
/// the chunk), and the mapping is one this layer made and has not unmapped. A pool's chunks are ranges of one memory
/// file (<see cref="PoolBacking"/>), except secret chunks, which have one each. The pool guarantees it; debug builds assert it.</para>
/// <para><b>Errors:</b> one style. A method that can fail returns an <see cref="OsResult"/> (errno plus what was
/// attempted) and leaves nothing behind on failure; it never throws and knows no pool. The pool layer turns the result
/// into an exception that names the pool and the address.</para>
/// </remarks>
internal static unsafe partial class OsMemory
{
    /// <summary>The kernel's page size, the unit of protection.</summary>
    internal static readonly int PageSize = Environment.SystemPageSize;

    /// <summary>The prefix of every chunk's backing name; on Linux <c>/proc/PID/maps</c> shows <c>/memfd:pmalloc:NAME (deleted)</c>.</summary>
    internal const string BackingPrefix = "pmalloc:";

    /// <summary>Rounds <paramref name="bytes"/> up to a whole number of pages, or throws <see cref="OverflowException"/>.</summary>
    internal static nuint RoundUpToPages(nuint bytes)
    {
        nuint mask = (nuint)PageSize - 1;
        return checked(bytes + mask) & ~mask;
    }

    /// <summary>Overwrites <paramref name="length"/> bytes at <paramref name="address"/> with zeros (the range is writable).</summary>
    internal static void Wipe(nint address, nuint length)
    {
        // The stores cannot be elided: the memory is shared with a memory file and stays mapped after this call.
        System.Runtime.InteropServices.NativeMemory.Clear((void*)address, length);
    }

    /// <summary>
    /// Maps a new chunk of <paramref name="length"/> bytes as the next range of the pool's memory file
    /// <paramref name="backing"/> (opened here with the pool's first chunk, named <c>pmalloc:NAME</c>), or of a fresh
    /// secret memory file, with an inaccessible guard page on each side, locked and excluded from core dumps, and read-only
    /// from birth, as <paramref name="flags"/> ask. Refused while the process is near <c>vm.max_map_count</c>
    /// (<see cref="MappingBudget"/>). On failure nothing is left behind: no mapping, no descriptor, no growth of the file.
    /// </summary>
    internal static partial OsResult TryMap(PoolBacking backing, nuint length, ChunkFlags flags, out ChunkMapping? mapping);

    /// <summary>Makes the usable part of <paramref name="mapping"/> read-only, or read-write again (only to undo a failed protect, or to wipe in destroy).</summary>
    internal static partial OsResult TryProtect(ChunkMapping mapping, bool writable);

    /// <summary>Seals the whole reservation, guard pages included: it can never be unmapped, remapped or made writable again.</summary>
    internal static partial OsResult TrySealMapping(ChunkMapping mapping);

    /// <summary>
    /// Seals the chunk's backing: its size always; with <paramref name="final"/> also every later write and writable mapping
    /// of it, and every hole punched. The pool's memory file is shared by its chunks, so the first chunk's call seals it for
    /// all of them and the others find it done. (A secret backing, which takes no seals, is closed instead: closing its only
    /// descriptor is its seal.)
    /// </summary>
    internal static partial OsResult TrySealBacking(ChunkMapping mapping, bool final);

    /// <summary>
    /// Writes <paramref name="length"/> bytes at byte <paramref name="offset"/> of the chunk through its backing
    /// (<c>pwrite</c>), never through a writable mapping. Secret memory takes no <c>pwrite</c>: it fails there (its writes
    /// go through the writer process, <see cref="OsWriter"/>).
    /// </summary>
    internal static partial OsResult TryWriteBacking(ChunkMapping mapping, nuint offset, byte* source, nuint length);

    /// <summary>
    /// Gives the pages of [<paramref name="offset"/>, +<paramref name="length"/>) of the chunk back to the kernel through
    /// its backing (a hole punched in the memory file): every mapping of them reads zeros afterwards, and pages never
    /// touched are never committed. Fails where the backing is closed, write-sealed or secret (it takes no holes).
    /// </summary>
    internal static partial OsResult TryPunch(ChunkMapping mapping, nuint offset, nuint length);

    /// <summary>
    /// Gives the pages of [<paramref name="offset"/>, +<paramref name="length"/>) of the chunk back to the kernel through its
    /// mapping (<c>MADV_REMOVE</c>: a hole punched without a descriptor), for destroy's wipe of a chunk whose backing is
    /// closed. Works on a read-only mapping where the kernel allows it (Linux 6.7+) and fails with EACCES where it does not;
    /// unlocks a locked chunk first (the kernel refuses locked ranges). Fails on secret memory and a write-sealed backing.
    /// </summary>
    internal static partial OsResult TryRemove(ChunkMapping mapping, nuint offset, nuint length);

    /// <summary>
    /// Punches the whole memory file out (destroy's wipe of every chunk at once, in one call): only where it is open and
    /// not write-sealed; else does nothing and returns false.
    /// </summary>
    internal static partial bool TryPunchAll(PoolBacking backing);

    /// <summary>Closes the backing; the mapping keeps the memory alive until it is unmapped. Waits for writes in flight.
    /// For a chunk of the pool's memory file this closes the file for every chunk.</summary>
    internal static partial void CloseBacking(ChunkMapping mapping);

    /// <summary>Closes the pool's memory file (if it was opened); the mappings keep the memory alive until they are unmapped.</summary>
    internal static partial void CloseBacking(PoolBacking backing);

    /// <summary>
    /// Unmaps the whole reservation (guard pages included), gives its VMAs back to the budget, and closes a secret chunk's
    /// own backing. With <paramref name="punch"/> the chunk's range of the pool's memory file is punched out too (its pages
    /// go back to the kernel now, not when the file closes). Not for a sealed mapping.
    /// </summary>
    internal static partial void Unmap(ChunkMapping mapping, bool punch);

    /// <summary>
    /// The calling thread's stack: [<paramref name="low"/>, +<paramref name="size"/>). The stacks of live threads never
    /// overlap, so an address on it tells the thread apart without thread-local storage (the pool lock's bias). False if
    /// it cannot be known.
    /// </summary>
    internal static partial bool TryGetThreadStack(out nuint low, out nuint size);

    /// <summary>The current limit on locked memory, for messages: "65536 bytes", "unlimited" or "unknown".</summary>
    internal static partial string LockedMemoryLimit();

    /// <summary>Is <paramref name="result"/> the failure of locking memory over the process's limit?</summary>
    internal static partial bool IsLockedMemoryLimit(OsResult result);

    /// <summary>The current limit on open descriptors, for messages: "1024", "unlimited" or "unknown".</summary>
    internal static partial string DescriptorLimit();

    /// <summary>Is <paramref name="result"/> the refusal of a mapping near <c>vm.max_map_count</c> (<see cref="MappingBudget"/>)?</summary>
    internal static bool IsMappingLimit(OsResult result) => result.Call == "vm.max_map_count";

    [System.Diagnostics.Conditional("DEBUG")]
    private static void AssertPageMultiple(nuint length) =>
        System.Diagnostics.Debug.Assert(length != 0 && length % (nuint)PageSize == 0, "length must be a non-zero multiple of the page size");
}
