using System.Runtime.InteropServices;
using System.Text;
using static Pmalloc.WriterProtocol;

namespace Pmalloc;

/// <summary>
/// The writer process (<c>pmalloc-writer</c>, built from <c>src/Pmalloc.Writer/writer.c</c>) and this process's end of
/// its socket. One per process: started by the first call that needs it (<see cref="TryGet"/>), shared by every pool,
/// alive until the process exits. If it dies, the call in flight fails and the next <see cref="TryGet"/> starts another.
/// </summary>
/// <remarks>
/// <para><b>Starting it.</b> A socketpair (AF_UNIX, SOCK_SEQPACKET, close-on-exec); <c>posix_spawn</c> of the executable
/// with the other end as descriptor 3, an empty environment and an empty signal mask; then the writer's hello, within
/// <see cref="HelloTimeout"/>. The spawn is made from a thread of its own that then waits for the writer to exit and
/// reaps it: the kernel's parent-death signal (<c>PR_SET_PDEATHSIG</c>) follows the thread that spawned, not the process,
/// so that thread must live exactly as long as the writer.</para>
/// <para><b>Finding it.</b> The AppContext switch <c>Pmalloc.WriterPath</c> (runtimeconfig), else under
/// <c>runtimes/linux-ARCH/native/</c> next to the application for this process's architecture (how a NuGet package lays
/// native assets out in a build without a runtime identifier, and how a build of this repository copies them), else
/// <c>pmalloc-writer</c> next to the application (where NuGet puts the asset of a build for one runtime identifier).
/// A file that lost its execute permission (NuGet does not keep file modes) is run from a copy in a memfd instead.</para>
/// <para><b>Calls.</b> One request and its reply at a time (<see cref="_io"/>): the writer is single-threaded anyway.</para>
/// </remarks>
internal sealed unsafe class WriterProcess
{
    /// <summary>The executable's file name.</summary>
    internal const string FileName = "pmalloc-writer";

    /// <summary>The AppContext switch (runtimeconfig.json <c>configProperties</c>) that names the writer's path.</summary>
    internal const string PathSwitch = "Pmalloc.WriterPath";

    /// <summary>How long a fresh writer may take to say hello.</summary>
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(30);

    private static readonly Lock s_start = new();
    private static WriterProcess? s_current;
    private static long s_generations;

    private readonly SafeFdHandle _socket;
    private readonly Launch _launch;

    /// <summary>Serializes request and reply on the socket.</summary>
    private readonly Lock _io = new();

    /// <summary>The socket broke (EOF, EPIPE): the writer is gone even if it was not reaped yet.</summary>
    private volatile bool _broken;

    private WriterProcess(SafeFdHandle socket, Launch launch, long generation, bool seccomp)
    {
        _socket = socket;
        _launch = launch;
        Generation = generation;
        Seccomp = seccomp;
    }

    /// <summary>For tests: the path to start instead of the one found (null: the normal search).</summary>
    internal static string? PathOverride { get; set; }

    /// <summary>The running writer, or null if none was started or the last one exited.</summary>
    internal static WriterProcess? Current => Volatile.Read(ref s_current) is { HasExited: false } writer ? writer : null;

    /// <summary>Is there a writer executable to start? (Looked up, not started: for <see cref="PlatformSupport"/>.)</summary>
    internal static bool IsAvailable => Find(out _) is not null;

    /// <summary>The writer's pid.</summary>
    internal int Pid => _launch.Pid;

    /// <summary>The file it was started from (and how, for a memfd copy).</summary>
    internal string Path => _launch.Described;

    /// <summary>Which writer this is: every start gets the next number. Registrations carry it.</summary>
    internal long Generation { get; }

    /// <summary>The writer's seccomp filter is in force (it reports it in its hello).</summary>
    internal bool Seccomp { get; }

    /// <summary>The writer is gone: reaped, or its socket broke.</summary>
    internal bool HasExited => _broken || _launch.Exited;

