using static Pmalloc.WriterProtocol;

namespace Pmalloc;

/// <summary>
/// The writer contract on Linux: the writer process (<see cref="WriterProcess"/>) receives each chunk's memfd over a
/// Unix socket (SCM_RIGHTS) with the chunk's offset and length in it, maps that range in its own address space, and
/// does each store there: one atomic instruction for the 8-byte operations, memcpy or memset for the others.
/// </summary>
internal static unsafe class LinuxWriter
{
    internal static int ProcessId => WriterProcess.Current?.Pid ?? 0;

    internal static OsResult TryRegister(ChunkMapping mapping, out WriterRegistration? registration)
    {
        registration = null;
        string attempt = $"map a chunk of {mapping.Length} bytes in the write-rare writer process";
        if (!mapping.HasBacking)
        {
            return OsResult.Fail(Interop.Errno.EBADF, "sendmsg", $"{attempt}: the chunk's memfd was closed");
        }

        OsResult started = WriterProcess.TryGet(out WriterProcess? writer);
        if (started.Failed)
        {
            return started;
        }

        RegisterFlags flags = RegisterFlags.None;
        if (!mapping.IsSecret)
        {
            // memfd_secret mappings are locked and left out of dumps by the kernel itself (and take no mlock).
            flags |= (mapping.Flags & ChunkFlags.ExcludeFromCoreDumps) != 0 ? RegisterFlags.DontDump : 0;
            flags |= (mapping.Flags & ChunkFlags.LockInMemory) != 0 ? RegisterFlags.Lock : 0;
        }

        Request request = new()
        {
            Op = Op.Register,
            Flags = flags,
            Offset = checked((ulong)mapping.BackingOffset),
            Length = mapping.Length,
        };
        OsResult result = Call(writer!, ref request, mapping.Fd, null, 0, attempt, mapping.IsSecret, out ulong handle);
        if (!result.Failed)
        {
            registration = new WriterRegistration(writer!.Generation, handle, mapping.Length);
        }

        return result;
    }

    /// <summary>The generation of the writer running now, or -1.</summary>
    internal static long Generation => WriterProcess.Current?.Generation ?? -1;

    /// <summary>The failure of a request whose writer is gone.</summary>
    internal static OsResult Gone(string attempt) =>
        OsResult.Fail(Interop.Errno.EPIPE, "sendmsg", $"{attempt}: the writer process that mapped this chunk is gone");

    /// <summary>One request over the writer's socket, on the writer that holds <paramref name="registration"/>; a stale one fails without a system call.</summary>
    internal static OsResult TrySend(WriterRegistration registration, WriterOp op, nuint offset, nuint length, ulong value, ulong comparand, byte* payload, string attempt, out ulong result)
    {
        result = 0;
        if (WriterProcess.Current is not { } writer || writer.Generation != registration.Writer)
        {
            return Gone(attempt);
        }

        Request request = new()
        {
            Op = op switch
            {
                WriterOp.Unregister => Op.Unregister,
                WriterOp.Store => Op.Store,
                WriterOp.Add => Op.Add,
                WriterOp.CompareExchange => Op.CompareExchange,
                WriterOp.Write => Op.Write,
                _ => Op.Fill,
            },
            Handle = registration.Handle,
            Offset = offset,
            Length = length,
            Value = value,
            Comparand = comparand,
        };
        return Call(writer, ref request, null, payload, op == WriterOp.Write ? length : 0, attempt, false, out result);
    }

    private static OsResult Call(WriterProcess writer, ref Request request, SafeFdHandle? fd, byte* payload, nuint payloadLength, string attempt, bool secret, out ulong value)
    {
        value = 0;
        OsResult sent = writer.TryCall(ref request, fd, payload, payloadLength, attempt, out Reply reply);
        if (sent.Failed)
        {
            return sent;
        }

        if (reply.Error != 0)
        {
            // Named after the call that failed in the writer, so ThrowHelper recognizes a RLIMIT_MEMLOCK failure.
            string call = reply.Stage switch
            {
                Stage.Mmap => secret ? "mmap(memfd_secret)" : "mmap",
                Stage.Mlock => "mlock2",
                Stage.Madvise => "madvise(MADV_DONTDUMP)",
                _ => "pmalloc-writer",
            };
            return OsResult.Fail(reply.Error, call, $"{attempt} (pid {writer.Pid})");
        }

        value = reply.Value;
        return OsResult.Ok;
    }
}
