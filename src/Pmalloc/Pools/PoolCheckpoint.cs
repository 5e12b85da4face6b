namespace Pmalloc;

/// <summary>
/// A mark in a pool's allocation history, from <see cref="ProtectablePool.Checkpoint"/>.
/// <see cref="ProtectablePool.RollbackTo"/> frees every allocation made after it that is still live.
/// </summary>
public readonly struct PoolCheckpoint : IEquatable<PoolCheckpoint>
{
    internal PoolCheckpoint(ProtectablePool pool, long position, long serial)
    {
        Pool = pool;
        Position = position;
        Serial = serial;
    }

    internal ProtectablePool? Pool { get; }

    /// <summary>How many allocations the pool had logged when the mark was taken: those logged from here on are after it.</summary>
    internal long Position { get; }

    /// <summary>Increases with every mark of the pool; a rollback invalidates the marks taken after its target.</summary>
    internal long Serial { get; }

    /// <inheritdoc/>
    public bool Equals(PoolCheckpoint other) => ReferenceEquals(Pool, other.Pool) && Serial == other.Serial;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PoolCheckpoint other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Pool, Serial);

    /// <summary>Compares two marks.</summary>
    public static bool operator ==(PoolCheckpoint left, PoolCheckpoint right) => left.Equals(right);

    /// <summary>Compares two marks.</summary>
    public static bool operator !=(PoolCheckpoint left, PoolCheckpoint right) => !left.Equals(right);
}
