using System.Runtime.CompilerServices;
using Pmalloc.Bench.Native;

namespace Pmalloc.Cli;

/// <summary>The write-rare and object-cache cases: the write-rare path opens no window a stray write could use.</summary>
internal static unsafe partial class Attacks
{
    static partial void AddWriteRareCases(Action<Attack> add)
    {
        add(new("write-rare-pointer", "write through a pointer to a protected write-rare pool", Outcome.AccessViolation, () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.Write(p, BitConverter.GetBytes(0x600DL)); // the sanctioned path works...
            Ready();
            *(long*)p = 0x0BAD;                             // ...a stray store does not
        }));
        add(new("objectcache-write", "write through the read-only reference of an ObjectCache object", Outcome.AccessViolation, () =>
        {
            using ObjectCache<long> cache = new(new PoolOptions { Name = "attack" });
            ref readonly long secret = ref cache.Create(0x5EC12E7);
            Ready();
            Unsafe.AsRef(in secret) = 0x0BAD;
        }));
        add(new("write-rare-pointer-during-batch", "write through a pointer while a batch holds writes to the pool", Outcome.AccessViolation, () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            using WriteRareBatch batch = pool.BeginWrites();
            batch.Write(p, BitConverter.GetBytes(0x600DL));
            Ready();
            *(long*)p = 0x0BAD;
        }));
        add(new("batch-writable-mapping", "find a writable mapping of a write-rare pool in /proc/self/maps during a storm of batches, and write through it",
            Outcome.FoundNothing, () => RaceForWritableMapping("batches", (pool, area, i) =>
            {
                using WriteRareBatch batch = pool.BeginWrites();
                for (int j = 0; j < 32; j++)
                {
                    batch.Write(in *(long*)(area + (j * 16)), (long)(i + j));
                }

                batch.Flush();
                batch.Publish(in *(nint*)area, i);
                batch.Fill(area + 8, unchecked((byte)i), 8);
            }), LinuxOnly: true)); // scans /proc/self/maps (Windows: WindowsWriterTests scans VirtualQuery)
        add(new("publish-writable-mapping", "the same during a storm of Publish, Add and CompareExchange",
            Outcome.FoundNothing, () => RaceForWritableMapping("Publish, Add and CompareExchange calls", (pool, area, i) =>
            {
                pool.Publish(in *(nint*)area, i);
                pool.Add(in *(long*)(area + 8), 1);
                pool.CompareExchange(in *(long*)(area + 16), i, i - 1);
            }), LinuxOnly: true));
        add(new("batch-core-dump", "look for a secret of an ExcludeFromCoreDumps write-rare pool in a core dump (gcore) taken while a batch holds a copy of it",
            Outcome.FoundNothing, () => CoreDumpDuringBatch(excludeFromCoreDumps: true), LinuxOnly: true)); // gcore
        add(new("core-dump-unhardened", "the same attack on a pool without ExcludeFromCoreDumps: the method finds the secret (a control)",
            Outcome.NotBlocked, () => CoreDumpDuringBatch(excludeFromCoreDumps: false), LinuxOnly: true));
        add(new("write-after-make-read-only", "write through a pointer after MakeReadOnly", Outcome.AccessViolation, () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.MakeReadOnly();
            Ready();
            *(long*)p = 0x0BAD;
        }));
        add(new("write-rare-after-make-read-only", "write-rare Write after MakeReadOnly", Outcome.Refused, () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            pool.MakeReadOnly();
            Ready();
            pool.Write(p, BitConverter.GetBytes(0x0BADL));
        }));
        add(new("write-rare-foreign-target", "write-rare Write to an address outside the pool's allocations", Outcome.Refused, () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            Ready();
            pool.Write(p + sizeof(long), BitConverter.GetBytes(0x0BADL));
        }));
    }

    /// <summary>
    /// The racing-thread attack of the write-rare issue: one thread scans /proc/self/maps for any writable mapping of the
    /// pool's memfd (found by name, as an attacker knowing only the pool's name would) and writes through each it finds,
    /// while this thread runs <paramref name="storm"/> (2,000 times, and on until 200 scans). It survives (the secret changed) or finds nothing.
    /// </summary>
    private static void RaceForWritableMapping(string what, Action<WriteRarePool, nint, int> storm)
    {
        using WriteRarePool pool = new(new PoolOptions { Name = "attack-race" });
        long* secret = (long*)pool.Allocate(sizeof(long));
        *secret = Secret;
        nint area = pool.Allocate(4096);
        pool.Protect();
        long offset = ProcSelf.ChunkAt(pool.Name, (nint)secret).FileOffsetOf((nint)secret);

        string? found = null;
        int scans = 0, rounds = 0;
        bool stop = false;
        Thread attacker = new(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                foreach (PoolMapping m in ProcSelf.Mappings(pool.Name))
                {
                    if (m.Permissions.Contains('w', StringComparison.Ordinal) && offset >= m.Offset && offset < m.Offset + (long)m.Length)
                    {
                        *(long*)(m.Start + (nint)(offset - m.Offset)) = 0x0BAD;
                        found ??= $"{m.Start:x}-{m.End:x} {m.Permissions} {m.Path}";
                    }
                }

                Interlocked.Increment(ref scans);
            }
        });

        Ready();
        attacker.Start();
        try
        {
            // At least 2,000 rounds, and on until the attacker has scanned the maps 200 times (at most 100,000 rounds).
            for (int i = 0; i < 100_000 && (i < 2000 || Volatile.Read(ref scans) < 200); i++)
            {
                storm(pool, area, i);
                rounds = i + 1;
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            attacker.Join();
        }

        if (found is not null)
        {
            Console.WriteLine($"wrote through {found}; the protected value is now 0x{*secret:x}");
            return;
        }

        RequireIntact((nint)secret, "the scan");
        throw new FoundNothingException($"{scans} scans of /proc/self/maps during {rounds} rounds of {what} found no writable mapping of the pool; the value is intact");
    }

    /// <summary>
    /// A core dump of this process (gdb's gcore, which leaves out what MADV_DONTDUMP marks), taken while one batch holds a
    /// copy of a 32-byte random secret and another thread flushes batches that rewrite it; then a search of the dump for the
    /// secret. The secret is read back only after the dump, so the search itself puts no copy in it.
    /// </summary>
    private static void CoreDumpDuringBatch(bool excludeFromCoreDumps)
    {
        string gcore = FindOnPath("gcore") ?? throw new InvalidOperationException("setup: gcore (from gdb) is not installed; this attack needs it to take the core dump");
        using WriteRarePool pool = new(new PoolOptions { Name = "attack-dump", ExcludeFromCoreDumps = excludeFromCoreDumps });
        nint secret = pool.Allocate(32);
        nint neighbour = pool.Allocate(64);
        System.Security.Cryptography.RandomNumberGenerator.Fill(new Span<byte>((void*)secret, 32));
        pool.Protect();

        // Let a child attach (Yama's ptrace_scope 1 allows only ancestors otherwise).
        _ = Libc.prctl(Libc.PrSetPtracer, Libc.PrSetPtracerAny, 0, 0, 0);
        string core = Path.Combine(Path.GetTempPath(), $"pmalloc-attack-core-{Environment.ProcessId}");
        using WriteRareBatch held = pool.BeginWrites();
        held.Write(secret, new ReadOnlySpan<byte>((void*)secret, 32)); // a copy of the secret, held until the flush
        held.Write(in *(long*)neighbour, 1L);

        bool stop = false;
        Thread flusher = new(() =>
        {
            for (long i = 0; !Volatile.Read(ref stop); i++)
            {
                using WriteRareBatch batch = pool.BeginWrites();
                batch.Write(secret, new ReadOnlySpan<byte>((void*)secret, 32));
                batch.Write(in *(long*)(neighbour + 8), i); // the flush assembles one run of both, around the secret
            }
        });
        flusher.Start();
        Ready();
        string file = $"{core}.{Environment.ProcessId}";
        try
        {
            System.Diagnostics.ProcessStartInfo start = new(gcore, ["-o", core, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };

            // gcore is a script that runs gdb and a few utilities: give it the standard places even under a bare PATH.
            start.Environment["PATH"] = SearchPath;
            using (System.Diagnostics.Process dump = System.Diagnostics.Process.Start(start)!)
            {
                string output = dump.StandardOutput.ReadToEnd() + dump.StandardError.ReadToEnd();
                dump.WaitForExit();
                if (!File.Exists(file))
                {
                    throw new InvalidOperationException($"gcore wrote no core dump (exit {dump.ExitCode}): {output.Trim().Split('\n').LastOrDefault()}");
                }
            }

            Volatile.Write(ref stop, true);
            flusher.Join();
            long size = new FileInfo(file).Length;
            long at = Find(file, new ReadOnlySpan<byte>((void*)secret, 32));
            if (at >= 0)
            {
                Console.WriteLine($"the secret is in the core dump ({size} bytes) at offset {at}");
                return;
            }

            throw new FoundNothingException($"the core dump ({size} bytes, taken by gcore while a batch held a copy of the secret) holds no copy of the 32-byte secret");
        }
        finally
        {
            Volatile.Write(ref stop, true);
            flusher.Join();
            File.Delete(file);
        }
    }

    /// <summary>The offset of the first occurrence of <paramref name="needle"/> in the file, or -1.</summary>
    private static long Find(string path, ReadOnlySpan<byte> needle)
    {
        using FileStream stream = File.OpenRead(path);
        byte[] buffer = new byte[(1 << 20) + needle.Length];
        long position = 0;
        int kept = 0;
        int read;
        while ((read = stream.Read(buffer, kept, buffer.Length - kept)) > 0)
        {
            int length = kept + read;
            int index = buffer.AsSpan(0, length).IndexOf(needle);
            if (index >= 0)
            {
                return position + index;
            }

            kept = Math.Min(needle.Length - 1, length);
            buffer.AsSpan(length - kept, kept).CopyTo(buffer);
            position += length - kept;
        }

        return -1;
    }

    /// <summary>The PATH, then the standard places (a NativeAOT check runs the attacks under a bare PATH).</summary>
    private static string SearchPath => $"{Environment.GetEnvironmentVariable("PATH")}:/usr/local/bin:/usr/bin:/bin".TrimStart(':');

    private static string? FindOnPath(string program) =>
        SearchPath.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    /// <summary>A protected write-rare pool holding one 8-byte secret.</summary>
    private static WriteRarePool ProtectedRareSecret(out nint address)
    {
        WriteRarePool pool = new(new PoolOptions { Name = "attack" });
        address = pool.Allocate(sizeof(long));
        *(long*)address = 0x5EC12E7;
        pool.Protect();
        return pool;
    }
}
