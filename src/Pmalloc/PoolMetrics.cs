using System.Diagnostics.Metrics;

namespace Pmalloc;

/// <summary>
/// The <c>Pmalloc</c> meter (<see cref="System.Diagnostics.Metrics"/>): live pools, mapped, allocated and
/// protected bytes, and write-rare updates, so that <c>dotnet-counters monitor -n APP --counters Pmalloc</c>
/// and OpenTelemetry (<c>AddMeter("Pmalloc")</c>) show them.
/// </summary>
/// <remarks>
/// The sizes are observable instruments: they are read from the live pools' <see cref="ProtectablePool.Statistics"/>
/// only when a listener collects, so allocation pays nothing for them. The process-wide list of live pools
/// they read is kept here: a pool joins it in its constructor and leaves it in <see cref="ProtectablePool.Dispose"/>.
/// A pool that is never disposed stays counted, as its memory stays mapped.
/// </remarks>
public static class PoolMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Pmalloc";

    private static readonly Meter s_meter = new(MeterName, typeof(PoolMetrics).Assembly.GetName().Version?.ToString());

    private static readonly Lock s_lock = new();

    private static readonly HashSet<ProtectablePool> s_pools = new(ReferenceEqualityComparer.Instance);

    /// <summary>Write-rare updates (<c>Write</c>, <c>Fill</c>, <c>Publish</c>) made after protect.</summary>
    internal static readonly Counter<long> WriteRareUpdates =
        s_meter.CreateCounter<long>("pmalloc.write_rare.updates", "{update}", "Write-rare updates to protected pools");

    static PoolMetrics()
    {
        s_meter.CreateObservableUpDownCounter("pmalloc.pools", () => (long)Snapshot().Length, "{pool}", "Live pools (created, not yet disposed)");
        s_meter.CreateObservableUpDownCounter("pmalloc.mapped", () => Sum(static s => s.MappedBytes), "By", "Bytes mapped by the chunks of live pools (guard pages not included)");
        s_meter.CreateObservableUpDownCounter("pmalloc.allocated", () => Sum(static s => s.AllocatedBytes), "By", "Bytes held by live allocations");
        s_meter.CreateObservableUpDownCounter("pmalloc.protected", () => Sum(static s => s.State == PoolState.Protected ? s.MappedBytes : 0), "By", "Bytes mapped by protected (read-only) pools");
    }

    /// <summary>Adds a new pool to the live list (from the pool constructor).</summary>
    internal static void Register(ProtectablePool pool)
    {
        lock (s_lock)
        {
            s_pools.Add(pool);
        }
    }

    /// <summary>Removes a destroyed pool from the live list (from <see cref="ProtectablePool.Dispose"/>).</summary>
    internal static void Unregister(ProtectablePool pool)
    {
        lock (s_lock)
        {
            s_pools.Remove(pool);
        }
    }

    private static ProtectablePool[] Snapshot()
    {
        lock (s_lock)
        {
            return [.. s_pools];
        }
    }

    private static long Sum(Func<PoolStatistics, long> measure)
    {
        long total = 0;
        foreach (ProtectablePool pool in Snapshot())
        {
            total += measure(pool.Statistics);
        }

        return total;
    }
}
