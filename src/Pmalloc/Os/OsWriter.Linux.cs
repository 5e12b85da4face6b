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

    internal static void Unregister(WriterRegistration registration)
    {
        if (registration.IsReleased)
        {
            return;
        }

        registration.IsReleased = true;
        if (WriterProcess.Current is { } writer && writer.Generation == registration.Writer)
        {
            Request request = new() { Op = Op.Unregister, Handle = registration.Handle };

            // Intentionally ignore failure: a writer that cannot answer is gone, and its mappings with it.
            _ = Call(writer, ref request, null, null, 0, "unmap a chunk in the write-rare writer process", false, out _);
        }
    }

    internal static bool IsLive(WriterRegistration registration) =>
        !registration.IsReleased && WriterProcess.Current is { } writer && writer.Generation == registration.Writer;

    internal static OsResult TryStore(WriterRegistration registration, nuint offset, long value)
    {
        Request request = new() { Op = Op.Store, Offset = offset, Value = unchecked((ulong)value) };
        return Word(registration, ref request, "store 8 bytes through the write-rare writer process", out _);
    }

    internal static OsResult TryAdd(WriterRegistration registration, nuint offset, long delta, out long result)
    {
        Request request = new() { Op = Op.Add, Offset = offset, Value = unchecked((ulong)delta) };
        OsResult outcome = Word(registration, ref request, "add to 8 bytes through the write-rare writer process", out ulong value);
        result = unchecked((long)value);
        return outcome;
    }

    internal static OsResult TryCompareExchange(WriterRegistration registration, nuint offset, long value, long comparand, out long original)
    {
        Request request = new() { Op = Op.CompareExchange, Offset = offset, Value = unchecked((ulong)value), Comparand = unchecked((ulong)comparand) };
        OsResult outcome = Word(registration, ref request, "compare-exchange 8 bytes through the write-rare writer process", out ulong old);
        original = unchecked((long)old);
        return outcome;
    }

    internal static OsResult TryWrite(WriterRegistration registration, nuint offset, byte* source, nuint length)
    {
        System.Diagnostics.Debug.Assert(offset <= registration.Length && length <= registration.Length - offset);
        while (length > 0)
        {
            nuint piece = Math.Min(length, MaxData);
            Request request = new() { Op = Op.Write, Handle = registration.Handle, Offset = offset, Length = piece };
            OsResult result = CallLive(registration, ref request, source, piece, $"write {piece} bytes through the write-rare writer process", out _);
            if (result.Failed)
            {
                return result;
            }

            source += piece;
            offset += piece;
            length -= piece;
        }

        return OsResult.Ok;
    }

    internal static OsResult TryFill(WriterRegistration registration, nuint offset, byte value, nuint length)
    {
        System.Diagnostics.Debug.Assert(offset <= registration.Length && length <= registration.Length - offset);
        Request request = new() { Op = Op.Fill, Handle = registration.Handle, Offset = offset, Length = length, Value = value };
        return length == 0 ? OsResult.Ok : CallLive(registration, ref request, null, 0, $"fill {length} bytes through the write-rare writer process", out _);
    }

    private static OsResult Word(WriterRegistration registration, ref Request request, string attempt, out ulong value)
    {
        System.Diagnostics.Debug.Assert(request.Offset % 8 == 0 && request.Offset + 8 <= registration.Length);
        request.Handle = registration.Handle;
        return CallLive(registration, ref request, null, 0, attempt, out value);
    }

    /// <summary>A call on the writer that holds <paramref name="registration"/>; a stale one fails without a system call.</summary>
    private static OsResult CallLive(WriterRegistration registration, ref Request request, byte* payload, nuint payloadLength, string attempt, out ulong value)
    {
        value = 0;
        if (WriterProcess.Current is not { } writer || writer.Generation != registration.Writer || registration.IsReleased)
        {
            return OsResult.Fail(Interop.Errno.EPIPE, "sendmsg", $"{attempt}: the writer process that mapped this chunk is gone");
        }

        return Call(writer, ref request, null, payload, payloadLength, attempt, false, out value);
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
