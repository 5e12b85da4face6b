using System.Diagnostics.Metrics;

namespace Pmalloc.Tests;

/// <summary>The <c>Pmalloc</c> meter, read with a <see cref="MeterListener"/> as dotnet-counters reads it.</summary>
[Collection(SerialCollection.Name)]
public sealed class MetricsTests
{
    /// <summary>One collection: each instrument's total over its measurements, and each measurement by its <c>pool</c> tag.</summary>
    private sealed record Reading(Dictionary<string, long> Totals, Dictionary<(string Instrument, string Pool), long> ByPool)
    {
        internal long this[string instrument] => Totals.GetValueOrDefault(instrument);

        /// <summary>The measurement tagged <c>pool</c> = <paramref name="pool"/>, or null if there was none.</summary>
        internal long? Of(string instrument, string pool) => ByPool.TryGetValue((instrument, pool), out long v) ? v : null;
    }

    private static Reading Measure()
    {
        Dictionary<string, long> totals = [];
        Dictionary<(string, string), long> byPool = [];
        using MeterListener listener = new();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PoolMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            totals[instrument.Name] = totals.GetValueOrDefault(instrument.Name) + value;
            Assert.Equal(1, tags.Length);
            Assert.Equal(PoolMetrics.PoolTag, tags[0].Key);
            string pool = Assert.IsType<string>(tags[0].Value);
            Assert.False(byPool.ContainsKey((instrument.Name, pool)), $"{instrument.Name}: two measurements for pool '{pool}' in one collection");
            byPool[(instrument.Name, pool)] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return new Reading(totals, byPool);
    }

    [Fact]
    public void The_meter_follows_a_pool_through_its_lifecycle()
    {
        // Serial collection: no other test creates pools meanwhile, so the differences are this pool's alone.
        Reading start = Measure();
        using WriteOncePool pool = TestPools.NewPool();
        Reading created = Measure();
        Assert.Equal(start["pmalloc.pools"] + 1, created["pmalloc.pools"]);
        Assert.Equal(start["pmalloc.mapped"], created["pmalloc.mapped"]);
        Assert.Equal(1, created.Of("pmalloc.pools", pool.Name));
        Assert.Equal(0, created.Of("pmalloc.mapped", pool.Name));
        Assert.Equal(0, created.Of("pmalloc.allocated", pool.Name));
        Assert.Equal(0, created.Of("pmalloc.protected", pool.Name));

        pool.Allocate(1000);
        Reading allocated = Measure();
        Assert.Equal(start["pmalloc.mapped"] + pool.Statistics.MappedBytes, allocated["pmalloc.mapped"]);
        Assert.Equal(start["pmalloc.allocated"] + 1008, allocated["pmalloc.allocated"]);
        Assert.Equal(start["pmalloc.protected"], allocated["pmalloc.protected"]);
        Assert.Equal(pool.Statistics.MappedBytes, allocated.Of("pmalloc.mapped", pool.Name));
        Assert.Equal(1008, allocated.Of("pmalloc.allocated", pool.Name));

        pool.Protect();
        Reading protect = Measure();
        Assert.Equal(start["pmalloc.protected"] + pool.Statistics.MappedBytes, protect["pmalloc.protected"]);
        Assert.Equal(pool.Statistics.MappedBytes, protect.Of("pmalloc.protected", pool.Name));

        pool.Dispose();
        Reading end = Measure();
        foreach (string name in new[] { "pmalloc.pools", "pmalloc.mapped", "pmalloc.allocated", "pmalloc.protected" })
        {
            Assert.Equal(start[name], end[name]);
            Assert.Null(end.Of(name, pool.Name));
        }
    }

