using System.Runtime.CompilerServices;

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
        add(new("batch-alias-after-dispose", "write through a batch's alias address kept after the batch was disposed", Outcome.AccessViolation, () =>
        {
            using WriteRarePool pool = ProtectedRareSecret(out nint p);
            nint alias;
            using (WriteRareBatch batch = pool.BeginWrites())
            {
                batch.Write(p, BitConverter.GetBytes(0x600DL));
                alias = WritableAlias(pool.Name, p);
                if (*(long*)alias != 0x600DL)
                {
                    throw new InvalidOperationException($"setup: the mapping at 0x{alias:x} does not show the batch's write");
                }
            }

            Ready();
            *(long*)alias = 0x0BAD;
        }, LinuxOnly: true)); // the alias is found through /proc/self/maps
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
    /// Where <paramref name="address"/> of pool <paramref name="poolName"/> is writable while a batch is open: the
    /// batch's alias of the chunk, a <c>rw-s</c> mapping of the chunk's memfd elsewhere in /proc/self/maps.
    /// </summary>
    private static nint WritableAlias(string poolName, nint address)
    {
        PoolMapping chunk = ProcSelf.ChunkAt(poolName, address);
        long offset = chunk.FileOffsetOf(address);
        PoolMapping alias = ProcSelf.Mappings(poolName).FirstOrDefault(m => m.Inode == chunk.Inode && m.Permissions == "rw-s" && !m.Contains(address)
                && offset >= m.Offset && offset < m.Offset + (long)m.Length)
            ?? throw new InvalidOperationException($"setup: no writable alias of the chunk at 0x{chunk.Start:x} in /proc/self/maps");
        return alias.Start + (nint)(offset - alias.Offset);
    }

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
