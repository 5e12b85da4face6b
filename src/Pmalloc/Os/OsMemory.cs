namespace Pmalloc;

/// <summary>
/// The OS memory contract: everything the pools need from the operating system, stated once here and implemented
/// once per OS (<c>OsMemory.Linux.cs</c>, chosen in the csproj). It maps a chunk (backed by a named memory file, with
/// guard pages), protects it read-only, seals it, writes through the backing, advises, wipes and unmaps.
/// </summary>
/// <remarks>
/// <para><b>Preconditions, for every method:</b> addresses are page-aligned, lengths are non-zero multiples of
/// <see cref="PageSize"/> (except <see cref="TryWriteBacking"/> and <see cref="Wipe"/>, which take any byte range inside
/// the chunk), and the mapping is one this layer made and has not unmapped. The pool guarantees it; debug builds assert it.</para>
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
    /// Maps a new chunk of <paramref name="length"/> bytes backed by a fresh memory file named
    /// <c>pmalloc:<paramref name="name"/></c> (or by secret memory), with an inaccessible guard page on each side,
    /// locked and excluded from core dumps, and read-only from birth, as <paramref name="flags"/> ask.
    /// On failure nothing is left behind.
    /// </summary>
    internal static partial OsResult TryMap(string name, nuint length, ChunkFlags flags, out ChunkMapping? mapping);

    /// <summary>Makes the usable part of <paramref name="mapping"/> read-only, or read-write again (only to undo a failed protect, or to wipe in destroy).</summary>
    internal static partial OsResult TryProtect(ChunkMapping mapping, bool writable);

    /// <summary>Seals the whole reservation, guard pages included: it can never be unmapped, remapped or made writable again.</summary>
    internal static partial OsResult TrySealMapping(ChunkMapping mapping);

    /// <summary>
    /// Seals the backing: its size always; with <paramref name="final"/> also every later write and writable mapping of it
    /// (a secret backing, which takes no seals, is closed instead: closing its only descriptor is its seal).
    /// </summary>
    internal static partial OsResult TrySealBacking(ChunkMapping mapping, bool final);

    /// <summary>
    /// Writes <paramref name="length"/> bytes at byte <paramref name="offset"/> of the chunk through its backing
    /// (<c>pwrite</c>), never through a writable mapping. Secret memory takes no <c>pwrite</c>: it fails there (its writes
    /// go through the writer process, <see cref="OsWriter"/>).
    /// </summary>
    internal static partial OsResult TryWriteBacking(ChunkMapping mapping, nuint offset, byte* source, nuint length);

    /// <summary>
    /// Zeroes the first <paramref name="length"/> bytes of the chunk through its backing, without a writable mapping and
    /// without committing pages that hold no data yet (destroy's wipe of read-only memory). Fails if the backing was
    /// closed, and for secret memory (which the kernel zeroes itself when it frees the pages).
    /// </summary>
    internal static partial OsResult TryZeroBacking(ChunkMapping mapping, nuint length);

    /// <summary>Closes the backing; the mapping keeps the memory alive until it is unmapped. Waits for writes in flight.</summary>
    internal static partial void CloseBacking(ChunkMapping mapping);

    /// <summary>Unmaps the whole reservation (guard pages included) and closes the backing. Not for a sealed mapping.</summary>
    internal static partial void Unmap(ChunkMapping mapping);

    /// <summary>The current limit on locked memory, for messages: "65536 bytes", "unlimited" or "unknown".</summary>
    internal static partial string LockedMemoryLimit();

    /// <summary>Is <paramref name="result"/> the failure of locking memory over the process's limit?</summary>
    internal static partial bool IsLockedMemoryLimit(OsResult result);

    [System.Diagnostics.Conditional("DEBUG")]
    private static void AssertPageMultiple(nuint length) =>
        System.Diagnostics.Debug.Assert(length != 0 && length % (nuint)PageSize == 0, "length must be a non-zero multiple of the page size");
}