    [Fact]
    public void Pools_that_share_a_name_are_one_measurement_and_others_are_apart()
    {
        string shared = TestPools.UniqueName(), other = TestPools.UniqueName();
        using WriteOncePool first = new(new PoolOptions { Name = shared });
        using WriteOncePool second = new(new PoolOptions { Name = shared });
        using WriteOncePool third = new(new PoolOptions { Name = other });
        first.Allocate(100);
        second.Allocate(200);
        third.Allocate(1000);
        third.Protect();

        // Measure() itself fails on two measurements with the same pool tag in one collection.
        Reading reading = Measure();
        Assert.Equal(2, reading.Of("pmalloc.pools", shared));
        Assert.Equal(first.Statistics.MappedBytes + second.Statistics.MappedBytes, reading.Of("pmalloc.mapped", shared));
        Assert.Equal(first.Statistics.AllocatedBytes + second.Statistics.AllocatedBytes, reading.Of("pmalloc.allocated", shared));
        Assert.Equal(0, reading.Of("pmalloc.protected", shared));
        Assert.Equal(1, reading.Of("pmalloc.pools", other));
        Assert.Equal(third.Statistics.MappedBytes, reading.Of("pmalloc.protected", other));
    }

    [Fact]
    public void A_chunk_given_back_and_a_forgotten_sealed_pool_leave_the_meter()
    {
        // The meter reads chunks from the usercopy registry: a chunk unmapped by Free, and a sealed pool's chunks that
        // Dispose can only forget (they stay mapped read-only), must leave its figures as they leave the pool's.
        Reading start = Measure();
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName() });
        pool.Allocate(16);
        long small = pool.Statistics.MappedBytes;
        nint large = pool.Allocate(256 * 1024);
        Reading both = Measure();
        Assert.True(pool.Statistics.MappedBytes > small);
        Assert.Equal(pool.Statistics.MappedBytes, both.Of("pmalloc.mapped", pool.Name));

        pool.Free(large);
        Reading freed = Measure();
        Assert.Equal(small, pool.Statistics.MappedBytes);
        Assert.Equal(small, freed.Of("pmalloc.mapped", pool.Name));
        Assert.Equal(16, freed.Of("pmalloc.allocated", pool.Name));

        WriteOncePool sealedPool = new(KernelRequirements.RequireFor(new PoolOptions { Name = TestPools.UniqueName(), Seal = SealMode.Required }));
        sealedPool.Allocate(100);
        sealedPool.Protect();
        Reading sealedReading = Measure();
        Assert.Equal(sealedPool.Statistics.MappedBytes, sealedReading.Of("pmalloc.protected", sealedPool.Name));
        sealedPool.Dispose();
        Reading forgotten = Measure();
        Assert.Null(forgotten.Of("pmalloc.mapped", sealedPool.Name));
        Assert.Null(forgotten.Of("pmalloc.pools", sealedPool.Name));
        Assert.Equal(start["pmalloc.mapped"] + small, forgotten["pmalloc.mapped"]);
        Assert.Equal(start["pmalloc.protected"], forgotten["pmalloc.protected"]);
    }

    [Fact]
    public unsafe void Write_rare_updates_to_protected_memory_are_counted()
    {
        long updates = 0;
        string? tagged = null;
        using MeterListener listener = new();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PoolMetrics.MeterName && instrument.Name == "pmalloc.write_rare.updates")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            Interlocked.Add(ref updates, value);
            KeyValuePair<string, object?> tag = Assert.Single(tags.ToArray());
            Assert.Equal(PoolMetrics.PoolTag, tag.Key);
            tagged = (string?)tag.Value;
        });
        listener.Start();

        using WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName() });
        nint* slot = (nint*)pool.Allocate((nuint)sizeof(nint));
        nint data = pool.Allocate(64);

        // Before Protect the calls are plain stores: nothing read-only changed.
        pool.Publish(in *slot, 1);
        Assert.Equal(0, Interlocked.Read(ref updates));

        pool.Protect();
        pool.Publish(in *slot, 2);
        pool.Write(data, [1, 2, 3]);
        pool.Fill(data, 0xFF, 64);
        Assert.Equal(3, Interlocked.Read(ref updates));
        Assert.Equal(pool.Name, tagged);
        Assert.Equal(2, *slot);
    }
}
