namespace Pmalloc;

/// <summary>The one-way lifecycle of a pool: Writable, then Protected, then Destroyed.</summary>
public enum PoolState
{
    /// <summary>Allocations and frees are allowed; the memory is read-write.</summary>
    Writable,

    /// <summary>The memory is read-only for good; a stray write stops the process.</summary>
    Protected,

    /// <summary>The pool was disposed: its memory is wiped and unmapped.</summary>
    Destroyed,
}
