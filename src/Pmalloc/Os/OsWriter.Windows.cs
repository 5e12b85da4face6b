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
    internal const nuint MaxData = 1 << 20;

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

    /// <summary>The generation of the writer running now, or -1.</summary>
    internal static long Generation => WindowsWriterProcess.Current?.Generation ?? -1;

    /// <summary>The failure of a request whose writer is gone.</summary>
    internal static OsResult Gone(string attempt) =>
        OsResult.Fail(Errors.ERROR_BROKEN_PIPE, WindowsWriterProcess.FileName, $"{attempt}: the writer process that mapped this chunk is gone");

    /// <summary>One request over the writer's pipe, on the writer that holds <paramref name="registration"/>; a stale one fails without a system call.</summary>
    internal static OsResult TrySend(WriterRegistration registration, WriterOp op, nuint offset, nuint length, ulong value, ulong comparand, byte* payload, string attempt, out ulong result)
    {
        result = 0;
        if (WindowsWriterProcess.Current is not { } writer || writer.Generation != registration.Writer)
        {
            return Gone(attempt);
        }

        // The pipe's arguments after the handle: the offset, then the length (and the fill byte), or the value (and the comparand).
        (Op code, ulong b, ulong c, ulong d) = op switch
        {
            WriterOp.Unregister => (Op.Unmap, 0ul, 0ul, 0ul),
            WriterOp.Write => (Op.Write, (ulong)offset, (ulong)length, 0ul),
            WriterOp.Fill => (Op.Fill, (ulong)offset, (ulong)length, value),
            WriterOp.Store => (Op.Store, (ulong)offset, value, comparand),
            WriterOp.Add => (Op.Add, (ulong)offset, value, comparand),
            _ => (Op.CompareExchange, (ulong)offset, value, comparand),
        };
        return writer.TryCall(code, registration.Handle, b, c, d, 0, payload, op == WriterOp.Write ? length : 0, attempt, out result);
    }
}
