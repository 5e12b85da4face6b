using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The write-rare path: how bytes get into a read-only chunk while no mapping of it in this process is ever writable,
/// not even for a moment, so no other thread can race a window (Kees Cook's objection in the pmalloc thread). The
/// strategy <see cref="WriteRarePool"/> and the object cache hand to the base pool; one per pool.
/// </summary>
/// <remarks>
/// <para>While the pool is writable (and its chunks were not born read-only) a store is a plain CPU store. Afterwards:</para>
/// <list type="bullet">
/// <item><see cref="Write"/>, <see cref="Fill"/> and destroy's wipe write through the chunk's memfd (<c>pwrite</c> at the
/// target's offset): the kernel writes the page itself, as XNU writes its read-only zones through the physical aperture.
/// Not atomic: <c>pwrite</c> copies bytes in whatever order the kernel's copy routine uses.</item>
/// <item><see cref="Publish"/>, <see cref="Add"/> and <see cref="CompareExchange"/> must be single-copy atomic to
/// lock-free readers, which <c>pwrite</c> does not promise (on x86-64 CPUs with FSRM the kernel copies with <c>rep movsb</c>):
/// they go to the writer process (<see cref="OsWriter"/>), which holds the only writable mapping, in its own address
/// space, and does each with one atomic instruction.</item>
/// <item>Secret memory (<c>memfd_secret</c>) takes no <c>pwrite</c>, and a Windows section no write but through a view:
/// all their writes go to the writer process (<see cref="ChunkMapping.WritesThroughWriter"/>), destroy's wipe included.</item>
/// </list>
/// <para>The writer maps a chunk on the first call that needs it (<see cref="_registrations"/>) and unmaps it when the
/// pool is made read-only or destroyed, or the chunk is unmapped (<see cref="Release"/>).</para>
/// <para>Callers hold the pool's lock and have checked the target range: the lock is what keeps <c>Dispose</c> from
/// closing the backing in the middle of a write (and the <see cref="SafeFdHandle"/> keeps its number from being reused).</para>
/// </remarks>
internal sealed unsafe class BackingWritePath : WritePath
{
    private readonly bool _bornReadOnly;

    /// <summary>The chunks the writer process has mapped for this pool. Under the pool's lock.</summary>
    private readonly Dictionary<Chunk, WriterRegistration> _registrations = [];

    internal BackingWritePath(bool chunksBornReadOnly)
    {
        Debug.Assert(sizeof(nint) == sizeof(long), "the writer's atomic operations are 8 bytes wide");
        _bornReadOnly = chunksBornReadOnly;
    }

    internal override bool ChunksBornReadOnly => _bornReadOnly;

    internal override bool WritesAfterProtect => true;

    /// <summary>How many chunks of this pool the writer process has mapped now (for tests).</summary>
    internal int RegisteredChunks => _registrations.Count;

    internal override OsResult Write(Chunk chunk, nint target, ReadOnlySpan<byte> source, bool readOnly)
    {
        if (!readOnly)
        {
            source.CopyTo(new Span<byte>((void*)target, source.Length));
            return OsResult.Ok;
        }

        fixed (byte* s = source)
        {
            if (!chunk.Mapping.WritesThroughWriter)
            {
                return OsMemory.TryWriteBacking(chunk.Mapping, OffsetOf(chunk, target), s, (nuint)source.Length);
            }

            OsResult registered = TryRegistration(chunk, out WriterRegistration? registration);
            return registered.Failed ? registered : Checked(chunk, OsWriter.TryWrite(registration!, OffsetOf(chunk, target), s, (nuint)source.Length));
        }
    }

    internal override OsResult Fill(Chunk chunk, nint target, byte value, nuint length, bool readOnly)
    {
        if (!readOnly)
        {
            NativeMemory.Fill((void*)target, length, value);
            return OsResult.Ok;
        }

        nuint offset = OffsetOf(chunk, target);
        if (chunk.Mapping.WritesThroughWriter)
        {
            OsResult registered = TryRegistration(chunk, out WriterRegistration? registration);
            return registered.Failed ? registered : Checked(chunk, OsWriter.TryFill(registration!, offset, value, length));
        }

        const int BufferSize = 4096;
        byte* buffer = stackalloc byte[BufferSize];
        new Span<byte>(buffer, BufferSize).Fill(value);
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

        OsResult registered = TryRegistration(chunk, out WriterRegistration? registration);
        return registered.Failed ? registered : Checked(chunk, OsWriter.TryStore(registration!, OffsetOf(chunk, slot), value));
    }

