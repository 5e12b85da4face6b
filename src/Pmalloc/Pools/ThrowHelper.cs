using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// Every exception the library throws, in one place, so each message names the pool and the address,
/// and so hot methods stay small (the throws are not inlined into them). The OS layer throws nothing:
/// its failures (<see cref="OsResult"/>) become exceptions here, in <see cref="ForOs"/>.
/// </summary>
internal static class ThrowHelper
{
    internal static string Hex(nint address) => $"0x{address:x}";

    [DoesNotReturn]
    internal static void ThrowForState(string pool, PoolState state, string operation, nint address = 0)
    {
        string at = address == 0 ? "" : $" at {Hex(address)}";
        if (state == PoolState.Destroyed)
        {
            throw new ObjectDisposedException(pool, $"Pool '{pool}': cannot {operation}{at}: the pool was destroyed.");
        }

        throw new InvalidOperationException($"Pool '{pool}': cannot {operation}{at}: the pool is {state.ToString().ToLowerInvariant()} (read-only for good).");
    }

    /// <summary>The bitmaps of a new chunk could not be allocated (before anything was mapped).</summary>
    internal static OutOfMemoryException ChunkMetadataOutOfMemory(string pool, nuint length, OutOfMemoryException inner) =>
        new($"Pool '{pool}': cannot map a chunk of {length} bytes: its metadata (the allocation bitmaps, off the GC heap) " +
            "could not be allocated: the process is out of memory or of address space (RLIMIT_AS, 'ulimit -v'). Nothing was mapped.", inner);

    [DoesNotReturn]
    internal static void ThrowDestroyed(string pool, string operation) =>
        throw new ObjectDisposedException(pool, $"Pool '{pool}': cannot {operation}: the pool was destroyed.");

    [DoesNotReturn]
    internal static void ThrowBadSize(string pool, nuint size, long max) =>
        throw new ArgumentOutOfRangeException("size", size,
            $"Pool '{pool}': cannot allocate {size} bytes: the size must be between 1 and {max} bytes.");

    [DoesNotReturn]
    internal static void ThrowBadCount(string pool, long count, int elementSize) =>
        throw new ArgumentOutOfRangeException("count", count,
            $"Pool '{pool}': cannot allocate {count} elements of {elementSize} bytes: the count must be positive and count * size must fit in an allocation.");

    internal static ArgumentException NotOwned(string pool, string operation, nint address) =>
        new($"Pool '{pool}': cannot {operation} {Hex(address)}: the address is not in this pool.", "address");

    [DoesNotReturn]
    internal static void ThrowNotAllocated(string pool, string operation, nint address) =>
        throw new ArgumentException($"Pool '{pool}': cannot {operation} {Hex(address)}: no live allocation is there (never allocated, or already freed).", "address");

    [DoesNotReturn]
    internal static void ThrowInterior(string pool, string operation, nint address, AllocationInfo holder) =>
        throw new ArgumentException(
            $"Pool '{pool}': cannot {operation} {Hex(address)}: it points inside the allocation at {Hex(holder.Start)} ({holder.Size} bytes), not at its start.",
            "address");

    [DoesNotReturn]
    internal static void ThrowOutOfBounds(string pool, string operation, nint address, nuint length, AllocationInfo? holder)
    {
        string where = holder is { } h
            ? $"it crosses the end of the allocation at {Hex(h.Start)} ({h.Size} bytes)"
            : "it does not start in a live allocation";
        throw new ArgumentOutOfRangeException("length", length,
            $"Pool '{pool}': cannot {operation} {length} bytes at {Hex(address)}: {where}.");
    }

    [DoesNotReturn]
    internal static void ThrowMadeReadOnly(string pool, string operation, nint address)
    {
        string at = address == 0 ? "" : $" at {Hex(address)}";
        throw new InvalidOperationException($"Pool '{pool}': cannot {operation}{at}: the pool was made read-only for good (MakeReadOnly).");
    }

    [DoesNotReturn]
    internal static void ThrowBatchEnded(string pool, string operation, nint address) =>
        throw new ObjectDisposedException("WriteRareBatch", $"Pool '{pool}': cannot {operation} at {Hex(address)}: the write batch was disposed.");

    [DoesNotReturn]
    internal static void ThrowMisaligned(string pool, string operation, nint address, int alignment) =>
        throw new ArgumentException($"Pool '{pool}': cannot {operation} at {Hex(address)}: the slot is not aligned to {alignment} bytes, so one store there could tear.", "slot");

