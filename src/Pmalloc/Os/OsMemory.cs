namespace Pmalloc;

/// <summary>
/// The OS memory contract: everything the pools need from the operating system, stated once here and implemented
/// once per OS: <see cref="LinuxMemory"/> (<c>OsMemory.Linux.cs</c>) and <see cref="WindowsMemory"/>
/// (<c>OsMemory.Windows.cs</c>). It maps a chunk (backed by a memory file, with guard pages), protects it read-only,
/// seals it, writes through the backing, wipes (holes punched where the OS has them) and unmaps.
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
/// the chunk), and the mapping is one this layer made and has not unmapped. On Linux a pool's chunks are ranges of one
/// memory file (<see cref="PoolBacking"/>), except secret chunks, which have one each; on Windows every chunk has a section
/// of its own and <see cref="PoolBacking"/> only names it. The pool guarantees it; debug builds assert it.</para>
/// <para><b>Errors:</b> one style. A method that can fail returns an <see cref="OsResult"/> (an errno on Linux, a Win32
/// error on Windows, plus what was attempted) and leaves nothing behind on failure; it never throws and knows no pool. The
/// pool layer turns the result into an exception that names the pool and the address.</para>
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
    /// Maps a new chunk of <paramref name="length"/> bytes with an inaccessible guard page on each side, locked and excluded
    /// from core dumps, and read-only from birth, as <paramref name="flags"/> ask. Linux: the next range of the pool's memory
    /// file <paramref name="backing"/> (opened here with the pool's first chunk, named <c>pmalloc:NAME</c>), or a fresh
    /// secret memory file; refused while the process is near <c>vm.max_map_count</c> (<see cref="MappingBudget"/>).
    /// Windows: an unnamed section of its own, backed by the paging file. On failure nothing is left behind: no mapping, no
    /// descriptor, no growth of the file. <paramref name="prefault"/> is how many bytes at the chunk's start the caller
    /// writes at once (0 for none): Linux makes their pages present in the same step (<c>MADV_POPULATE_WRITE</c>), which
    /// costs less than the page fault of the first store; a failure there is not one of the call (the store faults as usual).
    /// </summary>
    internal static OsResult TryMap(PoolBacking backing, nuint length, ChunkFlags flags, nuint prefault, out ChunkMapping? mapping) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryMap(backing, length, flags, out mapping) : LinuxMemory.TryMap(backing, length, flags, prefault, out mapping);

    /// <summary>Makes the usable part of <paramref name="mapping"/> read-only, or read-write again (only to undo a failed protect, or to wipe in destroy).</summary>
    internal static OsResult TryProtect(ChunkMapping mapping, bool writable) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryProtect(mapping, writable) : LinuxMemory.TryProtect(mapping, writable);

    /// <summary>Seals the whole reservation, guard pages included: it can never be unmapped, remapped or made writable again.</summary>
    internal static OsResult TrySealMapping(ChunkMapping mapping) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TrySealMapping(mapping) : LinuxMemory.TrySealMapping(mapping);

    /// <summary>
    /// Before a write-once pool's final seal: maps every chunk of the pool's memory file again, over the same ranges and
    /// pages, from a read-only descriptor of the file, so that the pool holds no mapping that could ever be made writable.
    /// Its final seal can then ask the kernel to prove that no writable mapping of the file is left anywhere (see
    /// <see cref="TrySealBacking"/>). Fails, leaving the final seal as it always was, where <c>/proc</c> cannot reopen the
    /// file; does nothing on Windows, which has no sealing.
    /// </summary>
    internal static OsResult TryDropWriteAccess(PoolBacking backing, IReadOnlyList<ChunkMapping> mappings) =>
        OperatingSystem.IsWindows() ? OsResult.Ok : LinuxMemory.TryDropWriteAccess(backing, mappings);

    /// <summary>
    /// Seals the chunk's backing: its size always; with <paramref name="final"/> also every later write and writable mapping
    /// of it, and every hole punched; after <see cref="TryDropWriteAccess"/>, also <c>F_SEAL_WRITE</c>, which proves that no
    /// writable mapping of the file is left anywhere (one that is, someone else's, sets
    /// <see cref="PoolBacking.WritableElsewhere"/>). The pool's memory file is shared by its chunks, so the first chunk's call seals it for
    /// all of them and the others find it done. (A secret backing, which takes no seals, is closed instead: closing its only
    /// descriptor is its seal.) Windows has no sealing: it fails there.
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
    /// Gives the pages of [<paramref name="offset"/>, +<paramref name="length"/>) of the chunk back to the kernel through
    /// its backing (a hole punched in the memory file): every mapping of them reads zeros afterwards, and pages never
    /// touched are never committed. Fails where the backing is closed, write-sealed or secret (it takes no holes), and on
    /// Windows (<see cref="ChunkMapping.TakesHoles"/>).
    /// </summary>
    internal static OsResult TryPunch(ChunkMapping mapping, nuint offset, nuint length) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryPunch(mapping, offset, length) : LinuxMemory.TryPunch(mapping, offset, length);

    /// <summary>
    /// Gives the pages of [<paramref name="offset"/>, +<paramref name="length"/>) of the chunk back to the kernel through its
    /// mapping (<c>MADV_REMOVE</c>: a hole punched without a descriptor), for destroy's wipe of a chunk whose backing is
    /// closed. Works on a read-only mapping where the kernel allows it (Linux 6.7+) and fails with EACCES where it does not;
    /// unlocks a locked chunk first (the kernel refuses locked ranges). Fails on secret memory and a write-sealed backing,
    /// and on Windows (<see cref="ChunkMapping.TakesHoles"/>).
    /// </summary>
    internal static OsResult TryRemove(ChunkMapping mapping, nuint offset, nuint length) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryRemove(mapping, offset, length) : LinuxMemory.TryRemove(mapping, offset, length);

    /// <summary>
    /// Windows only: zeroes the first <paramref name="length"/> bytes of the chunk through a second, writable view of its
    /// section, mapped for the moment of the wipe and unmapped at once (never the public view, whose protection is left
    /// alone): destroy's wipe of a protected write-once pool, whose section takes no hole. Fails where the section is closed.
    /// </summary>
    internal static OsResult TryZeroThroughSection(ChunkMapping mapping, nuint length) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryZeroThroughSection(mapping, length) : OsResult.Fail(Interop.Errno.ENOSYS, "MapViewOfFile", "zero a chunk through a second view (Windows only)");

    /// <summary>
    /// Punches the whole memory file out (destroy's wipe of every chunk at once, in one call): only where it is open and
    /// not write-sealed; else does nothing and returns false. Always false on Windows.
    /// </summary>
    internal static bool TryPunchAll(PoolBacking backing) =>
        !OperatingSystem.IsWindows() && LinuxMemory.TryPunchAll(backing);

    /// <summary>Closes the backing; the mapping keeps the memory alive until it is unmapped. Waits for writes in flight.
    /// For a chunk of the pool's memory file this closes the file for every chunk.</summary>
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

    /// <summary>Closes the pool's memory file (if it was opened); the mappings keep the memory alive until they are unmapped.
    /// Windows opens none (each chunk's section is its own: <see cref="CloseBacking(ChunkMapping)"/>).</summary>
    internal static void CloseBacking(PoolBacking backing)
    {
        if (!OperatingSystem.IsWindows())
        {
            LinuxMemory.CloseBacking(backing);
        }
    }

    /// <summary>Unmaps the pool's spare mapping (an emptied chunk's, kept for reuse by <see cref="Unmap"/>), if it has one: at Protect, which frees no chunk again. Linux only; nothing to do on Windows.</summary>
    internal static void DropSpare(PoolBacking backing)
    {
        if (!OperatingSystem.IsWindows())
        {
            LinuxMemory.DropSpare(backing);
        }
    }

    /// <summary>
    /// Unmaps the whole reservation (guard pages included), gives its VMAs back to the budget, and closes a secret chunk's
    /// own backing (on Windows: the chunk's section). With <paramref name="punch"/> the chunk's range of the pool's memory
    /// file is punched out too (its pages go back to the kernel now, not when the file closes); on Linux the pool may then keep
    /// the mapping, inaccessible, as its one spare for the next chunk of the same length (<see cref="DropSpare"/>). Not for a
    /// sealed mapping.
    /// </summary>
    internal static void Unmap(ChunkMapping mapping, bool punch)
    {
        if (OperatingSystem.IsWindows())
        {
            WindowsMemory.Unmap(mapping);
        }
        else
        {
            LinuxMemory.Unmap(mapping, punch);
        }
    }

    /// <summary>
    /// The calling thread's stack: [<paramref name="low"/>, +<paramref name="size"/>). The stacks of live threads never
    /// overlap, so an address on it tells the thread apart without thread-local storage (the pool lock's bias). False if
    /// it cannot be known.
    /// </summary>
    internal static bool TryGetThreadStack(out nuint low, out nuint size) =>
        OperatingSystem.IsWindows() ? WindowsMemory.TryGetThreadStack(out low, out size) : LinuxMemory.TryGetThreadStack(out low, out size);

    /// <summary>
    /// The current limit on locked memory, for messages: Linux's RLIMIT_MEMLOCK ("65536 bytes", "unlimited" or "unknown"),
    /// Windows' working-set minimum ("a working-set minimum of 204800 bytes").
    /// </summary>
    internal static string LockedMemoryLimit() =>
        OperatingSystem.IsWindows() ? WindowsMemory.LockedMemoryLimit() : LinuxMemory.LockedMemoryLimit();

    /// <summary>Is <paramref name="result"/> the failure of locking memory over the process's limit?</summary>
    internal static bool IsLockedMemoryLimit(OsResult result) =>
        OperatingSystem.IsWindows() ? WindowsMemory.IsLockedMemoryLimit(result) : LinuxMemory.IsLockedMemoryLimit(result);

    /// <summary>The current limit on open descriptors, for messages: "1024", "unlimited" or "unknown" (Linux's RLIMIT_NOFILE; Windows has none).</summary>
    internal static string DescriptorLimit() =>
        OperatingSystem.IsWindows() ? "unlimited" : LinuxMemory.DescriptorLimit();

    /// <summary>Is <paramref name="result"/> the refusal of a mapping near <c>vm.max_map_count</c> (<see cref="MappingBudget"/>, Linux)?</summary>
    internal static bool IsMappingLimit(OsResult result) => result.Call == "vm.max_map_count";

    /// <summary>Is <paramref name="result"/> the failure to open a file descriptor over the process's or the system's limit (Linux's EMFILE, ENFILE)?</summary>
    internal static bool IsDescriptorLimit(OsResult result) =>
        !OperatingSystem.IsWindows() && result.Errno is Interop.Errno.EMFILE or Interop.Errno.ENFILE;

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
