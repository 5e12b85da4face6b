using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// How a pool kind stores bytes into its chunks: the strategy each subclass hands to <see cref="ProtectablePool"/>.
/// The base pool asks it only to wipe (on <c>Free</c>) and how to map and seal; the write-rare calls use the rest.
/// </summary>
/// <remarks>
/// <see cref="PlainStores"/> (write-once pools) stores with the CPU while the pool is writable and never writes
/// read-only memory. <c>BackingWritePath</c> (write-rare pools, the object cache) writes read-only memory only through
/// the chunk's backing, never through a writable mapping of the public range.
/// </remarks>
internal abstract unsafe class WritePath
{
    /// <summary>The write-once pools' path: plain stores, and only while the memory is writable.</summary>
    internal static readonly WritePath PlainStores = new PlainStoresPath();

    /// <summary>Map every chunk read-only from birth: every store, wipes included, goes through <see cref="Write"/> and <see cref="Fill"/>.</summary>
    internal virtual bool ChunksBornReadOnly => false;

    /// <summary>Protect leaves the backing open and writable, because this path still writes read-only memory afterwards.</summary>
    internal virtual bool WritesAfterProtect => false;

    /// <summary>Copies <paramref name="source"/> (which does not overlap the target) to <paramref name="target"/>, inside <paramref name="chunk"/>.</summary>
    internal abstract OsResult Write(Chunk chunk, nint target, ReadOnlySpan<byte> source, bool readOnly);

    /// <summary>Sets <paramref name="length"/> bytes at <paramref name="target"/>, inside <paramref name="chunk"/>, to <paramref name="value"/>.</summary>
    internal abstract OsResult Fill(Chunk chunk, nint target, byte value, nuint length, bool readOnly);

    /// <summary>One atomic, release-ordered pointer store at the aligned <paramref name="slot"/>.</summary>
    internal abstract OsResult Publish(Chunk chunk, nint slot, nint value, bool readOnly);

    /// <summary>
    /// Destroy's wipe of the first <paramref name="length"/> bytes of a read-only chunk that takes no holes (secret memory;
    /// every chunk on Windows), without a writable mapping in this process. Only the write-rare path can (through the writer
    /// process); others fail.
    /// </summary>
    internal virtual OsResult WipeThroughWriter(Chunk chunk, nuint length) =>
        OsResult.Fail(Interop.Errno.EOPNOTSUPP, "write", "zero read-only secret memory");

    /// <summary>The chunk is about to be unmapped (or forgotten, if sealed): drop whatever the path holds for it.</summary>
    internal virtual void Release(Chunk chunk)
    {
    }

    /// <summary>Plain stores only: asking it to write read-only memory is a bug in the caller.</summary>
    private sealed class PlainStoresPath : WritePath
    {
        internal override OsResult Write(Chunk chunk, nint target, ReadOnlySpan<byte> source, bool readOnly)
        {
            System.Diagnostics.Debug.Assert(!readOnly, "a write-once pool never writes read-only memory");
            source.CopyTo(new Span<byte>((void*)target, source.Length));
            return OsResult.Ok;
        }

        internal override OsResult Fill(Chunk chunk, nint target, byte value, nuint length, bool readOnly)
        {
            System.Diagnostics.Debug.Assert(!readOnly, "a write-once pool never writes read-only memory");
            NativeMemory.Fill((void*)target, length, value);
            return OsResult.Ok;
        }

        internal override OsResult Publish(Chunk chunk, nint slot, nint value, bool readOnly)
        {
            System.Diagnostics.Debug.Assert(!readOnly, "a write-once pool never writes read-only memory");
            Volatile.Write(ref *(nint*)slot, value);
            return OsResult.Ok;
        }
    }
}
