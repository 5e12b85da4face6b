using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using static Pmalloc.Interop.Kernel32;

namespace Pmalloc;

/// <summary>
/// The writer process on Windows (<c>pmalloc-writer.exe</c>, built from <c>src/Pmalloc.Writer/writer.windows.c</c> with
/// mingw-w64) and this process's end of its pipes. One per process: started by the first call that needs it
/// (<see cref="TryGet"/>), shared by every pool, alive until the process exits. If it dies, the call in flight fails and
/// the next <see cref="TryGet"/> starts another.
/// </summary>
/// <remarks>
/// <para><b>Starting it.</b> <c>CreateProcess</c> (through <see cref="Process"/>) with its standard input and output
/// redirected to anonymous pipes, no window, and nothing else inherited (.NET makes its handles non-inheritable); then
/// its hello, within <see cref="HelloTimeout"/>. It ends when its standard input closes, which is when this process
/// ends, however it ends: Windows closes a dead process's handles.</para>
/// <para><b>Giving it a chunk.</b> The chunk's section handle is duplicated into it (<c>DuplicateHandle</c>) with
/// <c>SECTION_MAP_READ | SECTION_MAP_WRITE</c> only; it maps the section, closes that handle, and answers the chunk's
/// address in its own address space, which every later request names.</para>
/// <para><b>Finding it.</b> The AppContext switch <c>Pmalloc.WriterPath</c> (as on Linux), else <c>pmalloc-writer.exe</c>
/// next to the application, else under <c>runtimes/win-x64/native/</c> there (a NuGet package's layout in a build that has
/// no runtime identifier).</para>
/// <para><b>Calls.</b> One request and its reply at a time (<see cref="_io"/>): the writer is single-threaded anyway.</para>
/// </remarks>
[SupportedOSPlatform("windows")]
internal sealed unsafe class WindowsWriterProcess
{
    /// <summary>The executable's file name.</summary>
    internal const string FileName = "pmalloc-writer.exe";

    /// <summary>How long a fresh writer may take to say hello (Wine on a loaded machine takes seconds).</summary>
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(60);

    private static readonly Lock s_start = new();
    private static WindowsWriterProcess? s_current;
    private static long s_generations;

    private readonly Process _process;
    private readonly Stream _requests;
    private readonly Stream _replies;

    /// <summary>Serializes request and reply on the pipes.</summary>
    private readonly Lock _io = new();

    /// <summary>A pipe broke: the writer is gone even if its exit was not seen yet.</summary>
    private volatile bool _broken;

    private WindowsWriterProcess(Process process, long generation)
    {
        _process = process;
        _requests = process.StandardInput.BaseStream;
        _replies = process.StandardOutput.BaseStream;
        Generation = generation;
    }

    /// <summary>The operations of the protocol (<c>writer.windows.c</c>).</summary>
    internal enum Op : ulong
    {
        Hello = 0,
        Map = 1,
        Unmap = 2,
        Write = 3,
        Fill = 4,
        Store = 5,
        Add = 6,
        CompareExchange = 7,
    }

    /// <summary>For tests: the path to start instead of the one found (null: the normal search).</summary>
    internal static string? PathOverride { get; set; }

    /// <summary>The running writer, or null if none was started or the last one exited.</summary>
    internal static WindowsWriterProcess? Current => Volatile.Read(ref s_current) is { HasExited: false } writer ? writer : null;

    /// <summary>Is there a writer executable to start? (Looked up, not started: for <see cref="PlatformSupport"/>.)</summary>
    internal static bool IsAvailable => Find(out _) is not null;

    /// <summary>The writer's process id.</summary>
    internal int Pid => _process.Id;

    /// <summary>Which writer this is: every start gets the next number. Registrations carry it.</summary>
    internal long Generation { get; }

    /// <summary>The writer is gone: exited, or a pipe broke.</summary>
    internal bool HasExited => _broken || _process.HasExited;

    /// <summary>The running writer, started now if there is none (or the last one exited).</summary>
    internal static OsResult TryGet(out WindowsWriterProcess? writer)
    {
        writer = Current;
        if (writer is not null)
        {
            return OsResult.Ok;
        }

        using (s_start.EnterScope())
        {
            writer = Current;
            if (writer is not null)
            {
                return OsResult.Ok;
            }

            OsResult started = TryStart(out writer);
            if (!started.Failed)
            {
                Volatile.Write(ref s_current, writer);
            }

            return started;
        }
    }

    /// <summary>Duplicates <paramref name="section"/> into the writer with the access to map it read-write, and nothing more.</summary>
    internal OsResult TryDuplicate(SafeSectionHandle section, string attempt, out ulong handle)
    {
        handle = 0;
        if (!DuplicateHandle(GetCurrentProcess(), section, _process.SafeHandle, out nint remote, SectionAccess.MapRead | SectionAccess.MapWrite, false, 0))
        {
            return OsResult.Fail("DuplicateHandle", $"{attempt}: the chunk's section could not be handed to the writer process (pid {Pid})");
        }

        handle = (ulong)remote;
        return OsResult.Ok;
    }

