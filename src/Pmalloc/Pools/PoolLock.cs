using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// The pool's lock, biased to the thread that takes it first: that thread enters and leaves with plain stores and loads,
/// no atomic instruction and no thread-local lookup (the thread is told by its stack), for as long as no other thread takes the lock. The first time another thread does, the bias is
/// revoked for good (one process-wide memory barrier), and from then on every thread takes a compare-and-swap lock (one
/// atomic to enter, one store to leave). Waiters spin, then yield and sleep (<see cref="SpinWait"/>).
/// </summary>
/// <remarks>
/// <para><b>Why.</b> A pool is mostly filled by one thread, and the lock was most of an allocation's cost: a
/// <c>lock cmpxchg</c> costs more than the bump of the cursor it protects. The runtime's <see cref="Lock"/> costs three to
/// five times more again (it tracks its owner for reentrancy).</para>
/// <para><b>The protocol</b> (an asymmetric Dekker lock, as in the JVM's biased locking, with
/// <see cref="Interlocked.MemoryBarrierProcessWide"/> in place of a safepoint):</para>
/// <list type="bullet">
/// <item>The owner enters by storing 1 to <see cref="_ownerInside"/> and then loading <see cref="_revoking"/>: if that is 0,
/// it is inside; it leaves by storing 0 to <see cref="_ownerInside"/> (release). Otherwise it stores 0 and takes the
/// compare-and-swap lock like any thread.</item>
/// <item>Another thread takes the compare-and-swap lock, stores 1 to <see cref="_revoking"/>, executes the process-wide
/// barrier, then waits until <see cref="_ownerInside"/> is 0, and marks the bias revoked. The barrier makes every thread
/// execute a full fence at some point between the two: if the owner's fence came after its store of
/// <see cref="_ownerInside"/>, the revoker sees 1 and waits for the owner to leave; if before, the owner's later load of
/// <see cref="_revoking"/> sees 1 and it does not enter. Either way, only one of them is inside.</item>
/// <item>The owner's store and load are volatile accesses in that program order; the JIT does not move a memory access
/// across a volatile one, and the hardware may reorder them only up to the barrier's fence, which is what the barrier is for.</item>
/// </list>
/// <para>Use it as <c>using (_lock.EnterScope()) { ... }</c>, the way <c>lock</c> is used. Not reentrant: code holding it
/// must not call back into a public method of the pool. Debug builds record the holder and assert this.</para>
/// </remarks>
internal unsafe struct PoolLock
{
    /// <summary><see cref="_state"/> before anyone took the lock.</summary>
    private const int Unclaimed = 0;

    /// <summary><see cref="_state"/> while the lock is biased to the thread whose stack is <see cref="_ownerStackLow"/>.</summary>
    private const int Biased = 1;

    /// <summary><see cref="_state"/> once a second thread took the lock: no bias any more.</summary>
    private const int Revoked = -1;

    /// <summary>Per thread: its stack, found once (<see cref="OsMemory.TryGetThreadStack"/>); 1 known, -1 unknowable, 0 not asked yet.</summary>
    [ThreadStatic]
    private static nuint t_stackLow;

    [ThreadStatic]
    private static nuint t_stackSize;

    [ThreadStatic]
    private static int t_stackKnown;

    /// <summary>
    /// The owner's stack, [low, +size): a thread is the owner if the address of one of its locals lies there. The stacks
    /// of live threads never overlap, and this costs no thread-local storage lookup (which is a call on Linux). Size 0:
    /// no owner. A new thread whose stack reuses a dead owner's range becomes the owner, which is safe: the dead one
    /// cannot be inside.
    /// </summary>
    private nuint _ownerStackLow;
    private nuint _ownerStackSize;

    /// <summary><see cref="Unclaimed"/>, <see cref="Biased"/> or <see cref="Revoked"/>.</summary>
    private int _state;

    /// <summary>1 while the owner is inside without the compare-and-swap lock. Written only by the owner.</summary>
    private int _ownerInside;

    /// <summary>1 once another thread began to revoke the bias; never cleared. Written only under <see cref="_held"/>.</summary>
    private int _revoking;

    /// <summary>The compare-and-swap lock: 1 while held.</summary>
    private int _held;
#if DEBUG
    private int _holder;
#endif

    /// <summary>Is the lock still biased to one thread (for tests)?</summary>
    internal readonly bool IsBiased => Volatile.Read(in _state) == Biased && Volatile.Read(in _revoking) == 0;

