using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>
/// The child side of the fault tests, run as <c>Pmalloc.Tests --child NAME</c> (see <see cref="Program"/>
/// and <see cref="Child"/>). Each scenario builds and protects a pool, prints <see cref="ReadyMarker"/>, then
/// does one forbidden thing. A write the library stops is the death of the process: the runtime turns the
/// hardware fault into a fail-fast <see cref="AccessViolationException"/>, exit status 134. So a scenario that
/// returns was not stopped, and says so with <see cref="SurvivedMarker"/>.
/// </summary>
internal static unsafe partial class ChildScenarios
{
    /// <summary>The first argument that makes the test executable run a scenario instead of the tests.</summary>
    internal const string Flag = "--child";

    /// <summary>Printed on stdout just before the forbidden step, so a death before it is told apart.</summary>
    internal const string ReadyMarker = "CHILD-READY";

    /// <summary>Printed if the forbidden step did not stop the child.</summary>
    internal const string SurvivedMarker = "CHILD-SURVIVED";

    /// <summary>Exit status when a scenario threw (printed as "threw: TYPE: MESSAGE").</summary>
    internal const int ThrewExitCode = 3;

    /// <summary>The value every scenario's pool holds.</summary>
    private const long Secret = 0x5EC12E7;

    private static readonly Dictionary<string, Action> Scenarios = new(StringComparer.Ordinal)
    {
        ["write-pointer"] = () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            *(long*)p = 0x0BAD;
        },
        ["write-span"] = () =>
        {
            using WriteOncePool pool = new(new PoolOptions { Name = "child-span" });
            Span<long> span = pool.AllocateArray<long>(8);
            span.Fill(42);
            pool.Protect();
            Ready();
            span[3] = 0x0BAD;
        },
        ["write-memorycopy"] = () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            long evil = 0x0BAD;
            Ready();
            Buffer.MemoryCopy(&evil, (void*)p, sizeof(long), sizeof(long));
        },
        ["read-after-dispose"] = () =>
        {
            WriteOncePool pool = ProtectedSecret(out nint p, chunkSize: 1 << 20);

            // Announce first: once unmapped, the range may be reused by the next mapping anyone makes
            // (printing can map memory), and a read there would then see that mapping instead of faulting.
            Ready();
            pool.Dispose();
            Console.WriteLine(*(long*)p);
        },
        ["write-after-free-of-a-chunk"] = () =>
        {
            // A large allocation has a chunk of its own; freed, the chunk is kept as the pool's spare (inaccessible, not
            // unmapped), so this stale store must fault all the same, in a writable pool.
            using WriteOncePool pool = new(new PoolOptions { Name = "child-spare" });
            _ = pool.Allocate(16);
            nint big = pool.Allocate(1 << 16);
            *(long*)big = Secret;

            // Announce before the free: where the chunk is unmapped (Windows), printing could map something else there.
            Ready();
            pool.Free(big);
            *(long*)big = 0x0BAD;
        },
        ["secret-write-pointer"] = () =>
        {
            using WriteOncePool pool = new(new PoolOptions { Name = "child-secret", SecretMemory = true });
            nint p = pool.Allocate(sizeof(long));
            *(long*)p = Secret;
            pool.Protect();
            Ready();
            *(long*)p = 0x0BAD;
        },
        ["write-rare-pointer"] = () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.Write(p, BitConverter.GetBytes(0x600DL)); // the sanctioned path works...
            Ready();
            *(long*)p = 0x0BAD;                             // ...a stray store does not
        },
        ["write-rare-after-make-read-only"] = () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.MakeReadOnly();
            Ready();
            *(long*)p = 0x0BAD;
        },
        ["write-rare-pointer-during-batch"] = () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            using WriteRareBatch batch = pool.BeginWrites();
            batch.Write(p, BitConverter.GetBytes(0x600DL)); // held by the open batch: nothing is writable meanwhile
            Ready();
            *(long*)p = 0x0BAD;
        },
        ["objectcache-write"] = () =>
        {
            using ObjectCache<long> cache = new(new PoolOptions { Name = "child-cache" });
            ref readonly long secret = ref cache.Create(Secret);
            Ready();
            Unsafe.AsRef(in secret) = 0x0BAD;
        },
        ["dictionary-value-write"] = () =>
        {
            using ProtectedDictionary<int, long> rights = new Dictionary<int, long> { [1000] = 0x1, [0] = 0x7FFF }.ToProtectedDictionary();
            ref readonly long guest = ref rights.GetValueRefOrNullRef(1000);
            Ready();
            Unsafe.AsRef(in guest) = 0x7FFF;
        },
        ["dictionary-string-value-write"] = () =>
        {
            using ProtectedDictionary<ProtectedString, ProtectedString> roles = new Dictionary<string, string> { ["alice"] = "reader" }.ToProtectedDictionary();
            ReadOnlySpan<char> role = roles["alice"].AsSpan();
            Ready();
            MemoryMarshal.GetReference(role) = 'W';
        },
        ["dictionary-table-write"] = () =>
        {
            using ProtectedDictionary<int, long> rights = new Dictionary<int, long> { [1000] = 0x1 }.ToProtectedDictionary();
            Ready();
            rights.Table->Count = 0;
        },
        ["set-table-write"] = () =>
        {
            using ProtectedSet<ProtectedString> banned = new[] { "mallory" }.ToProtectedSet();
            Ready();
            banned.Table->Count = 0;
        },
        ["set-string-write"] = () =>
        {
            using ProtectedSet<ProtectedString> banned = new[] { "mallory" }.ToProtectedSet();
            ReadOnlySpan<char> name = banned.First().AsSpan();
            Ready();
            MemoryMarshal.GetReference(name) = 'W';
        },
        ["lock-over-memlock-limit"] = LockOverMemlockLimit,
        ["secret-over-memlock-limit"] = SecretOverMemlockLimit,
        ["writer-orphan"] = () =>
        {
            // Starts the writer, says which it is, then waits to be killed: the writer must die with us.
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.Publish(in *(nint*)p, 1);
            Console.WriteLine($"writer {OsWriter.ProcessId}");
            Console.Out.Flush();
            _ = Console.In.ReadLine();
        },
        ["writer-missing"] = () =>
        {
            WriterProcess.PathOverride = "/nonexistent/dir/pmalloc-writer";
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.Write(p, BitConverter.GetBytes(0x600DL)); // pwrite: needs no writer
            try
            {
                pool.Publish(in *(nint*)p, 1);
                Console.WriteLine("published without a writer");
            }
            catch (IOException e)
            {
                Console.WriteLine($"refused: {e.GetType().Name}: {e.Message}");
                Console.WriteLine($"value kept: {*(long*)p == 0x600DL}");
            }
        },
        ["windows-writer-missing"] = () =>
        {
            // Windows writes a protected chunk only through the writer: without it, every write after Protect is refused.
            if (!OperatingSystem.IsWindows())
            {
                throw new PlatformNotSupportedException("the Windows writer");
            }

            WindowsWriterProcess.PathOverride = @"C:\nonexistent\dir\pmalloc-writer.exe";
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            foreach ((string call, Action write) in new (string, Action)[]
            {
                ("Write", () => pool.Write(p, BitConverter.GetBytes(0x0BADL))),
                ("Fill", () => pool.Fill(p, 0xBA, sizeof(long))),
                ("Publish", () => pool.Publish(in *(nint*)p, 0x0BAD)),
            })
            {
                try
                {
                    write();
                    Console.WriteLine($"{call}: written without a writer");
                }
                catch (PlatformNotSupportedException e)
                {
                    Console.WriteLine($"{call} refused: {e.GetType().Name}: {e.Message}");
                }
            }

            Console.WriteLine($"value kept: {*(long*)p == Secret}");
        },
        ["writer-not-executable"] = () =>
        {
            // As NuGet extracts a package: the file is there, without its execute permission (a Unix file mode: Linux only).
            if (OperatingSystem.IsWindows())
            {
                throw new PlatformNotSupportedException("a file's execute permission is a Unix file mode");
            }

            string copy = Path.Combine(Path.GetTempPath(), $"pmalloc-writer-{Environment.ProcessId}");
            File.Copy(WriterProcess.FindExecutable() ?? throw new InvalidOperationException("setup: no pmalloc-writer"), copy, overwrite: true);
            File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            try
            {
                WriterProcess.PathOverride = copy;
                using WriteRarePool pool = ProtectedRareSecret(out nint p);
                pool.Publish(in *(nint*)p, 0x600D);
                Console.WriteLine($"published: 0x{*(nint*)p:x}");
                Console.WriteLine($"writer: {WriterProcess.Current?.Path}");
            }
            finally
            {
                File.Delete(copy);
            }
        },
        ["writer-restart"] = () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.Publish(in *(nint*)p, 1);
            int first = OsWriter.ProcessId;
            if (OperatingSystem.IsWindows())
            {
                using Process writer = Process.GetProcessById(first);
                writer.Kill();
                writer.WaitForExit();
            }
            else
            {
                _ = Native.kill(first, 9);
            }

            try
            {
                // Either the death is already known (a new writer starts) or this call finds the socket closed.
                pool.Publish(in *(nint*)p, 2);
                Console.WriteLine("right after the kill: published");
            }
            catch (IOException e)
            {
                Console.WriteLine($"right after the kill: {e.GetType().Name}: {e.Message}");
            }

            pool.Publish(in *(nint*)p, 3);
            Console.WriteLine($"first {first} second {OsWriter.ProcessId} value {*(nint*)p}");
        },
        ["refill-over-address-space-limit-metadata"] = () => RefillOverAddressSpaceLimit(headroomMiB: 128),
        ["refill-over-address-space-limit-mapping"] = () => RefillOverAddressSpaceLimit(headroomMiB: 1024),
        ["metrics-listener-reads-statistics"] = MetricsListenerReadsStatistics,
        ["read-into-protected-destination"] = ReadIntoProtectedDestination,
    };

    /// <summary>Every scenario's name.</summary>
    internal static IEnumerable<string> Names => Scenarios.Keys;

    /// <summary>Runs the scenario named by <paramref name="args"/> in this process; returns only if it was not stopped.</summary>
    internal static int Run(string[] args)
    {
        if (args is not [string name] || !(Scenarios.TryGetValue(name, out Action? scenario) || ResourceScenarios.TryGetValue(name, out scenario)))
        {
            Console.Error.WriteLine($"usage: Pmalloc.Tests {Flag} NAME, where NAME is one of: {string.Join(", ", Scenarios.Keys.Concat(ResourceScenarios.Keys))}");
            return 2;
        }

        try
        {
            scenario();
        }
#pragma warning disable CA1031 // the parent test reads what the child threw; an AccessViolationException cannot be caught anyway
        catch (Exception e)
#pragma warning restore CA1031
        {
            Console.WriteLine($"threw: {e.GetType().Name}: {e.Message}");
            return ThrewExitCode;
        }

        Console.WriteLine(SurvivedMarker);
        return 0;
    }

    /// <summary>A protected pool holding one 8-byte secret.</summary>
    private static WriteOncePool ProtectedSecret(out nint address, int chunkSize = 0)
    {
        WriteOncePool pool = new(new PoolOptions { Name = "child", ChunkSize = chunkSize > 0 ? chunkSize : Environment.SystemPageSize });
        address = pool.Allocate(sizeof(long));
        *(long*)address = Secret;
        pool.Protect();
        return pool;
    }

    /// <summary>A protected write-rare pool holding one 8-byte secret.</summary>
    private static WriteRarePool ProtectedRareSecret(out nint address, int chunkSize = 0)
    {
        WriteRarePool pool = new(new PoolOptions { Name = "child-rare", ChunkSize = chunkSize > 0 ? chunkSize : Environment.SystemPageSize });
        address = pool.Allocate(sizeof(long));
        *(long*)address = Secret;
        pool.Protect();
        return pool;
    }

    /// <summary>Announces the forbidden step, which comes next.</summary>
    private static void Ready()
    {
        Console.WriteLine(ReadyMarker);
        Console.Out.Flush();
    }

    /// <summary>
    /// A pool that locks its chunks asks for more than RLIMIT_MEMLOCK allows (with CAP_IPC_LOCK, which ignores the
    /// limit, given up first).
    /// </summary>
    private static void LockOverMemlockLimit()
    {
        const string name = "child-mlock";
        OverMemlockLimit(new PoolOptions { Name = name, LockInMemory = true, ChunkSize = 1 << 20 }, 16, () => (TestPools.MapsLinesOf(name).Length, MemfdsOf(name)));
    }

    /// <summary>
    /// A secret-memory pool asks for a chunk of 1 MiB past the limit. Older kernels refuse the mmap; newer ones (6.12,
    /// 6.18.52+) would map it and kill the process with SIGBUS at the first touch past the limit, so the pool commits the
    /// chunk when it maps it. Every page is touched if Allocate goes through.
    /// </summary>
    private static void SecretOverMemlockLimit() =>
        OverMemlockLimit(new PoolOptions { Name = "child-secret-mlock", SecretMemory = true, ChunkSize = 1 << 20 }, 1 << 20, SecretResources);

    /// <summary>
    /// Lowers RLIMIT_MEMLOCK to 64 KiB (CAP_IPC_LOCK given up first), then allocates <paramref name="size"/> bytes from a
    /// pool made with <paramref name="options"/> and writes all of them. Prints what <c>Allocate</c> threw and whether the
    /// pool and its <paramref name="resources"/> (mappings, descriptors) were left as they were.
    /// </summary>
    private static void OverMemlockLimit(PoolOptions options, int size, Func<(int Mappings, int Descriptors)> resources)
    {
        Native.DropIpcLock();
        Native.RLimit limit = new() { Current = 64 * 1024, Maximum = 64 * 1024 };
        if (Native.setrlimit(Native.RLimitMemLock, in limit) != 0)
        {
            throw new InvalidOperationException($"setup: setrlimit(RLIMIT_MEMLOCK) failed, errno {Marshal.GetLastPInvokeError()}");
        }

        using WriteOncePool pool = new(options);
        PoolStatistics before = pool.Statistics;
        (int Mappings, int Descriptors) held = resources();
        Ready();
        try
        {
            nint p = pool.Allocate((nuint)size);
            new Span<byte>((void*)p, size).Fill(0x5A);
        }
        catch (InsufficientMemoryException e)
        {
            Console.WriteLine($"refused: {e.GetType().Name}: {e.Message}");
            Console.WriteLine($"statistics unchanged: {pool.Statistics == before}");
            Console.WriteLine($"mappings and descriptors unchanged: {resources() == held}");
            return;
        }

        Console.WriteLine("Allocate went through past RLIMIT_MEMLOCK");
    }

    /// <summary>This process's secret-memory mappings and descriptors (they show as /secretmem, not by pool name).</summary>
    private static (int Mappings, int Descriptors) SecretResources() =>
        (File.ReadLines("/proc/self/maps").Count(l => l.Contains("secretmem", StringComparison.Ordinal)),
         Directory.EnumerateFiles("/proc/self/fd").Count(fd => new FileInfo(fd).LinkTarget?.Contains("secretmem", StringComparison.Ordinal) == true));

    /// <summary>How many of this process's descriptors are memfds of the pool named <paramref name="name"/>.</summary>
    private static int MemfdsOf(string name) =>
        Directory.EnumerateFiles("/proc/self/fd").Count(fd => new FileInfo(fd).LinkTarget == $"/memfd:pmalloc:{name} (deleted)");

    /// <summary>libc calls only the memlock scenario needs.</summary>
    private static partial class Native
    {
        internal const int RLimitMemLock = 8;
        private const int CapIpcLock = 14;
        private const uint LinuxCapabilityVersion3 = 0x20080522;

        [StructLayout(LayoutKind.Sequential)]
        internal struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct CapHeader
        {
            public uint Version;
            public int Pid;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct CapData
        {
            public uint Effective;
            public uint Permitted;
            public uint Inheritable;
        }

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int setrlimit(int resource, in RLimit limit);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int kill(int pid, int signal);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int capget(ref CapHeader header, CapData* data);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int capset(ref CapHeader header, CapData* data);

        /// <summary>Drops CAP_IPC_LOCK from this process, so RLIMIT_MEMLOCK applies to it (root has it by default).</summary>
        internal static void DropIpcLock()
        {
            CapHeader header = new() { Version = LinuxCapabilityVersion3 };
            CapData* data = stackalloc CapData[2];
            if (capget(ref header, data) != 0)
            {
                throw new InvalidOperationException("setup: capget failed");
            }

            data[0].Effective &= ~(1u << CapIpcLock);
            data[0].Permitted &= ~(1u << CapIpcLock);
            data[0].Inheritable &= ~(1u << CapIpcLock);
            if (capset(ref header, data) != 0)
            {
                throw new InvalidOperationException("setup: capset failed");
            }
        }
    }
}
