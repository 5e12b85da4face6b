using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>
/// Child scenarios for the OS limits and for calls that, done wrong, would stop or hang the process: each prints what the
/// library did, so the parent can check it (see <c>Pools/ResourceLimitTests.cs</c>, <c>Metrics/ListenerReentryTests.cs</c>,
/// <c>Pools/ReadDestinationTests.cs</c>).
/// </summary>
internal static unsafe partial class ChildScenarios
{
    /// <summary>The pool of the address-space scenarios.</summary>
    private const string AddressSpacePool = "child-as";

    /// <summary>
    /// A refill that needs 4 GiB (a chunk of its own, whose metadata alone is 336 MiB) under an RLIMIT_AS that leaves
    /// <paramref name="headroomMiB"/> MiB of address space: 128 MiB makes the metadata fail, 1 GiB the mapping. Prints what
    /// <c>Allocate</c> threw, and whether the pool, its mappings and its descriptors were left as they were.
    /// </summary>
    private static void RefillOverAddressSpaceLimit(long headroomMiB)
    {
        WriteOncePool pool = new(new PoolOptions { Name = AddressSpacePool });
        pool.Allocate(100); // one chunk already, so "unchanged" is not simply "empty"; and the refill path is warm
        PoolStatistics before = pool.Statistics;
        (int Mappings, int Descriptors) resources = (TestPools.MapsLinesOf(AddressSpacePool).Length, MemfdsOf(AddressSpacePool));

        if (Native.getrlimit(Native.RLimitAddressSpace, out Native.RLimit old) != 0)
        {
            throw new InvalidOperationException($"setup: getrlimit(RLIMIT_AS) failed, errno {Marshal.GetLastPInvokeError()}");
        }

        Native.RLimit limit = new() { Current = checked(VirtualMemorySize() + ((ulong)headroomMiB << 20)), Maximum = old.Maximum };
        if (Native.setrlimit(Native.RLimitAddressSpace, in limit) != 0)
        {
            throw new InvalidOperationException($"setup: setrlimit(RLIMIT_AS) failed, errno {Marshal.GetLastPInvokeError()}");
        }

        Ready();
        string outcome;
        try
        {
            long size = ProtectablePool.MaxAllocationSize;
            pool.Allocate(checked((nuint)size));
            outcome = "Allocate went through past RLIMIT_AS";
        }
        catch (OutOfMemoryException e)
        {
            outcome = $"refused: {e.GetType().Name}: {e.Message}";
        }
        finally
        {
            _ = Native.setrlimit(Native.RLimitAddressSpace, in old);
        }

        Console.WriteLine(outcome);
        Console.WriteLine($"statistics unchanged: {pool.Statistics == before}");
        Console.WriteLine($"mappings and descriptors unchanged: {(TestPools.MapsLinesOf(AddressSpacePool).Length, MemfdsOf(AddressSpacePool)) == resources}");
        pool.Dispose();
        Console.WriteLine($"after dispose: {TestPools.MapsLinesOf(AddressSpacePool).Length} mappings, {MemfdsOf(AddressSpacePool)} descriptors");
    }

    /// <summary>VmSize of this process, in bytes.</summary>
    private static ulong VirtualMemorySize()
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmSize:", StringComparison.Ordinal));
        return ulong.Parse(line["VmSize:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>
    /// A <see cref="MeterListener"/> whose callbacks read <see cref="ProtectablePool.Statistics"/> of the pool being measured,
    /// for the write-rare updates (recorded as the write happens) and for the observable sizes. Returns if nothing deadlocked.
    /// </summary>
    private static void MetricsListenerReadsStatistics()
    {
        using WriteRarePool pool = new(new PoolOptions { Name = "child-metrics" });
        nint* slot = (nint*)pool.Allocate((nuint)sizeof(nint));
        nint data = pool.Allocate(64);
        pool.Protect();

        long live = -1;
        int calls = 0;
        using MeterListener listener = new();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PoolMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) =>
        {
            live = pool.Statistics.LiveAllocations;
            calls++;
        });
        listener.Start();

        Ready();
        pool.Write(data, [1, 2, 3]);
        pool.Fill(data, 0xFF, 64);
        pool.Publish(in *slot, 42);
        listener.RecordObservableInstruments();
        Console.WriteLine($"the listener read the statistics {calls} times: {live} live allocations");
    }

    /// <summary>
    /// <see cref="ProtectablePool.Read"/> into a destination in protected memory (a protected pool, then an object cache,
    /// read-only from birth): each must be refused with an exception, the destination left intact.
    /// </summary>
    private static void ReadIntoProtectedDestination()
    {
        using WriteOncePool source = new(new PoolOptions { Name = "child-source" });
        nint from = source.Allocate(sizeof(long));
        *(long*)from = 0x0BAD;
        using WriteOncePool target = ProtectedSecret(out nint secret);
        using ObjectCache<long> cache = new(new PoolOptions { Name = "child-cache-dest" });
        ref readonly long cached = ref cache.Create(Secret);
        PoolStatistics before = source.Statistics;

        Ready();
        foreach ((string what, nint destination) in new[] { ("protected pool", secret), ("object cache", (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.CompilerServices.Unsafe.AsRef(in cached))) })
        {
            try
            {
                source.Read(from, new Span<byte>((void*)destination, sizeof(long)));
                Console.WriteLine($"{what}: Read wrote into it");
            }
            catch (InvalidOperationException e)
            {
                Console.WriteLine($"{what}: refused: {e.GetType().Name}: {e.Message}");
            }

            Console.WriteLine($"{what}: destination intact: {*(long*)destination == Secret}");
        }

        Console.WriteLine($"source statistics unchanged: {source.Statistics == before}");
    }

    /// <summary>The libc calls of the address-space scenarios.</summary>
    private static partial class Native
    {
        internal const int RLimitAddressSpace = 9;

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int getrlimit(int resource, out RLimit limit);
    }
}
