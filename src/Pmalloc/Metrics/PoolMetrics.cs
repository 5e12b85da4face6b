using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The <c>Pmalloc</c> meter (<see cref="System.Diagnostics.Metrics"/>): live pools, mapped, allocated and
/// protected bytes, and write-rare updates, so that <c>dotnet-counters monitor -n APP --counters Pmalloc</c>
/// and OpenTelemetry (<c>AddMeter("Pmalloc")</c>) show them. Every measurement carries the tag
/// <c>pool</c> = the pool's name (<see cref="PoolOptions.Name"/>); pools that share a name are added up in one
/// measurement, and the total of an instrument is the sum over its <c>pool</c> values.
/// </summary>
/// <remarks>
/// The sizes are observable instruments, computed only when a listener collects, so allocation pays nothing for them.
/// The meter counts pools by name as <see cref="ChunkEvents"/> tells of their creation and destruction, and reads the
/// chunks of live pools from the usercopy registry's current table (<see cref="ChunkRegistry.MappedChunks"/>), which
/// hears of every chunk anyway: a pool's chunks cost the meter nothing until a listener collects. It never takes a pool's
/// lock: a listener's callback may read <see cref="ProtectablePool.Statistics"/> without deadlocking. A pool is counted
/// from its creation until <see cref="ProtectablePool.Dispose"/>; a pool that is never disposed stays counted, as its
/// memory stays mapped.
/// </remarks>
public static class PoolMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Pmalloc";

    private static readonly Meter s_meter = new(MeterName, typeof(PoolMetrics).Assembly.GetName().Version?.ToString());

    private static readonly Lock s_lock = new();

    /// <summary>How many live pools bear each name, as the notifications told. Guarded by <see cref="s_lock"/>.</summary>
    private static readonly Dictionary<string, int> s_poolsByName = new(StringComparer.Ordinal);

    /// <summary>The tag every measurement carries: the pool's name.</summary>
    public const string PoolTag = "pool";

    /// <summary>Write-rare updates (<c>Write</c>, <c>Fill</c>, <c>Publish</c>) made after protect, tagged with the pool's name.</summary>
    private static readonly Counter<long> s_writeRareUpdates =
        s_meter.CreateCounter<long>("pmalloc.write_rare.updates", "{update}", "Write-rare updates to protected pools");

    static PoolMetrics()
    {
        s_meter.CreateObservableUpDownCounter("pmalloc.pools", () => Measure(static (_, _) => 0, countPools: true), "{pool}", "Live pools (created, not yet disposed)");
        s_meter.CreateObservableUpDownCounter("pmalloc.mapped", () => Measure(static (_, c) => (long)c.Mapping.Length), "By", "Bytes mapped by the chunks of live pools (guard pages not included)");
        s_meter.CreateObservableUpDownCounter("pmalloc.allocated", () => Measure(static (_, c) => (long)(c.GranuleCount - c.Avail) << c.GranuleShift), "By", "Bytes held by live allocations");
        s_meter.CreateObservableUpDownCounter("pmalloc.protected", () => Measure(static (p, c) => p.State == PoolState.Protected ? (long)c.Mapping.Length : 0), "By", "Bytes mapped by protected (read-only) pools");
    }

    /// <summary>Counts one write-rare update to the protected pool <paramref name="pool"/>.</summary>
    internal static void CountWriteRareUpdate(string pool) => s_writeRareUpdates.Add(1, new KeyValuePair<string, object?>(PoolTag, pool));

    /// <summary>Subscribes the meter to the pool notifications when the assembly loads, before any pool exists.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "The meter must hear about every pool, and the pool layer must not know it.")]
    internal static void Subscribe() => ChunkEvents.Subscribe(new Observer());

    /// <summary>One measurement per pool name (tag <see cref="PoolTag"/>): the sum of <paramref name="measure"/> over the chunks of the live pools of that name, or their number.</summary>
    private static List<Measurement<long>> Measure(Func<PoolCore, Chunk, long> measure, bool countPools = false)
    {
        // Every live pool's name has a measurement, 0 for a pool without chunks.
        Dictionary<string, long> byName = new(StringComparer.Ordinal);
        lock (s_lock)
        {
            foreach ((string name, int pools) in s_poolsByName)
            {
                byName[name] = countPools ? pools : 0;
            }
        }

        if (!countPools)
        {
            foreach ((PoolCore pool, Chunk chunk) in ChunkRegistry.MappedChunks())
            {
                // A chunk of a pool being destroyed right now may still be in the table: its name is no longer counted.
                if (byName.TryGetValue(pool.Name, out long value))
                {
                    byName[pool.Name] = value + measure(pool, chunk);
                }
            }
        }

        List<Measurement<long>> measurements = new(byName.Count);
        foreach ((string name, long value) in byName)
        {
            measurements.Add(new Measurement<long>(value, new KeyValuePair<string, object?>(PoolTag, name)));
        }

        return measurements;
    }

    private sealed class Observer : ChunkObserver
    {
        internal override void OnChunkEvent(in ChunkEvent e)
        {
            // Chunks are the registry's to track (see the class remarks).
            if (e.Kind is not (ChunkEventKind.PoolCreated or ChunkEventKind.PoolDestroyed))
            {
                return;
            }

            lock (s_lock)
            {
                ref int pools = ref CollectionsMarshal.GetValueRefOrAddDefault(s_poolsByName, e.Pool.Name, out _);
                if (e.Kind == ChunkEventKind.PoolCreated)
                {
                    pools++;
                }
                else if (--pools == 0)
                {
                    _ = s_poolsByName.Remove(e.Pool.Name);
                }
            }
        }
    }
}