    /// <summary>Takes the lock; disposing the result releases it.</summary>
    [UnscopedRef]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Scope EnterScope()
    {
        if (TryEnterBiased())
        {
            return new Scope(ref this, biased: true);
        }

        EnterSlow();
        return new Scope(ref this, biased: false);
    }

    /// <summary>
    /// The fast path: enters if the calling thread is the owner and the bias holds, with two plain stores and a load;
    /// the caller then leaves with <see cref="ExitBiased"/>. False otherwise, having taken nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryEnterBiased()
    {
        byte here;
        if (unchecked((nuint)(&here) - _ownerStackLow) < _ownerStackSize)
        {
            AssertNotHeld();
            Volatile.Write(ref _ownerInside, 1);
            if (Volatile.Read(ref _revoking) == 0)
            {
                MarkHeld();
                return true;
            }

            Volatile.Write(ref _ownerInside, 0);
        }

        return false;
    }

    /// <summary>Leaves after <see cref="TryEnterBiased"/> (a release-ordered store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ExitBiased()
    {
        MarkReleased();
        Volatile.Write(ref _ownerInside, 0);
    }

    /// <summary>Claims the bias if no thread took the lock yet, then takes the compare-and-swap lock, revoking the bias first if it is another thread's.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterSlow()
    {
        AssertNotHeld();
        bool mine = CurrentStack(out nuint low, out nuint size);
        if (mine && Volatile.Read(ref _state) == Unclaimed && Interlocked.CompareExchange(ref _state, Biased, Unclaimed) == Unclaimed)
        {
            // Ours from the next entry on. This one takes the compare-and-swap lock, like everyone who is not inside.
            _ownerStackLow = low;
            Volatile.Write(ref _ownerStackSize, size);
        }

        if (Interlocked.CompareExchange(ref _held, 1, 0) != 0)
        {
            SpinWait spinner = default;
            do
            {
                spinner.SpinOnce();
            }
            while (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0);
        }

        if (Volatile.Read(ref _state) == Biased && !(mine && low == _ownerStackLow))
        {
            Revoke();
        }

        MarkHeld();
    }

    /// <summary>Ends the bias for good. The caller holds the compare-and-swap lock and is not the owner.</summary>
    private void Revoke()
    {
        Volatile.Write(ref _revoking, 1);

        // Every thread executes a full fence somewhere in here: the owner either is seen inside, or sees _revoking.
        Interlocked.MemoryBarrierProcessWide();
        SpinWait spinner = default;
        while (Volatile.Read(ref _ownerInside) != 0)
        {
            spinner.SpinOnce();
        }

        Volatile.Write(ref _ownerStackSize, 0);
        Volatile.Write(ref _state, Revoked);
    }

    /// <summary>The calling thread's stack, asked of the OS once per thread.</summary>
    private static bool CurrentStack(out nuint low, out nuint size)
    {
        if (t_stackKnown == 0)
        {
            t_stackKnown = OsMemory.TryGetThreadStack(out t_stackLow, out t_stackSize) ? 1 : -1;
        }

        low = t_stackLow;
        size = t_stackSize;
        return t_stackKnown > 0;
    }

    /// <summary>Releases the compare-and-swap lock (a release-ordered store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ExitLocked()
    {
        MarkReleased();
        Volatile.Write(ref _held, 0);
    }

    [Conditional("DEBUG")]
    private readonly void AssertNotHeld()
    {
#if DEBUG
        Debug.Assert(Volatile.Read(in _holder) != Environment.CurrentManagedThreadId, "PoolLock is not reentrant");
#endif
    }

    [Conditional("DEBUG")]
    private void MarkHeld()
    {
#if DEBUG
        _holder = Environment.CurrentManagedThreadId;
#endif
    }

    [Conditional("DEBUG")]
    private void MarkReleased()
    {
#if DEBUG
        _holder = 0;
#endif
    }

    /// <summary>Holds the lock until disposed.</summary>
    internal readonly ref struct Scope
    {
        private readonly ref PoolLock _lock;
        private readonly bool _biased;

        internal Scope(ref PoolLock held, bool biased)
        {
            _lock = ref held;
            _biased = biased;
        }

        /// <summary>Releases the lock.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Dispose()
        {
            if (_biased)
            {
                _lock.ExitBiased();
            }
            else
            {
                _lock.ExitLocked();
            }
        }
    }
}