    [DoesNotReturn]
    internal static void ThrowBadCheckpoint(string pool, string why) =>
        throw new ArgumentException($"Pool '{pool}': cannot roll back: {why}.", "mark");

    [DoesNotReturn]
    internal static void ThrowBadOption(string option, object? value, string rule) =>
        throw new ArgumentException($"PoolOptions.{option} {rule}; got {value ?? "null"}.", "options");

    [DoesNotReturn]
    internal static void ThrowWraps(string? pool, string operation, nint address, nuint length) =>
        throw new ArgumentOutOfRangeException(nameof(length), length,
            $"{(pool is null ? "" : $"Pool '{pool}': ")}cannot {operation} {length} bytes at {Hex(address)}: the range wraps around the end of the address space.");

    [DoesNotReturn]
    internal static void ThrowOutsideChunk(string pool, string operation, nint address, nuint length, nint chunkStart, bool fromOutside)
    {
        if (fromOutside)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"Pool '{pool}': cannot {operation} {length} bytes at {Hex(address)}: the range starts outside the pool and runs into its chunk at {Hex(chunkStart)}.");
        }

        throw new ArgumentException(
            $"Pool '{pool}': cannot {operation} {length} bytes at {Hex(address)}: the range starts in a guard page of the chunk at {Hex(chunkStart)}.", "address");
    }

    [DoesNotReturn]
    internal static void ThrowPastEnd(string pool, string operation, nint address, AllocationInfo holder) =>
        throw new ArgumentException(
            $"Pool '{pool}': cannot {operation} at {Hex(address)}: no live allocation is there (it is past the end of the allocation at {Hex(holder.Start)}, {holder.Size} bytes).", "address");

    [DoesNotReturn]
    internal static void ThrowWriteProtected(string pool, nint address, nuint length, AllocationInfo holder)
    {
        string where = holder.Size == 0 ? "" : $" (the allocation at {Hex(holder.Start)}, {holder.Size} bytes)";
        throw new InvalidOperationException(
            $"Pool '{pool}': refusing to write {length} bytes at {Hex(address)}: the range touches protected memory{where}, read-only for good; writing it would stop the process.");
    }

    internal static ObjectDisposedException Retired(string pool, string operation, nint address, nuint length) =>
        new(pool,
            $"Pool '{pool}': cannot {operation} {length} bytes at {Hex(address)}: the pool was destroyed; its memory was sealed, so it stays mapped read-only until the process exits, but it holds no allocation.");

    [DoesNotReturn]
    internal static void ThrowUnsupported(string pool, string what) =>
        throw new PlatformNotSupportedException($"Pool '{pool}': {what}");

    internal static ObjectDisposedException CollectionDisposed(string collection, string pool, string kind) =>
        new(collection, $"Pool '{pool}': the protected {kind} was disposed, or its pool destroyed.");

    internal static ObjectDisposedException ProtectedStringDisposed(string pool, string kind, nint address) =>
        new(nameof(ProtectedString), $"Pool '{pool}': cannot read the protected string at {Hex(address)}: its {kind} was disposed, or its pool destroyed. Copy it out with ToString() while the {kind} is alive.");

    internal static NotSupportedException NoValueReference(string dictionary) =>
        new($"A {dictionary} keeps its string values as text in the pool, not as ProtectedString values, so it has no reference to hand out: use TryGetValue or the indexer.");

    internal static System.Text.Json.JsonException NotAJsonString(System.Text.Json.JsonTokenType token) =>
        new($"A ProtectedString is read from a JSON string, not from {token}.");

    internal static KeyNotFoundException KeyNotFound(string pool, string? key) =>
        new($"Pool '{pool}': the key {(key is null ? "" : key + " ")}is not in the protected dictionary.");

    internal static InvalidOperationException NoAlternateLookup(string dictionary, Type alternateKey) =>
        new($"A {dictionary} cannot be looked up by {alternateKey}: only string keys have alternate lookups (by ReadOnlySpan<char> or string).");

    internal static ArgumentNullException NullString(string pool, string what) => new("source", $"Pool '{pool}': {what}.");

    internal static ArgumentException DuplicateKey(string pool, string key) =>
        new($"Pool '{pool}': the key '{key}' appears more than once in the source; a protected dictionary's keys must be distinct.", "source");

    internal static ArgumentException UnsupportedComparer(object comparer) =>
        new($"The comparer {comparer} is not supported: protected collections compare strings with StringComparer.Ordinal or StringComparer.OrdinalIgnoreCase.", "comparer");

    internal static ArgumentOutOfRangeException CollectionTooLarge(string pool, int count, long bytes, long max) =>
        new("count", count, $"Pool '{pool}': a protected collection of {count} entries needs {bytes} bytes, more than one allocation can hold ({max}).");

    /// <summary>An expensive invariant check (<c>ValidateInvariants</c>, for tests) found the metadata inconsistent.</summary>
    internal static InvalidOperationException InvariantBroken(string message) => new(message);

    /// <summary>
    /// The exception for a failed OS call made for pool <paramref name="pool"/>: "Pool 'p': cannot map a chunk of 65536
    /// bytes at 0x...: mmap failed with ENOMEM (Cannot allocate memory)." Its type follows the errno.
    /// </summary>
    internal static Exception ForOs(string pool, OsResult result, nint address = 0)
    {
        string at = address == 0 ? "" : $" at {Hex(address)}";
        string error = $"{result.Call} failed with {OsMemory.ErrorName(result.Errno)} ({Marshal.GetPInvokeErrorMessage(result.Errno)})";
        if (OsMemory.IsLockedMemoryLimit(result))
        {
            string limit = OperatingSystem.IsWindows()
                ? $"the memory it may lock, which Windows bounds by its working-set size (now {OsMemory.LockedMemoryLimit()}; " +
                  "raise it with SetProcessWorkingSetSize(Ex) before the pool locks its chunks)"
                : $"RLIMIT_MEMLOCK (now {OsMemory.LockedMemoryLimit()}; see 'ulimit -l', LimitMEMLOCK= in systemd, or grant CAP_IPC_LOCK)";
            return new InsufficientMemoryException(
                $"Pool '{pool}': cannot {result.Attempt}{at}: {error}, which means the process would exceed {limit}. " +
                "Raise the limit, or make the pool smaller, or turn LockInMemory off.");
        }

        if (OsMemory.IsMappingLimit(result))
        {
            int count = MappingBudget.LastCount;
            return new InsufficientMemoryException(
                $"Pool '{pool}': cannot {result.Attempt}{at}: the process is near vm.max_map_count, the kernel's limit on its mappings " +
                $"({MappingBudget.Limit}; {(count < 0 ? "the current count is unknown" : $"{count} in use at the last count")}, {MappingBudget.Own} of them Pmalloc's). " +
                $"Pmalloc refuses new chunks while fewer than {MappingBudget.Reserve} would be left for the rest of the process (the runtime needs fresh mappings to keep running). " +
                "Dispose pools you no longer need, make fewer and larger pools (PoolOptions.ChunkSize), or raise the limit (sysctl vm.max_map_count).");
        }

        if (OsMemory.IsDescriptorLimit(result))
        {
            string which = result.Errno == Interop.Errno.EMFILE
                ? $"the process has as many open files as RLIMIT_NOFILE allows (now {OsMemory.DescriptorLimit()}; see 'ulimit -n', LimitNOFILE= in systemd)"
                : "the system-wide limit on open files is reached (fs.file-max)";
            return new IOException(
                $"Pool '{pool}': cannot {result.Attempt}{at}: {error}: {which}. A writable pool holds one descriptor (a write-rare pool until MakeReadOnly); " +
                "a protected write-once pool holds none. Raise the limit, protect or dispose pools you have filled, or use fewer pools.",
                result.Errno);
        }

        string message = $"Pool '{pool}': cannot {result.Attempt}{at}: {error}.";
        return OsMemory.KindOf(result) switch
        {
            OsErrorKind.OutOfMemory => new OutOfMemoryException(message),
            OsErrorKind.NotSupported => new PlatformNotSupportedException(message),
            OsErrorKind.Denied => new UnauthorizedAccessException(message),
            _ => new IOException(message, result.Errno),
        };
    }

    /// <summary>Throws the exception for a failed OS call (see <see cref="ForOs"/>).</summary>
    [DoesNotReturn]
    internal static void ThrowOs(string pool, OsResult result, nint address = 0) => throw ForOs(pool, result, address);

    [DoesNotReturn]
    internal static void ThrowPlatformNotSupported(string os, string architecture) =>
        throw new PlatformNotSupportedException(
            $"Pmalloc supports {OsPlatform.Supported}; this process runs on {os} ({architecture}). Protected pools need the OS's page protection and memory files, which the library implements only there.");
}
