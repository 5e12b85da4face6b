namespace Pmalloc;

/// <summary>
/// The writer contract: stores into a chunk whose every mapping in this process is read-only, done by a separate,
/// sandboxed writer process that holds the only writable mapping, in its own address space. Stated once here and
/// implemented once per OS (<see cref="LinuxWriter"/> in <c>OsWriter.Linux.cs</c>, <see cref="WindowsWriter"/> in
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
    /// <summary>
    /// Has the writer map [<c>BackingOffset</c>, +<c>Length</c>) of <paramref name="mapping"/>'s backing read-write, with the
    /// chunk's hardening (excluded from core dumps, locked), starting the writer if none runs.
    /// </summary>
    internal static OsResult TryRegister(ChunkMapping mapping, out WriterRegistration? registration) =>
        OperatingSystem.IsWindows() ? WindowsWriter.TryRegister(mapping, out registration) : LinuxWriter.TryRegister(mapping, out registration);

    /// <summary>Has the writer unmap the registration. Nothing to do for a stale one. Never fails in a way the caller could act on.</summary>
    internal static void Unregister(WriterRegistration registration)
    {
        if (OperatingSystem.IsWindows())
        {
            WindowsWriter.Unregister(registration);
        }
        else
        {
            LinuxWriter.Unregister(registration);
        }
    }

    /// <summary>Is the registration usable: not released, and made with the writer that runs now?</summary>
    internal static bool IsLive(WriterRegistration registration) =>
        OperatingSystem.IsWindows() ? WindowsWriter.IsLive(registration) : LinuxWriter.IsLive(registration);

    /// <summary>Stores 8 bytes at <paramref name="offset"/> with one release store.</summary>
    internal static OsResult TryStore(WriterRegistration registration, nuint offset, long value) =>
        OperatingSystem.IsWindows() ? WindowsWriter.TryStore(registration, offset, value) : LinuxWriter.TryStore(registration, offset, value);

    /// <summary>Adds <paramref name="delta"/> to the 8 bytes at <paramref name="offset"/> atomically; <paramref name="result"/> is the new value.</summary>
    internal static OsResult TryAdd(WriterRegistration registration, nuint offset, long delta, out long result) =>
        OperatingSystem.IsWindows() ? WindowsWriter.TryAdd(registration, offset, delta, out result) : LinuxWriter.TryAdd(registration, offset, delta, out result);

    /// <summary>
    /// Replaces the 8 bytes at <paramref name="offset"/> with <paramref name="value"/> if they equal <paramref name="comparand"/>,
    /// atomically; <paramref name="original"/> is what they held.
    /// </summary>
    internal static OsResult TryCompareExchange(WriterRegistration registration, nuint offset, long value, long comparand, out long original) =>
        OperatingSystem.IsWindows() ? WindowsWriter.TryCompareExchange(registration, offset, value, comparand, out original) : LinuxWriter.TryCompareExchange(registration, offset, value, comparand, out original);

    /// <summary>Copies <paramref name="length"/> bytes to <paramref name="offset"/> (not atomic).</summary>
    internal static OsResult TryWrite(WriterRegistration registration, nuint offset, byte* source, nuint length) =>
        OperatingSystem.IsWindows() ? WindowsWriter.TryWrite(registration, offset, source, length) : LinuxWriter.TryWrite(registration, offset, source, length);

    /// <summary>Sets <paramref name="length"/> bytes at <paramref name="offset"/> to <paramref name="value"/> (not atomic).</summary>
    internal static OsResult TryFill(WriterRegistration registration, nuint offset, byte value, nuint length) =>
        OperatingSystem.IsWindows() ? WindowsWriter.TryFill(registration, offset, value, length) : LinuxWriter.TryFill(registration, offset, value, length);

    /// <summary>The writer's process id, or 0 while none runs (for tests and diagnostics).</summary>
    /// <summary>Is there a writer executable to start (looked up, not started)? Without it, the calls that need the writer fail with a message naming the file.</summary>
    internal static bool IsAvailable => OperatingSystem.IsWindows() ? WindowsWriterProcess.IsAvailable : WriterProcess.IsAvailable;

    internal static int ProcessId => OperatingSystem.IsWindows() ? WindowsWriter.ProcessId : LinuxWriter.ProcessId;
}
