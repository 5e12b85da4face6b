using System.Diagnostics;

namespace Pmalloc;

/// <summary>
/// The writer contract: stores into a chunk whose every mapping in this process is read-only, done by a separate,
/// sandboxed writer process that holds the only writable mapping, in its own address space. Stated and written once
/// here; each OS supplies only how a chunk is handed to the writer and how one request travels (<c>TryRegister</c> and
/// <c>TrySend</c> of <see cref="LinuxWriter"/> in <c>OsWriter.Linux.cs</c> and <see cref="WindowsWriter"/> in
/// <c>OsWriter.Windows.cs</c>), dispatched like <see cref="OsMemory"/>. It knows no pool.
/// </summary>
/// <remarks>
/// <para>What it is for: the stores that must be single-copy atomic to lock-free readers (<see cref="TryStore"/>,
/// <see cref="TryAdd"/>, <see cref="TryCompareExchange"/>, each one atomic instruction in the writer), and every write
/// into backing that takes no <c>pwrite</c> (secret memory: <see cref="TryWrite"/>, <see cref="TryFill"/>).</para>
/// <para>The writer is started by the first call that needs it and shared by every pool of the process; it lives until
/// the process exits. If it dies, the call in flight fails and the next one starts a new writer (registrations with the
/// old one are stale, <see cref="IsLive"/>).</para>
/// <para><b>Preconditions:</b> offsets are inside the registered length (the writer checks them again, and refuses any
/// it cannot honour); 8-byte operations are 8-byte aligned. <b>Errors:</b> an <see cref="OsResult"/> naming the failed call,
/// as everywhere in this layer. Calls are serialized: one request in flight at a time, for the whole process.</para>
/// </remarks>
internal static unsafe class OsWriter
{
    internal static OsResult TryRegister(ChunkMapping mapping, out WriterRegistration? registration) =>
        OperatingSystem.IsWindows() ? WindowsWriter.TryRegister(mapping, out registration) : LinuxWriter.TryRegister(mapping, out registration);

    /// <summary>Forgets a registration: the writer unmaps the chunk (a writer that is gone took its mappings with it).</summary>
    internal static void Unregister(WriterRegistration registration)
    {
        if (registration.IsReleased)
        {
            return;
        }

        registration.IsReleased = true;

        // Intentionally ignore failure: a writer that cannot answer is gone, and its mappings with it.
        _ = Send(registration, WriterOp.Unregister, 0, 0, 0, 0, null, "unmap a chunk in the write-rare writer process", out _);
    }

    /// <summary>Is <paramref name="registration"/> held by the writer running now (not released, not from a writer that died)?</summary>
    internal static bool IsLive(WriterRegistration registration) =>
        !registration.IsReleased && registration.Writer == (OperatingSystem.IsWindows() ? WindowsWriter.Generation : LinuxWriter.Generation);

    internal static OsResult TryStore(WriterRegistration registration, nuint offset, long value) =>
        Word(registration, WriterOp.Store, offset, unchecked((ulong)value), 0, "store 8 bytes through the write-rare writer process", out _);

    internal static OsResult TryAdd(WriterRegistration registration, nuint offset, long delta, out long result)
    {
        OsResult outcome = Word(registration, WriterOp.Add, offset, unchecked((ulong)delta), 0, "add to 8 bytes through the write-rare writer process", out ulong value);
        result = unchecked((long)value);
        return outcome;
    }

    internal static OsResult TryCompareExchange(WriterRegistration registration, nuint offset, long value, long comparand, out long original)
    {
        OsResult outcome = Word(registration, WriterOp.CompareExchange, offset, unchecked((ulong)value), unchecked((ulong)comparand), "compare-exchange 8 bytes through the write-rare writer process", out ulong old);
        original = unchecked((long)old);
        return outcome;
    }

    /// <summary>Copies <paramref name="length"/> bytes into the chunk, in pieces of at most what one request carries.</summary>
    internal static OsResult TryWrite(WriterRegistration registration, nuint offset, byte* source, nuint length)
    {
        Debug.Assert(offset <= registration.Length && length <= registration.Length - offset);
        nuint most = OperatingSystem.IsWindows() ? WindowsWriter.MaxData : WriterProtocol.MaxData;
        while (length > 0)
        {
            nuint piece = Math.Min(length, most);
            OsResult result = CallLive(registration, WriterOp.Write, offset, piece, 0, 0, source, $"write {piece} bytes through the write-rare writer process", out _);
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
        Debug.Assert(offset <= registration.Length && length <= registration.Length - offset);
        return length == 0 ? OsResult.Ok : CallLive(registration, WriterOp.Fill, offset, length, value, 0, null, $"fill {length} bytes through the write-rare writer process", out _);
    }

    internal static bool IsAvailable => OperatingSystem.IsWindows() ? WindowsWriterProcess.IsAvailable : WriterProcess.IsAvailable;

    internal static int ProcessId => OperatingSystem.IsWindows() ? WindowsWriter.ProcessId : LinuxWriter.ProcessId;

    private static OsResult Word(WriterRegistration registration, WriterOp op, nuint offset, ulong value, ulong comparand, string attempt, out ulong result)
    {
        Debug.Assert(offset % 8 == 0 && offset + 8 <= registration.Length);
        return CallLive(registration, op, offset, 0, value, comparand, null, attempt, out result);
    }

    /// <summary>A request on a registration that is not released; a stale one (its writer died) fails in <see cref="Send"/>, without a system call.</summary>
    private static OsResult CallLive(WriterRegistration registration, WriterOp op, nuint offset, nuint length, ulong value, ulong comparand, byte* payload, string attempt, out ulong result)
    {
        if (registration.IsReleased)
        {
            result = 0;
            return OperatingSystem.IsWindows() ? WindowsWriter.Gone(attempt) : LinuxWriter.Gone(attempt);
        }

        return Send(registration, op, offset, length, value, comparand, payload, attempt, out result);
    }

    /// <summary>The one per-OS step: sends the request to the writer that holds the registration (the socket on Linux, the pipe on Windows) and waits for its answer.</summary>
    private static OsResult Send(WriterRegistration registration, WriterOp op, nuint offset, nuint length, ulong value, ulong comparand, byte* payload, string attempt, out ulong result) =>
        OperatingSystem.IsWindows()
            ? WindowsWriter.TrySend(registration, op, offset, length, value, comparand, payload, attempt, out result)
            : LinuxWriter.TrySend(registration, op, offset, length, value, comparand, payload, attempt, out result);
}

/// <summary>
/// What a request on a registration asks of the writer: <see cref="Write"/> carries <c>length</c> bytes of payload,
/// <see cref="Fill"/> sets <c>length</c> bytes to <c>value</c>, the 8-byte operations take <c>value</c> (and <c>comparand</c>).
/// </summary>
internal enum WriterOp
{
    Unregister,
    Store,
    Add,
    CompareExchange,
    Write,
    Fill,
}
