using System.Diagnostics.CodeAnalysis;

namespace Pmalloc;

/// <summary>
/// Every exception the pools throw, in one place, so each message names the pool and the address,
/// and so hot methods stay small (the throws are not inlined into them).
/// </summary>
internal static partial class ThrowHelper
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
}
