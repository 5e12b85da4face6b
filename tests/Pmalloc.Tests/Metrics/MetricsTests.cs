using System.Diagnostics.Metrics;

namespace Pmalloc.Tests;

/// <summary>The <c>Pmalloc</c> meter, read with a <see cref="MeterListener"/> as dotnet-counters reads it.</summary>
[Collection(SerialCollection.Name)]
public sealed class MetricsTests
{
    private static Dictionary<string, long> Measure()
    {
        Dictionary<string, long> values = [];
        using MeterListener listener = new();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PoolMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => values[instrument.Name] = value);
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }

    [Fact]
    public void The_meter_follows_a_pool_through_its_lifecycle()
    {
        // Serial collection: no other test creates pools meanwhile, so the differences are this pool's alone.
        Dictionary<string, long> start = Measure();
        using WriteOncePool pool = TestPools.NewPool();
        Dictionary<string, long> created = Measure();
        Assert.Equal(start["pmalloc.pools"] + 1, created["pmalloc.pools"]);
        Assert.Equal(start["pmalloc.mapped"], created["pmalloc.mapped"]);

        pool.Allocate(1000);
        Dictionary<string, long> allocated = Measure();
        Assert.Equal(start["pmalloc.mapped"] + pool.Statistics.MappedBytes, allocated["pmalloc.mapped"]);
        Assert.Equal(start["pmalloc.allocated"] + 1008, allocated["pmalloc.allocated"]);
        Assert.Equal(start["pmalloc.protected"], allocated["pmalloc.protected"]);

        pool.Protect();
        Assert.Equal(start["pmalloc.protected"] + pool.Statistics.MappedBytes, Measure()["pmalloc.protected"]);

        pool.Dispose();
        Dictionary<string, long> end = Measure();
        foreach (string name in new[] { "pmalloc.pools", "pmalloc.mapped", "pmalloc.allocated", "pmalloc.protected" })
        {
            Assert.Equal(start[name], end[name]);
        }
    }

    [Fact]
    public unsafe void Write_rare_updates_to_protected_memory_are_counted()
    {
        long updates = 0;
        using MeterListener listener = new();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PoolMetrics.MeterName && instrument.Name == "pmalloc.write_rare.updates")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref updates, value));
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
        Assert.Equal(2, *slot);
    }
}