    /// <summary>Adds <paramref name="delta"/> to the aligned 8 bytes at <paramref name="target"/> atomically; <paramref name="result"/> is the new value.</summary>
    internal OsResult Add(Chunk chunk, nint target, long delta, bool readOnly, out long result)
    {
        if (!readOnly)
        {
            result = Interlocked.Add(ref *(long*)target, delta);
            return OsResult.Ok;
        }

        result = 0;
        OsResult registered = TryRegistration(chunk, out WriterRegistration? registration);
        return registered.Failed ? registered : Checked(chunk, OsWriter.TryAdd(registration!, OffsetOf(chunk, target), delta, out result));
    }

    /// <summary>Compare-exchange of the aligned 8 bytes at <paramref name="target"/>; <paramref name="original"/> is what they held.</summary>
    internal OsResult CompareExchange(Chunk chunk, nint target, long value, long comparand, bool readOnly, out long original)
    {
        if (!readOnly)
        {
            original = Interlocked.CompareExchange(ref *(long*)target, value, comparand);
            return OsResult.Ok;
        }

        original = 0;
        OsResult registered = TryRegistration(chunk, out WriterRegistration? registration);
        return registered.Failed ? registered : Checked(chunk, OsWriter.TryCompareExchange(registration!, OffsetOf(chunk, target), value, comparand, out original));
    }

    /// <summary>
    /// Destroy's wipe of a read-only chunk that takes no holes (<see cref="ChunkMapping.TakesHoles"/>: secret memory, and
    /// every chunk on Windows): the writer process zeroes it, so no writable mapping of it is made in this process. A
    /// failure (no writer executable) is returned: the pool decides what else to do.
    /// </summary>
    internal override OsResult WipeThroughWriter(Chunk chunk, nuint length)
    {
        System.Diagnostics.Debug.Assert(!chunk.Mapping.TakesHoles);
        OsResult result = TryRegistration(chunk, out WriterRegistration? registration);
        return result.Failed ? result : OsWriter.TryFill(registration!, 0, 0, length);
    }

    internal override void Release(Chunk chunk)
    {
        if (_registrations.Remove(chunk, out WriterRegistration? registration))
        {
            OsWriter.Unregister(registration);
        }
    }

    /// <summary>The writer unmaps every chunk of this pool (MakeReadOnly, Dispose).</summary>
    internal void ReleaseAll()
    {
        foreach (WriterRegistration registration in _registrations.Values)
        {
            OsWriter.Unregister(registration);
        }

        _registrations.Clear();
    }

    /// <summary>The writer's mapping of <paramref name="chunk"/>, made now if there is none or the writer that made it is gone.</summary>
    private OsResult TryRegistration(Chunk chunk, out WriterRegistration? registration)
    {
        if (_registrations.TryGetValue(chunk, out registration) && OsWriter.IsLive(registration))
        {
            return OsResult.Ok;
        }

        _ = _registrations.Remove(chunk);
        OsResult result = OsWriter.TryRegister(chunk.Mapping, out registration);
        if (!result.Failed)
        {
            _registrations.Add(chunk, registration!);
        }

        return result;
    }

    /// <summary>After a failed writer call, forgets the chunk's registration if the writer is gone, so the next call starts another.</summary>
    private OsResult Checked(Chunk chunk, OsResult result)
    {
        if (result.Failed && _registrations.TryGetValue(chunk, out WriterRegistration? registration) && !OsWriter.IsLive(registration))
        {
            _ = _registrations.Remove(chunk);
        }

        return result;
    }

    private static nuint OffsetOf(Chunk chunk, nint address)
    {
        Debug.Assert(chunk.Contains(address));
        return (nuint)(address - chunk.Start);
    }
}
