using System.Runtime.Versioning;
using static Pmalloc.Interop.Kernel32;
using Op = Pmalloc.WindowsWriterProcess.Op;

namespace Pmalloc;

/// <summary>
/// The writer contract on Windows: the writer process (<see cref="WindowsWriterProcess"/>) gets each chunk's section
/// through a handle duplicated into it with map-read and map-write access only, maps the section in its own address
/// space, and does each store there: one atomic instruction for the 8-byte operations, memcpy or memset for the others.
/// Windows has no <c>pwrite</c> for a section, so on Windows every write into read-only memory goes this way
/// (<see cref="ChunkMapping.WritesThroughWriter"/>), <c>Write</c> and <c>Fill</c> included.
/// </summary>
/// <remarks>
/// The writer maps the whole section (the guard pages are part of it) but takes offsets relative to the chunk and checks
/// them against the chunk's length, so it never writes a guard page. Its view is not locked (<c>VirtualLock</c> counts
/// against the writer's own small working set): the pages are the same physical pages as this process's view, which is
/// locked when the pool asks, and a page locked in any working set stays resident. It is excluded from error reports
/// where this process's view is.
/// </remarks>
[SupportedOSPlatform("windows")]
internal static unsafe class WindowsWriter
{
    /// <summary>The largest piece of data sent with one write request.</summary>
    private const nuint MaxData = 1 << 20;

    internal static int ProcessId => WindowsWriterProcess.Current?.Pid ?? 0;

    internal static OsResult TryRegister(ChunkMapping mapping, out WriterRegistration? registration)
    {
        registration = null;
        string attempt = $"map a chunk of {mapping.Length} bytes in the write-rare writer process";
        if (!mapping.HasBacking)
        {
            return OsResult.Fail(Errors.ERROR_INVALID_HANDLE, "DuplicateHandle", $"{attempt}: the chunk's section was closed");
        }

        OsResult started = WindowsWriterProcess.TryGet(out WindowsWriterProcess? writer);
        if (started.Failed)
        {
            return started;
        }

        OsResult duplicated = writer!.TryDuplicate(mapping.Section, attempt, out ulong section);
        if (duplicated.Failed)
        {
            return duplicated;
        }

        // The writer closes the duplicated handle whatever happens.
        ulong flags = mapping.IsExcludedFromErrorReports ? 1u : 0u;
        OsResult result = writer.TryCall(Op.Map, section, mapping.ReservationLength, (ulong)mapping.BackingOffset, mapping.Length, flags, null, 0, attempt, out ulong handle);
        if (!result.Failed)
        {
            registration = new WriterRegistration(writer.Generation, handle, mapping.Length);
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
        if (WindowsWriterProcess.Current is { } writer && writer.Generation == registration.Writer)
        {
            // Intentionally ignore failure: a writer that cannot answer is gone, and its views with it.
            _ = writer.TryCall(Op.Unmap, registration.Handle, 0, 0, 0, 0, null, 0, "unmap a chunk in the write-rare writer process", out _);
        }
    }

    internal static bool IsLive(WriterRegistration registration) =>
        !registration.IsReleased && WindowsWriterProcess.Current is { } writer && writer.Generation == registration.Writer;

    internal static OsResult TryStore(WriterRegistration registration, nuint offset, long value) =>
        Word(registration, Op.Store, offset, unchecked((ulong)value), 0, "store 8 bytes through the write-rare writer process", out _);

    internal static OsResult TryAdd(WriterRegistration registration, nuint offset, long delta, out long result)
    {
        OsResult outcome = Word(registration, Op.Add, offset, unchecked((ulong)delta), 0, "add to 8 bytes through the write-rare writer process", out ulong value);
        result = unchecked((long)value);
        return outcome;
    }

    internal static OsResult TryCompareExchange(WriterRegistration registration, nuint offset, long value, long comparand, out long original)
    {
        OsResult outcome = Word(registration, Op.CompareExchange, offset, unchecked((ulong)value), unchecked((ulong)comparand), "compare-exchange 8 bytes through the write-rare writer process", out ulong old);
        original = unchecked((long)old);
        return outcome;
    }

    internal static OsResult TryWrite(WriterRegistration registration, nuint offset, byte* source, nuint length)
    {
        System.Diagnostics.Debug.Assert(offset <= registration.Length && length <= registration.Length - offset);
        while (length > 0)
        {
            nuint piece = Math.Min(length, MaxData);
            OsResult result = CallLive(registration, Op.Write, offset, piece, 0, source, piece, $"write {piece} bytes through the write-rare writer process", out _);
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
        return length == 0 ? OsResult.Ok : CallLive(registration, Op.Fill, offset, length, value, null, 0, $"fill {length} bytes through the write-rare writer process", out _);
    }

    private static OsResult Word(WriterRegistration registration, Op op, nuint offset, ulong value, ulong comparand, string attempt, out ulong result)
    {
        System.Diagnostics.Debug.Assert(offset % 8 == 0 && offset + 8 <= registration.Length);
        return CallLive(registration, op, offset, value, comparand, null, 0, attempt, out result);
    }

    /// <summary>A call on the writer that holds <paramref name="registration"/>; a stale one fails without a system call.</summary>
    private static OsResult CallLive(WriterRegistration registration, Op op, nuint offset, ulong c, ulong d, byte* payload, nuint payloadLength, string attempt, out ulong value)
    {
        value = 0;
        if (WindowsWriterProcess.Current is not { } writer || writer.Generation != registration.Writer || registration.IsReleased)
        {
            return OsResult.Fail(Errors.ERROR_BROKEN_PIPE, WindowsWriterProcess.FileName, $"{attempt}: the writer process that mapped this chunk is gone");
        }

        return writer.TryCall(op, registration.Handle, offset, c, d, 0, payload, payloadLength, attempt, out value);
    }
}
