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

        // Windows: the mapped views (VirtualQuery) and the handles (sections among them) of this process.
        static (int Maps, int Fds) Count()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return OperatingSystem.IsWindows()
                ? (WindowsMemoryInfo.MappedViews().Count, WindowsMemoryInfo.HandleCount())
                : (File.ReadAllLines("/proc/self/maps").Length, Directory.GetFiles("/proc/self/fd").Length);
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
}
