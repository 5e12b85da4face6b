using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// The pool's lock: one compare-and-swap to enter and one store to leave when uncontended, which is most
/// of the cost of an allocation otherwise (the runtime's <see cref="Lock"/> costs three to five times
/// more: it tracks its owner for reentrancy). Waiters spin, then yield and sleep (<see cref="SpinWait"/>).
/// </summary>
/// <remarks>
/// Use it as <c>using (_lock.EnterScope()) { ... }</c>, the way <c>lock</c> is used. Not reentrant: code
/// holding it must not call back into a public method of the pool. Debug builds record the owner and
/// assert this.
/// </remarks>
internal struct PoolLock
{
    private int _held;
#if DEBUG
    private int _owner;
#endif

    /// <summary>Takes the lock; disposing the result releases it.</summary>
    [UnscopedRef]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Scope EnterScope()
    {
        Enter();
        return new Scope(ref this);
    }

    /// <summary>Takes the lock, waiting as long as it takes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Enter()
    {
#if DEBUG
        Debug.Assert(Volatile.Read(ref _owner) != Environment.CurrentManagedThreadId, "PoolLock is not reentrant");
#endif
        if (Interlocked.CompareExchange(ref _held, 1, 0) != 0)
        {
            EnterContended();
        }
#if DEBUG
        _owner = Environment.CurrentManagedThreadId;
#endif
    }

    /// <summary>Releases the lock (a release-ordered store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Exit()
    {
#if DEBUG
        _owner = 0;
#endif
        Volatile.Write(ref _held, 0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
        SpinWait spinner = default;
        do
        {
            spinner.SpinOnce();
        }
        while (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0);
    }

    /// <summary>Holds the lock until disposed.</summary>
    internal readonly ref struct Scope
    {
        private readonly ref PoolLock _lock;

        internal Scope(ref PoolLock held) => _lock = ref held;

        /// <summary>Releases the lock.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Dispose() => _lock.Exit();
    }
}
