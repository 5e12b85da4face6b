using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// Growable scratch memory for a write batch: its pending bytes, and the runs it assembles at a flush, which hold copies
/// of pool data. It carries the pool's hardening (left out of core dumps, locked, as the pool asks: <see cref="OsScratch"/>),
/// and is wiped when reset, when it grows and when it is freed. Used under the pool's lock.
/// </summary>
internal sealed unsafe class BatchBuffer : IDisposable
{
    private const ChunkFlags HardeningFlags = ChunkFlags.ExcludeFromCoreDumps | ChunkFlags.LockInMemory | ChunkFlags.SecretMemory;

    private readonly ChunkFlags _hardening;
    private byte* _memory;
    private nuint _capacity;

    internal BatchBuffer(ChunkFlags poolFlags) => _hardening = poolFlags & HardeningFlags;

    /// <summary>Bytes in use, from the start.</summary>
    internal nuint Used { get; private set; }

    /// <summary>The byte at <paramref name="offset"/>; valid until the next <see cref="TryReserve"/>.</summary>
    internal byte* At(nuint offset) => _memory + offset;

    /// <summary>Makes room for <paramref name="bytes"/> more and returns their offset (the memory may move).</summary>
    internal OsResult TryReserve(nuint bytes, out nuint offset)
    {
        offset = Used;
        nuint needed = checked(Used + bytes);
        if (needed > _capacity)
        {
            OsResult grown = TryGrow(needed);
            if (grown.Failed)
            {
                return grown;
            }
        }

        Used = needed;
        return OsResult.Ok;
    }

    /// <summary>Wipes what was used and starts over; the memory is kept for the next batch.</summary>
    internal void Reset()
    {
        NativeMemory.Clear(_memory, Used);
        Used = 0;
    }

    /// <summary>Wipes and frees the memory.</summary>
    public void Dispose()
    {
        Free(_memory, _capacity, Used);
        _memory = null;
        _capacity = Used = 0;
    }

    private OsResult TryGrow(nuint needed)
    {
        nuint capacity = OsMemory.RoundUpToPages(Math.Max(needed, _capacity * 2));
        byte* memory;
        if (_hardening == ChunkFlags.None)
        {
            memory = (byte*)NativeMemory.AllocZeroed(capacity);
        }
        else
        {
            OsResult mapped = OsScratch.TryMap(capacity, _hardening, out nint address);
            if (mapped.Failed)
            {
                return mapped;
            }

            memory = (byte*)address;
        }

        Buffer.MemoryCopy(_memory, memory, capacity, Used);
        Free(_memory, _capacity, Used);
        _memory = memory;
        _capacity = capacity;
        return OsResult.Ok;
    }

    private void Free(byte* memory, nuint capacity, nuint used)
    {
        if (memory == null)
        {
            return;
        }

        NativeMemory.Clear(memory, used);
        if (_hardening == ChunkFlags.None)
        {
            NativeMemory.Free(memory);
        }
        else
        {
            OsScratch.Unmap((nint)memory, capacity);
        }
    }
}
