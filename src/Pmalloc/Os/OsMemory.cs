namespace Pmalloc;

/// <summary>
/// The OS memory contract: everything the pools need from the operating system, stated once here and implemented
/// once per OS: <see cref="LinuxMemory"/> (<c>OsMemory.Linux.cs</c>) and <see cref="WindowsMemory"/>
/// (<c>OsMemory.Windows.cs</c>). It maps a chunk (backed by a memory file, with guard pages), protects it read-only,
/// seals it, writes through the backing, advises, wipes and unmaps.
/// </summary>
/// <remarks>
/// <para><b>Which OS:</b> both implementations are compiled into the one assembly, and each method here hands the call to
/// one of them on <see cref="OperatingSystem.IsWindows"/>, which the JIT folds to a constant (each OS has its own
/// <c>System.Private.CoreLib</c>): the other branch is dropped from the machine code, so the dispatch costs nothing. One
/// assembly is right for every consumer: <c>dotnet test</c> on Linux, a <c>win-x64</c> publish (whose RuntimeIdentifier
/// the SDK does not pass on to a RID-agnostic library it references anyway) and a portable NuGet consumer.
/// <see cref="OsPlatform.EnsureSupported"/> has already refused every other OS, so "not Windows" means Linux.</para>
/// <para><b>Preconditions, for every method:</b> addresses are page-aligned, lengths are non-zero multiples of
/// <see cref="PageSize"/> (except <see cref="TryWriteBacking"/> and <see cref="Wipe"/>, which take any byte range inside
/// the chunk), and the mapping is one this layer made and has not unmapped. The pool guarantees it; debug builds assert it.</para>
/// <para><b>Errors:</b> one style. A method that can fail returns an <see cref="OsResult"/> (errno plus what was
/// attempted) and leaves nothing behind on failure; it never throws and knows no pool. The pool layer turns the result
/// into an exception that names the pool and the address.</para>
/// </remarks>
internal static unsafe class OsMemory
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
    /// Maps a new chunk of <paramref name="length"/> bytes backed by fresh memory of its own (Linux: a memfd named
    /// <c>pmalloc:<paramref name="name"/></c>, or secret memory; Windows: an unnamed section backed by the paging file),
    /// with an inaccessible guard page on each side,
    /// locked and excluded from core dumps, and read-only from birth, as <paramref name="flags"/> ask.
    /// On failure nothing is left behind.
    /// </summary>
    internal static OsResult TryMap(string name, nuint length, ChunkFlags flags, out ChunkMapping? mapping) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryMap(name, length, flags, out mapping) : LinuxMemory.TryMap(name, length, flags, out mapping);

    /// <summary>Makes the usable part of <paramref name="mapping"/> read-only, or read-write again (only to undo a failed protect, or to wipe in destroy).</summary>
    internal static OsResult TryProtect(ChunkMapping mapping, bool writable) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryProtect(mapping, writable) : LinuxMemory.TryProtect(mapping, writable);

    /// <summary>Seals the whole reservation, guard pages included: it can never be unmapped, remapped or made writable again.</summary>
    internal static OsResult TrySealMapping(ChunkMapping mapping) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TrySealMapping(mapping) : LinuxMemory.TrySealMapping(mapping);

    /// <summary>
    /// Seals the backing: its size always; with <paramref name="final"/> also every later write and writable mapping of it
    /// (a secret backing, which takes no seals, is closed instead: closing its only descriptor is its seal).
    /// </summary>
    internal static OsResult TrySealBacking(ChunkMapping mapping, bool final) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TrySealBacking(mapping, final) : LinuxMemory.TrySealBacking(mapping, final);

    /// <summary>
    /// Writes <paramref name="length"/> bytes at byte <paramref name="offset"/> of the chunk through its backing
    /// (Linux: <c>pwrite</c>), never through a writable mapping. Secret memory takes no <c>pwrite</c>, and a Windows section
    /// no write but through a mapping: it fails there (those writes go through the writer process, <see cref="OsWriter"/>;
    /// <see cref="ChunkMapping.WritesThroughWriter"/> says which).
    /// </summary>
    internal static OsResult TryWriteBacking(ChunkMapping mapping, nuint offset, byte* source, nuint length) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryWriteBacking(mapping, offset, source, length) : LinuxMemory.TryWriteBacking(mapping, offset, source, length);

    /// <summary>
    /// Zeroes the first <paramref name="length"/> bytes of the chunk through its backing, without a writable mapping of the
    /// public range and without committing pages that hold no data yet (destroy's wipe of read-only memory). Fails if the
    /// backing was closed, and for secret memory (which the kernel zeroes itself when it frees the pages). Windows has no
    /// write through the backing: there it maps a writable view of the section for the moment of the wipe (a write-rare
    /// pool's chunks are wiped by the writer process instead, see <c>BackingWritePath.WipeReadOnly</c>).
    /// </summary>
    internal static OsResult TryZeroBacking(ChunkMapping mapping, nuint length) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryZeroBacking(mapping, length) : LinuxMemory.TryZeroBacking(mapping, length);

    /// <summary>Closes the backing; the mapping keeps the memory alive until it is unmapped. Waits for writes in flight.</summary>
    internal static void CloseBacking(ChunkMapping mapping)
    {
        if (OperatingSystem.IsWindows())
        {
            WindowsMemory.CloseBacking(mapping);
        }
        else
        {
            LinuxMemory.CloseBacking(mapping);
        }
    }

    /// <summary>Unmaps the whole reservation (guard pages included) and closes the backing. Not for a sealed mapping.</summary>
    internal static void Unmap(ChunkMapping mapping)
    {
        if (OperatingSystem.IsWindows())
        {
            WindowsMemory.Unmap(mapping);
        }
        else
        {
            LinuxMemory.Unmap(mapping);
        }
    }

    /// <summary>
    /// The current limit on locked memory, for messages: Linux's RLIMIT_MEMLOCK ("65536 bytes", "unlimited" or "unknown"),
    /// Windows' working-set minimum ("a working-set minimum of 204800 bytes").
    /// </summary>
    internal static string LockedMemoryLimit() =>
        OperatingSystem.IsWindows() ? WindowsMemory.LockedMemoryLimit() : LinuxMemory.LockedMemoryLimit();

    /// <summary>Is <paramref name="result"/> the failure of locking memory over the process's limit?</summary>
    internal static bool IsLockedMemoryLimit(OsResult result) =>
        OperatingSystem.IsWindows() ? WindowsMemory.IsLockedMemoryLimit(result) : LinuxMemory.IsLockedMemoryLimit(result);

    /// <summary>The symbolic name of the code in an <see cref="OsResult"/>: an errno name on Linux (<c>ENOMEM</c>), a Win32 error name on Windows (<c>ERROR_COMMITMENT_LIMIT</c>).</summary>
    internal static string ErrorName(int code) =>
        OperatingSystem.IsWindows() ? Interop.Kernel32.ErrorName(code) : Interop.ErrnoName(code);

    /// <summary>What kind of failure <paramref name="result"/> is, which decides the type of the exception the pool layer makes of it.</summary>
    internal static OsErrorKind KindOf(OsResult result) =>
        OperatingSystem.IsWindows() ? WindowsMemory.KindOf(result) : LinuxMemory.KindOf(result);

    /// <summary>Checks the contract's length precondition in debug builds.</summary>
    [System.Diagnostics.Conditional("DEBUG")]
    internal static void AssertPageMultiple(nuint length) =>
        System.Diagnostics.Debug.Assert(length != 0 && length % (nuint)PageSize == 0, "length must be a non-zero multiple of the page size");
}
