namespace Pmalloc;

/// <summary>
/// One range of a chunk's backing that the writer process has mapped writable (<see cref="OsWriter.TryRegister"/>):
/// the writer's handle for it, and which writer process holds it. Created and changed only by <see cref="OsWriter"/>;
/// it knows no pool. A registration of a writer that has since exited is stale: <see cref="OsWriter.IsLive"/> says so
/// without a system call, and the caller registers again with the writer that replaces it.
/// </summary>
internal sealed class WriterRegistration
{
    internal WriterRegistration(long writer, ulong handle, nuint length)
    {
        Writer = writer;
        Handle = handle;
        Length = length;
    }

    /// <summary>The generation of the writer process that holds the mapping (one per process started).</summary>
    internal long Writer { get; }

    /// <summary>The writer's name for the mapping.</summary>
    internal ulong Handle { get; }

    /// <summary>Bytes mapped: every offset sent with this registration is below it.</summary>
    internal nuint Length { get; }

    /// <summary>Unregistered (or found stale): no longer usable.</summary>
    internal bool IsReleased { get; set; }
}
