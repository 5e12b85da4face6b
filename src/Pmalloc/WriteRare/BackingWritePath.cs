using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The write-rare path: how bytes get into a read-only chunk without its public mapping ever becoming writable, not even
/// for a moment, so no other thread can race a window (Kees Cook's objection in the pmalloc thread). The strategy
/// <see cref="WriteRarePool"/> and the object cache hand to the base pool.
/// </summary>
/// <remarks>
/// <para>While the pool is writable (and its chunks were not born read-only) a store is a plain CPU store. Afterwards:</para>
/// <list type="bullet">
/// <item><see cref="Write"/> and <see cref="Fill"/> write through the chunk's backing (<c>pwrite</c> at the target's
/// offset): the kernel writes the page itself, as XNU writes its read-only zones through the physical aperture.</item>
/// <item><see cref="Publish"/> needs one atomic store, which <c>pwrite</c> does not promise: it maps a private writable
/// alias of the one page that holds the slot at an address the kernel chooses, stores, and unmaps before returning.</item>
/// </list>
/// <para>Callers hold the pool's lock and have checked the target range: the lock is what keeps <c>Dispose</c> from
/// closing the backing in the middle of a write (and the <see cref="SafeFdHandle"/> keeps its number from being reused).</para>
/// </remarks>
internal sealed unsafe class BackingWritePath : WritePath
{
    private readonly bool _bornReadOnly;

    internal BackingWritePath(bool chunksBornReadOnly) => _bornReadOnly = chunksBornReadOnly;

    internal override bool ChunksBornReadOnly => _bornReadOnly;

    internal override bool WritesAfterProtect => true;

    internal override OsResult Write(Chunk chunk, nint target, ReadOnlySpan<byte> source, bool readOnly)
    {
        if (!readOnly)
        {
            source.CopyTo(new Span<byte>((void*)target, source.Length));
            return OsResult.Ok;
        }

        fixed (byte* s = source)
        {
            return OsMemory.TryWriteBacking(chunk.Mapping, OffsetOf(chunk, target), s, (nuint)source.Length);
        }
    }

    internal override OsResult Fill(Chunk chunk, nint target, byte value, nuint length, bool readOnly)
    {
        if (!readOnly)
        {
            NativeMemory.Fill((void*)target, length, value);
            return OsResult.Ok;
        }

        const int BufferSize = 4096;
        byte* buffer = stackalloc byte[BufferSize];
        new Span<byte>(buffer, BufferSize).Fill(value);
        nuint offset = OffsetOf(chunk, target);
        while (length > 0)
        {
            nuint piece = Math.Min(length, BufferSize);
            OsResult result = OsMemory.TryWriteBacking(chunk.Mapping, offset, buffer, piece);
            if (result.Failed)
            {
                return result;
            }

            offset += piece;
            length -= piece;
        }

        return OsResult.Ok;
    }

    internal override OsResult Publish(Chunk chunk, nint slot, nint value, bool readOnly)
    {
        if (!readOnly)
        {
            Volatile.Write(ref *(nint*)slot, value);
            return OsResult.Ok;
        }

        Debug.Assert(slot % sizeof(nint) == 0, "an aligned slot never crosses a page");
        nuint page = (nuint)OsMemory.PageSize;
        nuint offset = OffsetOf(chunk, slot);
        nuint pageOffset = offset & ~(page - 1);
        OsResult mapped = OsMemory.TryMapAlias(chunk.Mapping, pageOffset, page, out nint alias);
        if (mapped.Failed)
        {
            return mapped;
        }

        Volatile.Write(ref *(nint*)(alias + (nint)(offset - pageOffset)), value);
        OsMemory.UnmapAlias(alias, page);
        return OsResult.Ok;
    }

    private static nuint OffsetOf(Chunk chunk, nint address)
    {
        Debug.Assert(chunk.Contains(address));
        return (nuint)(address - chunk.Start);
    }
}
