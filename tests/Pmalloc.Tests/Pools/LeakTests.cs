using System.Globalization;
using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

[Collection(SerialCollection.Name)]
public sealed unsafe class LeakTests
{
    [Fact]
    public void Creating_filling_protecting_and_disposing_2000_pools_leaks_no_mapping_and_no_descriptor()
    {
        Churn(50); // warm up: the runtime maps what it needs on first use
        (int maps, int fds) = Count();

        Churn(2000);

        // Exact: nothing of ours is left, neither a chunk mapping nor a memfd (Linux names them; Windows sections have no name).
        if (OperatingSystem.IsLinux())
        {
            Assert.Empty(TestPools.MapsLinesOf("churn"));
            Assert.DoesNotContain(Directory.GetFiles("/proc/self/fd"), fd => (new FileInfo(fd).LinkTarget ?? "").Contains("memfd:pmalloc:churn", StringComparison.Ordinal));
        }

        // And the totals are back where they were. The runtime maps and opens on its own (thread stacks, GC, pipes
        // of other tests' children), so they may wobble by a few; a leak of one mapping or descriptor per pool
        // would show as 2,000 or more.
        (int mapsAfter, int fdsAfter) = Count();
        Assert.InRange(mapsAfter - maps, int.MinValue, 16);
        Assert.InRange(fdsAfter - fds, int.MinValue, 8);

        static (int Maps, int Fds) Count()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            // Windows: the mapped views (VirtualQuery) and the handles (sections among them). Linux: without the JIT's code
            // heap (/memfd:doublemapper), which grows when tiered compilation recompiles the hot methods in the background,
            // at a moment that depends on what ran before.
            return OperatingSystem.IsWindows()
                ? (WindowsMemoryInfo.MappedViews().Count, WindowsMemoryInfo.HandleCount())
                : (File.ReadLines("/proc/self/maps").Count(l => !l.Contains("/memfd:doublemapper", StringComparison.Ordinal)),
                    Directory.GetFiles("/proc/self/fd").Length);
        }

        static void Churn(int pools)
        {
            for (int i = 0; i < pools; i++)
            {
                using WriteOncePool pool = new(new PoolOptions { Name = "churn", ChunkSize = Environment.SystemPageSize });
                for (int j = 0; j < 100; j++)
                {
                    *(int*)pool.Allocate(48) = j;
                }

                pool.Protect();
            }
        }
    }

    [Fact]
    public void Making_writing_and_disposing_100_write_rare_pools_leaks_no_process_no_descriptor_and_no_writer_mapping()
    {
        // Windows: WindowsWriterTests.One_writer_serves_every_pool_and_each_pool_leaves_it_at_MakeReadOnly_and_Dispose.
        Platform.RequireLinux("reads /proc/self/task/*/children and /proc/PID/fd");
        WriteRareChurn(2); // warm up: starts the writer, which lives as long as this process
        int writer = OsWriter.ProcessId;
        Assert.NotEqual(0, writer);
        (string[] children, int fds) = (Children(), Directory.GetFiles("/proc/self/fd").Length);

        WriteRareChurn(100);

        // One writer for the whole process, the same one; no process left behind, none started per pool.
        Assert.Equal(writer, OsWriter.ProcessId);
        Assert.Equal(children, Children());
        Assert.Contains(writer.ToString(CultureInfo.InvariantCulture), children);

        // No descriptor of ours left, in this process or in the writer, which holds no mapping of any of the pools.
        Assert.DoesNotContain(Directory.GetFiles("/proc/self/fd"), fd => (new FileInfo(fd).LinkTarget ?? "").Contains("memfd:pmalloc:wr-churn", StringComparison.Ordinal));
        Assert.InRange(Directory.GetFiles("/proc/self/fd").Length - fds, int.MinValue, 8);
        try
        {
            Assert.Single(Directory.GetFiles($"/proc/{writer}/fd"));
            Assert.DoesNotContain(File.ReadLines($"/proc/{writer}/maps"), l => l.Contains("memfd:pmalloc:wr-churn", StringComparison.Ordinal));
        }
        catch (UnauthorizedAccessException)
        {
            // Not root: the writer is not dumpable, so its /proc entries are closed to us. The rest was checked.
        }

        static string[] Children() =>
            [.. Directory.GetDirectories("/proc/self/task").SelectMany(t => File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries)).Order()];
    }

    private static unsafe void WriteRareChurn(int pools)
    {
        for (int i = 0; i < pools; i++)
        {
            using WriteRarePool pool = new(new PoolOptions { Name = "wr-churn", ChunkSize = Environment.SystemPageSize });
            long* counter = (long*)Unsafe.AsPointer(ref pool.Allocate<long>());
            nint data = pool.Allocate((nuint)(2 * Environment.SystemPageSize)); // a second chunk
            pool.Protect();
            pool.Write(in *counter, 1L);
            pool.Add(in *counter, 1);
            pool.CompareExchange(in *counter, 5, 2);
            pool.Publish(in *(nint*)data, data);
            using (WriteRareBatch batch = pool.BeginWrites())
            {
                batch.Write(in *(long*)(data + 8), 7L);
            }

            if (i % 2 == 0)
            {
                pool.MakeReadOnly();
            }

            Assert.Equal(5, *counter);
        }
    }
}