    /// <summary>The running writer, started now if there is none (or the last one exited).</summary>
    internal static OsResult TryGet(out WriterProcess? writer)
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
                // The one it replaces is gone: close our end of its socket.
                Volatile.Read(ref s_current)?.Retire();
                Volatile.Write(ref s_current, writer);
            }

            return started;
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> (with <paramref name="fd"/> attached, and <paramref name="payload"/> after it) and
    /// waits for the reply. A failure of the socket means the writer is gone; the reply's own error is the caller's to read.
    /// </summary>
    internal OsResult TryCall(ref Request request, SafeFdHandle? fd, byte* payload, nuint payloadLength, string attempt, out Reply reply)
    {
        reply = default;
        bool addedRef = false;
        using (_io.EnterScope())
        {
            try
            {
                if (HasExited)
                {
                    return OsResult.Fail(Interop.Errno.EPIPE, "sendmsg", $"{attempt}: the write-rare writer process (pid {Pid}) {ExitDescription()}");
                }

                Interop.IoVec* iov = stackalloc Interop.IoVec[2];
                fixed (Request* r = &request)
                {
                    iov[0] = new Interop.IoVec { Base = r, Length = (nuint)sizeof(Request) };
                    iov[1] = new Interop.IoVec { Base = payload, Length = payloadLength };
                    Interop.MessageHeader message = new() { Iov = iov, IovLength = payloadLength == 0 ? 1u : 2u };
                    Interop.FdControlMessage control = default;
                    if (fd is not null)
                    {
                        fd.DangerousAddRef(ref addedRef);
                        control = new Interop.FdControlMessage
                        {
                            Length = Interop.FdControlMessage.MessageLength,
                            Level = Interop.SolSocket,
                            Type = Interop.ScmRights,
                            Fd = (int)fd.DangerousGetHandle(),
                        };
                        message.Control = &control;
                        message.ControlLength = (nuint)sizeof(Interop.FdControlMessage);
                    }

                    nint sent;
                    do
                    {
                        sent = Interop.sendmsg(_socket, &message, Interop.MessageFlags.NoSignal);
                    }
                    while (sent < 0 && Interop.LastErrno == Interop.Errno.EINTR);

                    if (sent < 0)
                    {
                        OsResult failed = OsResult.Fail("sendmsg", $"{attempt}: the request to the write-rare writer process (pid {Pid}) failed");
                        Break(failed.Errno);
                        return failed;
                    }
                }

                Reply answer;
                nint received;
                do
                {
                    received = Interop.recv(_socket, &answer, (nuint)sizeof(Reply), Interop.MessageFlags.None);
                }
                while (received < 0 && Interop.LastErrno == Interop.Errno.EINTR);

                if (received != sizeof(Reply))
                {
                    int errno = received < 0 ? Interop.LastErrno : Interop.Errno.EPIPE;
                    _broken = true;
                    return OsResult.Fail(errno, "recv",
                        $"{attempt}: the write-rare writer process (pid {Pid}) {(received == 0 ? "exited before it answered" : "did not answer")}; the write may or may not have happened");
                }

                reply = answer;
                return OsResult.Ok;
            }
            finally
            {
                if (addedRef)
                {
                    fd!.DangerousRelease();
                }
            }
        }
    }

    /// <summary>Closes this end of the socket of a writer that is gone; calls still in flight on it fail, none touches a closed socket.</summary>
    private void Retire()
    {
        using (_io.EnterScope())
        {
            _broken = true;
            _socket.Dispose();
        }
    }

    /// <summary>How the writer ended, for messages ("exited with status 0", "was killed by signal 9").</summary>
    private string ExitDescription() =>
        !_launch.Exited ? "is gone (its socket closed)"
        : (_launch.Status & 0x7f) == 0 ? $"exited with status {(_launch.Status >> 8) & 0xff}"
        : $"was killed by signal {_launch.Status & 0x7f}";

    private void Break(int errno)
    {
        if (errno is Interop.Errno.EPIPE or Interop.Errno.ECONNRESET)
        {
            _broken = true;
        }
    }

    private static OsResult TryStart(out WriterProcess? writer)
    {
        writer = null;
        string? path = Find(out string searched);
        if (path is null)
        {
            return OsResult.Fail(Interop.Errno.ENOENT, "posix_spawn",
                $"start the write-rare writer process: there is no {FileName} in {searched} (dotnet build compiles it from src/Pmalloc.Writer/writer.c with gcc; " +
                $"the package carries it under runtimes/<rid>/native/; the AppContext switch {PathSwitch} names another place)");
        }

        int* fds = stackalloc int[2];
        if (Interop.socketpair(Interop.AfUnix, Interop.SocketType.SeqPacket | Interop.SocketType.CloseOnExec, 0, fds) != 0)
        {
            return OsResult.Fail("socketpair", $"start the write-rare writer process {path}");
        }

        SafeFdHandle ours = new(fds[0]);
        SafeFdHandle theirs = NotThree(new SafeFdHandle(fds[1]));
        long generation = Interlocked.Increment(ref s_generations);
        Launch launch = new(path, theirs);
        try
        {
            launch.Start();
        }
        finally
        {
            // The child has its own copy as descriptor 3 now (or never will).
            theirs.Dispose();
        }

        if (launch.Error != 0)
        {
            ours.Dispose();
            return OsResult.Fail(launch.Error, "posix_spawn", $"start the write-rare writer process {launch.Described}");
        }

        OsResult hello = TryHello(ours, launch, out bool seccomp);
        if (hello.Failed)
        {
            _ = Interop.kill(launch.Pid, Interop.SigKill);
            ours.Dispose();
            return hello;
        }

        writer = new WriterProcess(ours, launch, generation, seccomp);
        return OsResult.Ok;
    }

    /// <summary>Waits for the writer's first reply: its magic and protocol version, or the setup step that failed.</summary>
    private static OsResult TryHello(SafeFdHandle socket, Launch launch, out bool seccomp)
    {
        seccomp = false;
        string attempt = $"start the write-rare writer process {launch.Described} (pid {launch.Pid})";
        bool added = false;
        socket.DangerousAddRef(ref added);
        try
        {
            Interop.PollFd poll = new() { Fd = (int)socket.DangerousGetHandle(), Events = Interop.PollIn };
            long deadline = Environment.TickCount64 + (long)HelloTimeout.TotalMilliseconds;
            int ready;
            do
            {
                ready = Interop.poll(&poll, 1, (int)Math.Max(0, deadline - Environment.TickCount64));
            }
            while (ready < 0 && Interop.LastErrno == Interop.Errno.EINTR);

            if (ready == 0)
            {
                return OsResult.Fail(Interop.Errno.ETIMEDOUT, "poll", $"{attempt}: it did not answer within {HelloTimeout.TotalSeconds} seconds");
            }
        }
        finally
        {
            if (added)
            {
                socket.DangerousRelease();
            }
        }

        Reply hello;
        nint received;
        do
        {
            received = Interop.recv(socket, &hello, (nuint)sizeof(Reply), Interop.MessageFlags.None);
        }
        while (received < 0 && Interop.LastErrno == Interop.Errno.EINTR);

        if (received == 0)
        {
            launch.WaitForExit(TimeSpan.FromSeconds(5));
            return OsResult.Fail(Interop.Errno.EPIPE, "recv", $"{attempt}: it exited before it was ready ({launch.DescribeExit()})");
        }

        if (received != sizeof(Reply))
        {
            return OsResult.Fail(received < 0 ? Interop.LastErrno : Interop.Errno.EPROTO, "recv", $"{attempt}: its hello was not {sizeof(Reply)} bytes");
        }

        if (hello.Error != 0)
        {
            string step = hello.Value switch { 1 => "prctl(PR_SET_DUMPABLE)", 2 => "prctl(PR_SET_NO_NEW_PRIVS)", 3 => "mmap", _ => "setup" };
            return OsResult.Fail(hello.Error, step, $"{attempt}: its sandbox could not be set up");
        }

        if (unchecked((uint)hello.Value) != HelloMagic || (uint)hello.Stage != WriterProtocol.Version)
        {
            return OsResult.Fail(Interop.Errno.EPROTO, "recv", $"{attempt}: it is not a pmalloc writer of protocol version {WriterProtocol.Version}");
        }

        seccomp = (hello.Value & SeccompBit) != 0;
        return OsResult.Ok;
    }

    /// <summary>The executable the next start would run (for tests), or null.</summary>
    internal static string? FindExecutable() => Find(out _);

    /// <summary>The first candidate that exists, or null; <paramref name="searched"/> lists them for the message.</summary>
    private static string? Find(out string searched)
    {
        string? configured = PathOverride ?? AppContext.GetData(PathSwitch) as string;
        string[] candidates = !string.IsNullOrEmpty(configured)
            ? [configured]
            :
            [
                System.IO.Path.Combine(AppContext.BaseDirectory, "runtimes", $"linux-{(RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "arm64" : "x64")}", "native", FileName),
                System.IO.Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", FileName),
                System.IO.Path.Combine(AppContext.BaseDirectory, FileName),
            ];
        searched = string.Join(", ", candidates.Distinct());
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>Descriptor 3 is where the child gets its socket: a descriptor already numbered 3 would not survive the dup2 onto itself.</summary>
    private static SafeFdHandle NotThree(SafeFdHandle fd)
    {
        if (fd.DangerousGetHandle() != 3)
        {
            return fd;
        }

        int copy = Interop.fcntl(fd, Interop.FcntlCommand.DupCloseOnExec, 4);
        fd.Dispose();
        return new SafeFdHandle(copy);
    }

    /// <summary>
    /// One start of the writer, on a thread of its own: spawns it, reports the pid, then waits for it to exit and reaps it.
    /// The writer's parent-death signal is tied to this thread, which therefore lives exactly as long as the writer.
    /// </summary>
    private sealed class Launch
    {
        private readonly string _path;
        private readonly SafeFdHandle _childSocket;
        private readonly ManualResetEventSlim _spawned = new();
        private readonly ManualResetEventSlim _exited = new();

        internal Launch(string path, SafeFdHandle childSocket)
        {
            _path = path;
            _childSocket = childSocket;
            Described = path;
        }

        internal int Pid { get; private set; }

        /// <summary>0, or the errno posix_spawn returned.</summary>
        internal int Error { get; private set; }

        /// <summary>The writer's wait status, once <see cref="Exited"/>.</summary>
        internal int Status { get; private set; }

        internal bool Exited => _exited.IsSet;

        /// <summary>The path, and "(run from a memfd copy)" when the file was not executable.</summary>
        internal string Described { get; private set; }

        /// <summary>Spawns on the launch thread and waits until the spawn succeeded or failed.</summary>
        internal void Start()
        {
            Thread thread = new(Run, maxStackSize: 256 * 1024) { IsBackground = true, Name = "pmalloc writer" };
            thread.UnsafeStart();
            _spawned.Wait();
        }

        internal void WaitForExit(TimeSpan timeout) => _exited.Wait(timeout);

        internal string DescribeExit() =>
            !Exited ? "it did not exit"
            : (Status & 0x7f) != 0 ? $"killed by signal {Status & 0x7f}"
            : ((Status >> 8) & 0xff) switch
            {
                64 => "exit status 64: bad arguments",
                70 => "exit status 70: it could not set PR_SET_PDEATHSIG or its parent is not this process",
                71 => "exit status 71: descriptor 3 is not its SOCK_SEQPACKET socket",
                int code => $"exit status {code}",
            };

        private void Run()
        {
            try
            {
                Error = Spawn(_path);
                if (Error == Interop.Errno.EACCES)
                {
                    // No execute permission (a NuGet extraction, say): run a copy of the file from a memfd.
                    Error = SpawnFromCopy();
                }
            }
            finally
            {
                _spawned.Set();
            }

            if (Error != 0)
            {
                return;
            }

            int status = 0;
            int reaped;
            do
            {
                reaped = Interop.waitpid(Pid, &status, 0);
            }
            while (reaped < 0 && Interop.LastErrno == Interop.Errno.EINTR);

            // ECHILD: reaped by someone else (SIGCHLD ignored): gone either way.
            Status = reaped == Pid ? status : 0;
            _exited.Set();
        }

        private int SpawnFromCopy()
        {
            byte[] image;
            try
            {
                image = File.ReadAllBytes(_path);
            }
            catch (IOException)
            {
                return Interop.Errno.EACCES;
            }
            catch (UnauthorizedAccessException)
            {
                return Interop.Errno.EACCES;
            }

            using SafeFdHandle memfd = NotThree(Interop.memfd_create(FileName, "", Interop.MemfdFlags.CloseOnExec));
            if (memfd.IsInvalid)
            {
                return Interop.LastErrno;
            }

            fixed (byte* bytes = image)
            {
                if (Interop.pwrite(memfd, bytes, (nuint)image.Length, 0) != image.Length)
                {
                    return Interop.LastErrno is 0 ? Interop.Errno.EIO : Interop.LastErrno;
                }
            }

            Described = $"{_path} (run from a memfd copy: the file is not executable)";

            // The child resolves /proc/self/fd/N in its own descriptor table, a copy of ours: the memfd is there until exec.
            return Spawn($"/proc/self/fd/{memfd.DangerousGetHandle()}");
        }

        private int Spawn(string path)
        {
            byte[] file = Utf8z(path);
            byte[] parent = Utf8z(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            byte[] name = Utf8z(_path);
            void* actions = NativeMemory.AllocZeroed(Interop.SpawnObjectBytes);
            void* attributes = NativeMemory.AllocZeroed(Interop.SpawnObjectBytes);
            void* mask = NativeMemory.AllocZeroed(Interop.SigsetBytes);
            bool added = false;
            _childSocket.DangerousAddRef(ref added);
            try
            {
                int error = Interop.posix_spawn_file_actions_init(actions);
                if (error != 0)
                {
                    return error;
                }

                if ((error = Interop.posix_spawnattr_init(attributes)) != 0)
                {
                    _ = Interop.posix_spawn_file_actions_destroy(actions);
                    return error;
                }

                try
                {
                    if ((error = Interop.posix_spawn_file_actions_adddup2(actions, (int)_childSocket.DangerousGetHandle(), 3)) != 0
                        || (error = Interop.posix_spawnattr_setflags(attributes, Interop.SpawnFlags.SetSignalMask)) != 0
                        || (error = Interop.posix_spawnattr_setsigmask(attributes, mask)) != 0)
                    {
                        return error;
                    }

                    fixed (byte* f = file, p = parent, n = name)
                    {
                        byte** argv = stackalloc byte*[3] { n, p, null };
                        byte** envp = stackalloc byte*[1] { null };
                        int pid;
                        error = Interop.posix_spawn(&pid, f, actions, attributes, argv, envp);
                        if (error == 0)
                        {
                            Pid = pid;
                        }

                        return error;
                    }
                }
                finally
                {
                    _ = Interop.posix_spawnattr_destroy(attributes);
                    _ = Interop.posix_spawn_file_actions_destroy(actions);
                }
            }
            finally
            {
                if (added)
                {
                    _childSocket.DangerousRelease();
                }

                NativeMemory.Free(actions);
                NativeMemory.Free(attributes);
                NativeMemory.Free(mask);
            }
        }

        private static byte[] Utf8z(string text)
        {
            byte[] bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, bytes);
            return bytes;
        }
    }
}
