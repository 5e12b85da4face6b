using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>
/// The racing-thread attacks of the write-rare issue, as an attacker in the process would run them: a thread that scans
/// /proc/self/maps for any writable mapping of a pool's memory, and writes through whatever it finds, while another
/// thread runs a storm of every write-rare call. It must never find one: after Protect no mapping of a write-rare
/// pool's memory is writable in this process, at any moment (the writer process holds the only one, elsewhere).
/// </summary>
public sealed unsafe class NoWindowTests
{
    private const long Secret = 0x5EC12E7;
    private const long Evil = 0x0BAD;

    /// <summary>What the attacker thread saw.</summary>
    private sealed class Attacker
    {
        private readonly string _path;
        private (nint Start, nint End)[] _public;
        private readonly Thread _thread;
        private volatile bool _stop;

        internal Attacker(WriteRarePool pool)
        {
            _path = MapsEntry.PoolPath(pool.Name);
            _public = [.. pool.Chunks.Select(c => (c.Start, c.End))];
            _thread = new Thread(Run) { IsBackground = true };
            _thread.Start();
        }

        internal int Scans { get; private set; }

        internal List<string> Found { get; } = [];

        /// <summary>
        /// Before the pool is destroyed: its address ranges may be reused by any mapping once unmapped, so from now on
        /// only mappings of its memfd (by name, which a mapping made writable for a wipe would still show) count.
        /// </summary>
        internal void ForgetAddresses() => Volatile.Write(ref _public, []);

        internal void Stop()
        {
            _stop = true;
            _thread.Join();
        }

        private void Run()
        {
            while (!_stop)
            {
                foreach (MapsEntry m in MapsEntry.Read())
                {
                    bool ours = m.Path == _path || Volatile.Read(ref _public).Any(r => m.Start < r.End && r.Start < m.End);
                    if (ours && m.IsWritable)
                    {
                        Found.Add($"{m.Start:x}-{m.End:x} {m.Permissions} {m.Path}");

                        // Write through it, as the attacker of the issue did: every word of the mapping.
                        for (nint p = m.Start; p + sizeof(long) <= m.End; p += sizeof(long))
                        {
                            Volatile.Write(ref *(long*)p, Evil);
                        }
                    }
                }

                Scans++;
            }
        }
    }

    private static WriteRarePool ProtectedPool(out long* secret, out nint area, bool secretMemory = false, [CallerMemberName] string test = "")
    {
        WriteRarePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = TestPools.UniqueName(test), SecretMemory = secretMemory }));
        secret = (long*)Unsafe.AsPointer(ref pool.Allocate<long>());
        *secret = Secret;
        area = pool.Allocate(4096);
        pool.Protect();
        return pool;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_thread_scanning_maps_during_a_storm_of_every_write_rare_call_never_finds_a_writable_mapping(bool secretMemory)
    {
        Platform.RequireLinux("scans /proc/self/maps (Windows: WindowsWriterTests scans VirtualQuery)");
        using WriteRarePool pool = ProtectedPool(out long* secret, out nint area, secretMemory);
        Attacker attacker = new(pool);
        try
        {
            for (int i = 0; i < 600; i++)
            {
                nint target = area + ((i * 72) % (4096 - 64));
                long* word = (long*)(target & ~7);
                switch (i % 8)
                {
                    case 0:
                        pool.Write(target, new byte[64]);
                        break;
                    case 1:
                        pool.Fill(target, unchecked((byte)i), 64);
                        break;
                    case 2:
                        pool.Write(in *word, (long)i);
                        break;
                    case 3:
                        pool.Publish(in *(nint*)word, i);
                        break;
                    case 4:
                        pool.Add(in *word, 1);
                        break;
                    case 5:
                        pool.CompareExchange(in *word, i, *word);
                        break;
                    default:
                        using (WriteRareBatch batch = pool.BeginWrites())
                        {
                            for (int j = 0; j < 16; j++)
                            {
                                batch.Write(in word[j % 8], (long)j);
                            }

                            batch.Fill(target + 32, 1, 16);
                            batch.Flush();
                            batch.Publish(in *(nint*)word, i);
                            batch.Write(in word[1], (long)i);
                        }

                        break;
                }
            }
        }
        finally
        {
            attacker.Stop();
        }

        Assert.Empty(attacker.Found);
        Assert.True(attacker.Scans > 0);
        Assert.Equal(Secret, *secret);
    }

    [Fact]
    public void A_thread_scanning_maps_while_pools_are_made_read_only_and_destroyed_never_finds_a_writable_mapping()
    {
        Platform.RequireLinux("scans /proc/self/maps (Windows: WindowsWriterTests scans VirtualQuery)");
        // The wipe on destroy writes zeros through the memfd: no mapping is made writable for it either.
        for (int round = 0; round < 20; round++)
        {
            WriteRarePool pool = ProtectedPool(out long* secret, out nint area);
            pool.Publish(in *(nint*)area, 1);
            Attacker attacker = new(pool);
            try
            {
                if (round % 2 == 0)
                {
                    pool.MakeReadOnly();
                }

                using (WriteRareBatch batch = round % 2 == 0 ? null! : pool.BeginWrites())
                {
                    batch?.Write(in *(long*)(area + 8), 5L);
                    attacker.ForgetAddresses();
                    pool.Dispose(); // drops what the batch holds
                }
            }
            finally
            {
                attacker.Stop();
            }

            Assert.Empty(attacker.Found);
        }
    }
}
