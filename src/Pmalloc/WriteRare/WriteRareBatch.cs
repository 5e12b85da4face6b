using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// Many write-rare writes to one <see cref="WriteRarePool"/> that share a private writable alias per touched chunk,
/// from <see cref="WriteRarePool.BeginWrites"/> until <see cref="Dispose"/>: a reload that updates many fields pays for
/// one <c>mmap</c>/<c>munmap</c> pair per chunk instead of one system call per write.
/// </summary>
/// <remarks>
/// Every write is checked like the pool's own (one live allocation of this pool, else an exception and nothing written).
/// The public mapping stays read-only; only the alias, at an address the kernel chose, is writable, and only until the
/// batch is disposed (or the pool is made read-only or destroyed, which end every open batch). Thread-safe: each call
/// takes the pool's lock. <see cref="Publish"/> through the alias is still one atomic, release-ordered store.
/// </remarks>
public sealed class WriteRareBatch : IDisposable
{
    private readonly BatchAliases _aliases = new();

    internal WriteRareBatch(WriteRarePool pool) => Pool = pool;

    /// <summary>The pool this batch writes to.</summary>
    public WriteRarePool Pool { get; }

    /// <summary>False once the batch was disposed, or ended by <see cref="WriteRarePool.MakeReadOnly"/> or the pool's Dispose. Read under the pool's lock.</summary>
    internal bool IsOpen { get; private set; } = true;

    /// <inheritdoc cref="WriteRarePool.Write{T}(ref readonly T, in T)"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public unsafe void Write<T>(ref readonly T target, in T value)
        where T : unmanaged => Pool.WriteChecked(this, (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in target)), MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    /// <inheritdoc cref="WriteRarePool.Write(nint, ReadOnlySpan{byte})"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public void Write(nint target, ReadOnlySpan<byte> source) => Pool.WriteChecked(this, target, source);

    /// <inheritdoc cref="WriteRarePool.Fill(nint, byte, nuint)"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public void Fill(nint target, byte value, nuint length) => Pool.FillChecked(this, target, value, length);

    /// <inheritdoc cref="WriteRarePool.Publish(ref readonly nint, nint)"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public unsafe void Publish(ref readonly nint slot, nint value) => Pool.PublishChecked(this, (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in slot)), value);

    /// <summary>Unmaps the batch's aliases. Later writes through the batch throw <see cref="ObjectDisposedException"/>. Calling it again does nothing.</summary>
    public void Dispose() => Pool.EndBatch(this);

    /// <summary>The alias address of <paramref name="target"/>, mapping the chunk's alias on first use. The caller holds the pool's lock.</summary>
    internal nint AliasOf(Chunk chunk, nint target)
    {
        OsResult mapped = _aliases.TryAddressOf(chunk, target, out nint address);
        if (mapped.Failed)
        {
            ThrowHelper.ThrowOs(Pool.Name, mapped, target);
        }

        return address;
    }

    /// <summary>Unmaps the aliases and closes the batch. The caller holds the pool's lock.</summary>
    internal void End()
    {
        _aliases.UnmapAll();
        IsOpen = false;
    }
}