    /// <summary>
    /// Sends one request (with <paramref name="payload"/> after it) and waits for the reply. A broken pipe means the writer
    /// is gone; the reply's own status is returned as the failure of <c>pmalloc-writer.exe</c>.
    /// </summary>
    internal OsResult TryCall(Op op, ulong a, ulong b, ulong c, ulong d, ulong e, byte* payload, nuint payloadLength, string attempt, out ulong value)
    {
        value = 0;
        using (_io.EnterScope())
        {
            if (HasExited)
            {
                return OsResult.Fail(Errors.ERROR_BROKEN_PIPE, FileName, $"{attempt}: the write-rare writer process (pid {Pid}) {ExitDescription()}");
            }

            ulong* request = stackalloc ulong[] { (ulong)op, a, b, c, d, e };
            ulong* reply = stackalloc ulong[2];
            try
            {
                _requests.Write(new ReadOnlySpan<byte>(request, 6 * sizeof(ulong)));
                while (payloadLength > 0)
                {
                    int piece = (int)Math.Min(payloadLength, 1u << 20);
                    _requests.Write(new ReadOnlySpan<byte>(payload, piece));
                    payload += piece;
                    payloadLength -= (nuint)piece;
                }

                _requests.Flush();
                _replies.ReadExactly(new Span<byte>(reply, 2 * sizeof(ulong)));
            }
            catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException)
            {
                _broken = true;
                return OsResult.Fail(Errors.ERROR_BROKEN_PIPE, FileName,
                    $"{attempt}: the write-rare writer process (pid {Pid}) did not answer ({ex.Message}); the write may or may not have happened");
            }

            if (reply[0] != 0)
            {
                return OsResult.Fail((int)reply[0], FileName, $"{attempt} (pid {Pid})");
            }

            value = reply[1];
            return OsResult.Ok;
        }
    }

    private string ExitDescription()
    {
        try
        {
            return _process.HasExited ? $"exited with code 0x{_process.ExitCode:x8}" : "is gone (its pipe broke)";
        }
        catch (InvalidOperationException)
        {
            return "is gone";
        }
    }

    private static OsResult TryStart(out WindowsWriterProcess? writer)
    {
        writer = null;
        string? path = Find(out string searched);
        if (path is null)
        {
            return OsResult.Fail(Errors.ERROR_NOT_SUPPORTED, "CreateProcess",
                $"start the write-rare writer process: there is no {FileName} in {searched} (dotnet build compiles it from " +
                "src/Pmalloc.Writer/writer.windows.c with x86_64-w64-mingw32-gcc where that is installed; the package carries it under " +
                $"runtimes/win-x64/native/; the AppContext switch {WriterProcess.PathSwitch} names another place)");
        }

        ProcessStartInfo info = new(path)
        {
            UseShellExecute = false,
            CreateNoWindow = true,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            int error = ex is System.ComponentModel.Win32Exception w ? w.NativeErrorCode : Errors.ERROR_INVALID_FUNCTION;
            return OsResult.Fail(error, "CreateProcess", $"start the write-rare writer process {path}");
        }

        // Nothing reads its standard error: it writes nothing there, and an open pipe costs nothing.
        WindowsWriterProcess started = new(process, Interlocked.Increment(ref s_generations));
        OsResult hello = started.TryHello(path);
        if (hello.Failed)
        {
            try
            {
                process.Kill();
            }
            catch (InvalidOperationException)
            {
                // It exited already.
            }

            process.Dispose();
            return hello;
        }

        writer = started;
        return OsResult.Ok;
    }

    /// <summary>The hello: the writer answers <see cref="Op.Hello"/> with its magic, so a wrong executable is refused.</summary>
    private OsResult TryHello(string path)
    {
        const ulong Magic = 0x31575250414d50; // "PMAPRW1", as writer.windows.c has it
        string attempt = $"start the write-rare writer process {path} (pid {Pid})";
        Task<OsResult> call = Task.Run(() =>
        {
            OsResult answered = TryCall(Op.Hello, 0, 0, 0, 0, 0, null, 0, attempt, out ulong value);
            return answered.Failed || value == Magic
                ? answered
                : OsResult.Fail(Errors.ERROR_INVALID_FUNCTION, FileName, $"{attempt}: it is not a pmalloc writer (hello 0x{value:x})");
        });
        if (!call.Wait(HelloTimeout))
        {
            return OsResult.Fail(Errors.ERROR_TIMEOUT, FileName, $"{attempt}: it did not answer within {HelloTimeout.TotalSeconds} seconds");
        }

        return HasExited ? OsResult.Fail(Errors.ERROR_BROKEN_PIPE, FileName, $"{attempt}: it {ExitDescription()} before it was ready") : call.Result;
    }

    /// <summary>The first candidate that exists, or null; <paramref name="searched"/> lists them for the message.</summary>
    private static string? Find(out string searched)
    {
        string? configured = PathOverride ?? AppContext.GetData(WriterProcess.PathSwitch) as string;
        string[] candidates = !string.IsNullOrEmpty(configured)
            ? [configured]
            :
            [
                Path.Combine(AppContext.BaseDirectory, FileName),
                Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", FileName),
                Path.Combine(AppContext.BaseDirectory, "runtimes", "win-x64", "native", FileName),
            ];
        searched = string.Join(", ", candidates.Distinct());
        return candidates.FirstOrDefault(File.Exists);
    }
}
