using System.Diagnostics.CodeAnalysis;

namespace Pmalloc;

/// <summary>The usercopy checks' and sealing's exceptions (<see cref="ProtectedMemory"/>).</summary>
internal static partial class ThrowHelper
{
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
}
