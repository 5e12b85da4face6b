using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// Whether one collection's table may still be read: shared by the collection and by every <see cref="ProtectedString"/>
/// it hands out, so that a string read after its collection was disposed, or after the pool holding it was destroyed,
/// throws <see cref="ObjectDisposedException"/> instead of reading unmapped memory.
/// </summary>
/// <remarks>
/// The check is a test, not a lock: disposing a collection (or destroying its pool) while another thread reads it is a
/// race the caller must not start, as for any <see cref="IDisposable"/>. A <see cref="ProtectedString"/> holds this object,
/// not the collection, and this object holds the pool: a string that outlives every reference to its collection keeps
/// the pool reachable, so the garbage collector cannot finalize the pool under it.
/// </remarks>
internal sealed class TableLifetime
{
    private volatile bool _ended;

    internal TableLifetime(ProtectablePool pool, string kind)
    {
        Pool = pool;
        Kind = kind;
    }

    /// <summary>The pool that holds the table.</summary>
    internal ProtectablePool Pool { get; }

    /// <summary>"dictionary" or "set", for messages.</summary>
    internal string Kind { get; }

    /// <summary>False once the collection was disposed or its pool destroyed.</summary>
    internal bool IsAlive
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !_ended && Pool.State != PoolState.Destroyed;
    }

    /// <summary>The collection was disposed: every string it handed out stops working.</summary>
    internal void End() => _ended = true;

    /// <summary>Throws the <see cref="ObjectDisposedException"/> of a string at <paramref name="address"/> read too late.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void ThrowStringDisposed(nint address) => throw ThrowHelper.ProtectedStringDisposed(Pool.Name, Kind, address);
}
