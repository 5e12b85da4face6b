namespace Pmalloc;

/// <summary>
/// The library's own mappings (VMAs), counted against <c>vm.max_map_count</c> (65,530 by default), so that the library
/// refuses a new chunk while the process still has room for the runtime's own mappings: the JIT, the GC and thread
/// stacks need fresh mappings too, and a runtime that cannot get one dies ("Failed to create RW mapping for RX memory")
/// instead of throwing.
/// </summary>
/// <remarks>
/// <para><b>The rule.</b> A chunk (or a long-lived alias) is refused when the process's mappings plus the new ones would
/// come within <see cref="Reserve"/> of the limit: <c>vm.max_map_count / 16</c>, at least 1,024 (4,095 of the default
/// 65,530). The refusal is an <see cref="OsResult"/> with errno ENOMEM and the call <c>vm.max_map_count</c>, which the
/// pool turns into an exception naming the limit and the count.</para>
/// <para><b>The count.</b> The library's own VMAs are counted exactly as it maps and unmaps (<see cref="Own"/>; merged
/// neighbours only make it an overestimate). The rest of the process is counted from <c>/proc/self/maps</c> at the first
/// chunk and again each time the library's count has grown by a quarter of the room that was left (so a few dozen times
/// on the way to the limit, not per chunk), and whenever the estimate comes near the limit. Growth of other code between
/// two counts is what the reserve absorbs.</para>
/// <para><b>No fresh mapping on the way out.</b> The count reads <c>/proc</c> with raw <c>read</c> calls into a stack buffer,
/// and the refusal happens while the reserve is still free, so the exception's own allocation and JIT can still map.</para>
/// </remarks>
internal static unsafe class MappingBudget
{
    /// <summary>The kernel's default <c>vm.max_map_count</c>, used where <c>/proc/sys/vm/max_map_count</c> cannot be read.</summary>
    internal const int DefaultLimit = 65_530;

    private static readonly Lock s_gate = new();
    private static int s_limit;
    private static int s_own;
    private static int s_others;
    private static int s_lastCount = -1;
    private static int s_recountAt;

    /// <summary><c>vm.max_map_count</c>, read once.</summary>
    internal static int Limit
    {
        get
        {
            int limit = Volatile.Read(ref s_limit);
            if (limit == 0)
            {
                limit = ReadNumber("/proc/sys/vm/max_map_count\0"u8) is > 0 and var read and <= int.MaxValue ? (int)read : DefaultLimit;
                Volatile.Write(ref s_limit, limit);
            }

            return limit;
        }
    }

    /// <summary>The mappings the library leaves free for everyone else in the process: <c>Limit / 16</c>, at least 1,024.</summary>
    internal static int Reserve => Math.Max(1024, Limit / 16);

    /// <summary>The VMAs the library holds now (chunks, guard mappings, aliases).</summary>
    internal static int Own => Volatile.Read(ref s_own);

    /// <summary>The process's mappings at the last count of <c>/proc/self/maps</c>, or -1 if none was taken.</summary>
    internal static int LastCount => Volatile.Read(ref s_lastCount);

    /// <summary>
    /// Counts <paramref name="vmas"/> new mappings against the budget, or refuses them (errno ENOMEM, call
    /// <c>vm.max_map_count</c>) and counts nothing. <see cref="Release"/> gives them back.
    /// </summary>
    internal static OsResult TryReserve(int vmas, nuint chunkLength)
    {
        int own = Interlocked.Add(ref s_own, vmas);
        if (own >= Volatile.Read(ref s_recountAt) || own + Volatile.Read(ref s_others) + Reserve > Limit)
        {
            if (!Recount(vmas))
            {
                _ = Interlocked.Add(ref s_own, -vmas);
                return OsResult.Fail(Interop.Errno.ENOMEM, "vm.max_map_count", $"map a chunk of {chunkLength} bytes");
            }
        }

        return OsResult.Ok;
    }

    /// <summary>Gives back mappings counted by <see cref="TryReserve"/> (after they were unmapped, or their mapping failed).</summary>
    internal static void Release(int vmas) => _ = Interlocked.Add(ref s_own, -vmas);

    /// <summary>Counts the process's mappings again; true if the library's, with <paramref name="pending"/> more, still fit.</summary>
    private static bool Recount(int pending)
    {
        lock (s_gate)
        {
            int total = CountMappings();
            int own = Volatile.Read(ref s_own);
            int limit = Limit, reserve = Reserve;
            if (total >= 0)
            {
                // The pending mappings are counted in s_own but not mapped yet, so not in the total.
                s_others = Math.Max(0, total - (own - pending));
                s_lastCount = total;
            }

            int room = limit - reserve - s_others - own;
            Volatile.Write(ref s_recountAt, own + Math.Max(64, room / 4));
            return room >= 0;
        }
    }

    /// <summary>The lines of <c>/proc/self/maps</c> (one per VMA), read without a managed stream; -1 if it cannot be read.</summary>
    private static int CountMappings()
    {
        int fd = Open("/proc/self/maps\0"u8);
        if (fd < 0)
        {
            return -1;
        }

        const int BufferSize = 16 * 1024;
        byte* buffer = stackalloc byte[BufferSize];
        int lines = 0;
        while (true)
        {
            nint read = Interop.read(fd, buffer, BufferSize);
            if (read < 0 && Interop.LastErrno == Interop.Errno.EINTR)
            {
                continue;
            }

            if (read <= 0)
            {
                _ = Interop.close(fd);
                return read < 0 ? -1 : lines;
            }

            lines += new ReadOnlySpan<byte>(buffer, (int)read).Count((byte)'\n');
        }
    }

    /// <summary>The decimal number at the start of a small /proc file, or -1.</summary>
    private static long ReadNumber(ReadOnlySpan<byte> path)
    {
        int fd = Open(path);
        if (fd < 0)
        {
            return -1;
        }

        byte* buffer = stackalloc byte[32];
        nint read = Interop.read(fd, buffer, 32);
        _ = Interop.close(fd);
        return read > 0 && System.Buffers.Text.Utf8Parser.TryParse(new ReadOnlySpan<byte>(buffer, (int)read), out long value, out _) ? value : -1;
    }

    /// <summary>Opens a NUL-terminated path read-only: a raw descriptor, or -1.</summary>
    private static int Open(ReadOnlySpan<byte> path)
    {
        fixed (byte* p = path)
        {
            return Interop.open(p, Interop.OReadOnly | Interop.OCloseOnExec);
        }
    }
}
