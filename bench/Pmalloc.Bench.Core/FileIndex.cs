using System.IO.Enumeration;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc.Bench;

/// <summary>What the mount-time index keeps per file.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct FileMeta(long Size, long ModifiedTicks);

/// <summary>
/// Files under a directory, as a loader reads them: paths in one char buffer (so every index must make
/// its own copy of the text, as it would reading the file system), sizes and modification times.
/// </summary>
public sealed class FileRecords
{
    private readonly char[] _text;
    private readonly int[] _starts;

    private FileRecords(char[] text, int[] starts, FileMeta[] metas)
    {
        _text = text;
        _starts = starts;
        Metas = metas;
    }

    public int Count => Metas.Length;

    public FileMeta[] Metas { get; }

    /// <summary>All the path text, in chars.</summary>
    public int TextLength => _starts[^1];

    public ReadOnlySpan<char> Path(int i) => _text.AsSpan(_starts[i], _starts[i + 1] - _starts[i]);

    /// <summary>Walks <paramref name="root"/> (regular files, symlinks not followed, unreadable folders skipped), keeping at most <paramref name="limit"/>.</summary>
    public static FileRecords Load(string root, int limit)
    {
        EnumerationOptions options = new() { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 };
        FileSystemEnumerable<(string Path, FileMeta Meta)> files = new(root,
            (ref FileSystemEntry e) => (e.ToFullPath(), new FileMeta(e.Length, e.LastWriteTimeUtc.UtcTicks)), options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => !e.IsDirectory,
        };

        List<char> text = [];
        List<int> starts = [0];
        List<FileMeta> metas = [];
        foreach ((string path, FileMeta meta) in files.Take(limit))
        {
            text.AddRange(path);
            starts.Add(text.Count);
            metas.Add(meta);
        }

        return new FileRecords([.. text], [.. starts], [.. metas]);
    }
}

/// <summary>
/// The file index in a write-once pool: the path text (UTF-16, compared without transcoding), the entries
/// and an open-addressing bucket array, all in the pool, protected once built. Nothing of it is on the GC heap.
/// </summary>
/// <remarks>
/// A bucket holds the path's 32-bit hash and its entry number, so a probe that meets another path's bucket
/// rejects it without touching the entry or the text (one cache miss fewer per miss).
/// </remarks>
public sealed unsafe class PoolFileIndex : IDisposable
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        public int TextStart;
        public int Length;
        public FileMeta Meta;
    }

    private readonly char* _text;
    private readonly Entry* _entries;
    private readonly ulong* _buckets;
    private readonly int _mask;

    private PoolFileIndex(WriteOncePool pool, char* text, Entry* entries, ulong* buckets, int mask, int count)
    {
        Pool = pool;
        _text = text;
        _entries = entries;
        _buckets = buckets;
        _mask = mask;
        Count = count;
    }

    public WriteOncePool Pool { get; }

    public int Count { get; }

    /// <summary>Builds the index into a new pool named <paramref name="poolName"/> and protects it.</summary>
    public static PoolFileIndex Build(FileRecords records, string poolName)
    {
        WriteOncePool pool = new(new PoolOptions { Name = poolName });
        // Load factor 0.5 to 0.8: buckets are 8 bytes, and a probe that meets another path's bucket costs one compare.
        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, records.Count + (records.Count / 4)));
        char* text = (char*)Unsafe.AsPointer(ref pool.AllocateArray<char>(Math.Max(1, records.TextLength))[0]);
        Entry* entries = (Entry*)Unsafe.AsPointer(ref pool.AllocateArray<Entry>(Math.Max(1, records.Count))[0]);
        ulong* buckets = (ulong*)Unsafe.AsPointer(ref pool.AllocateArray<ulong>(capacity)[0]);
        int mask = capacity - 1;
        int at = 0;
        for (int i = 0; i < records.Count; i++)
        {
            ReadOnlySpan<char> path = records.Path(i);
            path.CopyTo(new Span<char>(text + at, path.Length));
            entries[i] = new Entry { TextStart = at, Length = path.Length, Meta = records.Metas[i] };
            at += path.Length;

            // A bucket is hash << 32 | entry + 1; 0 is empty. Duplicate paths cannot occur in a directory walk.
            uint hash = Hash(path);
            int b = (int)hash & mask;
            while (buckets[b] != 0)
            {
                b = (b + 1) & mask;
            }

            buckets[b] = ((ulong)hash << 32) | (uint)(i + 1);
        }

        pool.Protect();
        return new PoolFileIndex(pool, text, entries, buckets, mask, records.Count);
    }

    public bool TryGetValue(ReadOnlySpan<char> path, out FileMeta meta)
    {
        uint hash = Hash(path);
        int b = (int)hash & _mask;
        while (true)
        {
            ulong bucket = _buckets[b];
            if (bucket == 0)
            {
                meta = default;
                return false;
            }

            if ((uint)(bucket >> 32) == hash)
            {
                Entry* e = _entries + ((uint)bucket - 1);
                if (path.SequenceEqual(new ReadOnlySpan<char>(_text + e->TextStart, e->Length)))
                {
                    meta = e->Meta;
                    return true;
                }
            }

            b = (b + 1) & _mask;
        }
    }

    public void Dispose() => Pool.Dispose();

    /// <summary>A fast 64-bit multiply-mix hash over the UTF-16 bytes, two independent lanes per 16 bytes.</summary>
    /// <remarks>Not keyed: fine for an index built from trusted data in one process; <c>ProtectedDictionary</c> is the general answer.</remarks>
    internal static uint Hash(ReadOnlySpan<char> text)
    {
        ReadOnlySpan<byte> b = MemoryMarshal.AsBytes(text);
        ulong h1 = 0x9E3779B97F4A7C15UL ^ (ulong)b.Length, h2 = 0xC2B2AE3D27D4EB4FUL;
        while (b.Length >= 16)
        {
            h1 = Mix(h1 ^ MemoryMarshal.Read<ulong>(b));
            h2 = Mix(h2 ^ MemoryMarshal.Read<ulong>(b[8..]));
            b = b[16..];
        }

        if (b.Length >= 8)
        {
            h1 = Mix(h1 ^ MemoryMarshal.Read<ulong>(b));
            b = b[8..];
        }

        ulong tail = 0;
        for (int i = 0; i < b.Length; i++)
        {
            tail |= (ulong)b[i] << (8 * i);
        }

        ulong h = Mix(h1 ^ Mix(h2 ^ tail));
        return (uint)(h ^ (h >> 32));

        static ulong Mix(ulong x)
        {
            x *= 0xBF58476D1CE4E5B9UL;
            return x ^ (x >> 31);
        }
    }
}
