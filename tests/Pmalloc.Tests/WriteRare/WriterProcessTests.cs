using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>
/// The writer process: one per process, started on first need, sandboxed, holding the pools' memory with their
/// hardening only while they need it, refusing any offset outside what was registered, dying with its parent,
/// replaced when it dies, and failing with a message naming its path where it cannot start.
/// </summary>
public sealed unsafe class WriterProcessTests
{
    private static WriteRarePool ProtectedPool(out long* slot, bool excludeFromCoreDumps = false, bool lockInMemory = false, [CallerMemberName] string test = "")
    {
        WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName(test), ExcludeFromCoreDumps = excludeFromCoreDumps, LockInMemory = lockInMemory });
        slot = (long*)Unsafe.AsPointer(ref pool.Allocate<long>());
        pool.Protect();
        return pool;
    }

    /// <summary>Only root reads another process's maps and fds once it is not dumpable (the writer is not).</summary>
    private static void RequireProcAccess(int pid)
    {
        try
        {
            _ = File.ReadAllText($"/proc/{pid}/maps");
        }
        catch (UnauthorizedAccessException)
        {
            Assert.Skip("the writer process is not dumpable: only a privileged process can read its /proc/PID/maps");
        }
    }

    /// <summary>Has process <paramref name="pid"/> ended: reaped, or a zombie?</summary>
    private static bool IsGone(int pid)
    {
        try
        {
            return Status(pid)["State"][0] is 'Z' or 'X';
        }
        catch (IOException)
        {
            return true; // reaped: /proc/PID is gone
        }
    }

    private static Dictionary<string, string> Status(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());

    [Fact]
    public void One_sandboxed_writer_serves_every_pool_of_the_process()
    {
        Platform.RequireLinux("the Linux writer process (Windows: WindowsWriterTests)");
        using WriteRarePool first = ProtectedPool(out long* a);
        using WriteRarePool second = ProtectedPool(out long* b);
        first.Publish(in *(nint*)a, 1);
        int pid = OsWriter.ProcessId;
        second.Add(in *b, 2);
        Assert.NotEqual(0, pid);
        Assert.Equal(pid, OsWriter.ProcessId);

        Dictionary<string, string> status = Status(pid);
        Assert.Equal(Environment.ProcessId.ToString(CultureInfo.InvariantCulture), status["PPid"]);
        Assert.Equal("1", status["NoNewPrivs"]);
        if (WriterProcess.Current!.Seccomp)
        {
            Assert.Equal("2", status["Seccomp"]); // a filter
        }

        Assert.EndsWith("/pmalloc-writer", File.ReadAllText($"/proc/{pid}/cmdline").Split('\0')[0], StringComparison.Ordinal);
        Assert.Contains(AppContext.BaseDirectory.TrimEnd('/'), WriterProcess.Current.Path, StringComparison.Ordinal);

        // Its only descriptor is its socket (the memfds it was sent are closed once mapped).
        RequireProcAccess(pid);
        string[] fds = Directory.GetFiles($"/proc/{pid}/fd");
        Assert.Equal(["3"], fds.Select(Path.GetFileName));
        Assert.StartsWith("socket:[", new FileInfo(fds[0]).LinkTarget, StringComparison.Ordinal);
    }

    [Fact]
    public void The_writer_maps_a_pool_with_its_hardening_and_drops_it_at_MakeReadOnly_and_Dispose()
    {
        Platform.RequireLinux("the Linux writer process (Windows: WindowsWriterTests)");
        using WriteRarePool kept = ProtectedPool(out long* k, excludeFromCoreDumps: true, lockInMemory: true);
        using WriteRarePool disposed = ProtectedPool(out long* d, excludeFromCoreDumps: true);
        kept.Publish(in *(nint*)k, 1);
        disposed.Add(in *d, 1);
        int pid = OsWriter.ProcessId;
        RequireProcAccess(pid);

        List<SmapsEntry> writer = SmapsEntry.Read(pid.ToString(CultureInfo.InvariantCulture));
        SmapsEntry keptMapping = Assert.Single(writer, e => e.Path == MapsEntry.PoolPath(kept.Name));
        SmapsEntry disposedMapping = Assert.Single(writer, e => e.Path == MapsEntry.PoolPath(disposed.Name));
        Assert.Equal("rw-s", keptMapping.Permissions);
        Assert.Contains("dd", keptMapping.VmFlags);
        Assert.Contains("lo", keptMapping.VmFlags);   // mlock2(MLOCK_ONFAULT): locked...
        Assert.Contains("lf", keptMapping.VmFlags);   // ...on fault
        Assert.Contains("dd", disposedMapping.VmFlags);
        Assert.DoesNotContain("lo", disposedMapping.VmFlags);

        kept.MakeReadOnly();
        disposed.Dispose();
        List<MapsEntry> after = MapsEntry.Read(pid.ToString(CultureInfo.InvariantCulture));
        Assert.DoesNotContain(after, e => e.Path == MapsEntry.PoolPath(kept.Name) || e.Path == MapsEntry.PoolPath(disposed.Name));
    }

    [Fact]
    public void The_writer_refuses_every_offset_outside_the_registered_range_and_writes_nothing()
    {
        Platform.RequireLinux("the Linux writer process (Windows: WindowsWriterTests)");
        using WriteRarePool pool = ProtectedPool(out long* slot);
        Chunk chunk = pool.Chunks[0];
        pool.Fill((nint)slot, 0x5A, 8);
        Assert.False(OsWriter.TryRegister(chunk.Mapping, out WriterRegistration? registration).Failed);
        try
        {
            WriterProcess writer = WriterProcess.Current!;
            ulong length = (ulong)chunk.Mapping.Length;
            (WriterProtocol.Op Op, ulong Offset, ulong Length)[] refused =
            [
                (WriterProtocol.Op.Store, length, 0),          // just past the end
                (WriterProtocol.Op.Store, length - 4, 0),      // crosses the end
                (WriterProtocol.Op.Store, 4, 0),               // misaligned
                (WriterProtocol.Op.Add, ulong.MaxValue - 7, 0), // wraps
                (WriterProtocol.Op.CompareExchange, length + 8, 0),
                (WriterProtocol.Op.Fill, length - 8, 9),       // a fill that crosses the end
                (WriterProtocol.Op.Fill, ulong.MaxValue, 2),
                ((WriterProtocol.Op)99, 0, 0),                 // no such operation
            ];
            foreach ((WriterProtocol.Op op, ulong offset, ulong count) in refused)
            {
                WriterProtocol.Request request = new() { Op = op, Handle = registration!.Handle, Offset = offset, Length = count, Value = 0xBAD };
                Assert.False(writer.TryCall(ref request, null, null, 0, "test", out WriterProtocol.Reply reply).Failed);
                Assert.Equal(Interop.Errno.EINVAL, reply.Error);
            }

            // A stale or made-up handle, and a descriptor sent where none belongs.
            WriterProtocol.Request stale = new() { Op = WriterProtocol.Op.Store, Handle = registration!.Handle + (1UL << 32), Offset = 0, Value = 0xBAD };
            Assert.False(writer.TryCall(ref stale, null, null, 0, "test", out WriterProtocol.Reply staleReply).Failed);
            Assert.Equal(Interop.Errno.EINVAL, staleReply.Error);
            WriterProtocol.Request withFd = new() { Op = WriterProtocol.Op.Store, Handle = registration.Handle, Offset = 0, Value = 0xBAD };
            Assert.False(writer.TryCall(ref withFd, chunk.Mapping.Fd, null, 0, "test", out WriterProtocol.Reply fdReply).Failed);
            Assert.Equal(Interop.Errno.EINVAL, fdReply.Error);

            // A write whose declared length is not its payload's, and one that crosses the end.
            byte* bytes = stackalloc byte[16];
            new Span<byte>(bytes, 16).Fill(0xBA);
            WriterProtocol.Request liar = new() { Op = WriterProtocol.Op.Write, Handle = registration.Handle, Offset = 0, Length = 8 };
            Assert.False(writer.TryCall(ref liar, null, bytes, 16, "test", out WriterProtocol.Reply liarReply).Failed);
            Assert.Equal(Interop.Errno.EINVAL, liarReply.Error);
            WriterProtocol.Request across = new() { Op = WriterProtocol.Op.Write, Handle = registration.Handle, Offset = length - 8, Length = 16 };
            Assert.False(writer.TryCall(ref across, null, bytes, 16, "test", out WriterProtocol.Reply acrossReply).Failed);
            Assert.Equal(Interop.Errno.EINVAL, acrossReply.Error);
        }
        finally
        {
            OsWriter.Unregister(registration!);
        }

        // Nothing was written anywhere in the chunk.
        Assert.Equal(unchecked((long)0x5A5A5A5A5A5A5A5A), *slot);
        Assert.True(TestPools.IsZero(chunk.Start + 8, chunk.Mapping.Length - 8));
    }

    [Fact]
    public void The_writer_dies_with_its_parent()
    {
        Platform.RequireLinux("the Linux writer process (Windows: WindowsWriterTests)");
        using Process child = Child.Start("writer-orphan");
        string? line = child.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith("writer ", StringComparison.Ordinal))
        {
            child.Kill();
            Assert.Fail($"the child said: {line}\n{child.StandardError.ReadToEnd()}");
        }

        int writer = int.Parse(line["writer ".Length..], CultureInfo.InvariantCulture);
        Assert.True(Directory.Exists($"/proc/{writer}"));
        Assert.Equal(child.Id.ToString(CultureInfo.InvariantCulture), Status(writer)["PPid"]);

        child.Kill();
        child.WaitForExit();

        // PR_SET_PDEATHSIG(SIGKILL): the kernel kills it as its parent dies (then whoever inherits it reaps it, or not).
        for (int i = 0; i < 200 && !IsGone(writer); i++)
        {
            Thread.Sleep(50);
        }

        Assert.True(IsGone(writer), $"the writer {writer} outlived its parent");
    }

    [Fact]
    public void Where_the_writer_is_missing_an_atomic_call_fails_naming_its_path_and_writes_keep_working()
    {
        Platform.RequireLinux("the Linux writer process (Windows: WindowsWriterTests)");
        ChildResult result = Child.Run("writer-missing");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("refused: IOException: Pool 'child-rare': cannot start the write-rare writer process: there is no pmalloc-writer in /nonexistent/dir/pmalloc-writer", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("posix_spawn failed with ENOENT", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("value kept: True", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void A_writer_file_without_execute_permission_runs_from_a_memfd_copy()
    {
        Platform.RequireLinux("the Linux writer process (Windows: WindowsWriterTests)");
        ChildResult result = Child.Run("writer-not-executable");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("published: 0x600d", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("(run from a memfd copy: the file is not executable)", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void A_killed_writer_fails_at_most_the_call_that_finds_it_gone_and_the_next_call_starts_another()
    {
        ChildResult result = Child.Run("writer-restart");
        Assert.True(result.ExitCode == 0, result.ToString());
        string[] lines = result.StandardOutput.Split('\n', StringSplitOptions.TrimEntries);
        string afterKill = lines.Single(l => l.StartsWith("right after the kill: ", StringComparison.Ordinal));
        Assert.True(afterKill == "right after the kill: published" || afterKill.Contains("IOException: Pool 'child-rare'", StringComparison.Ordinal), afterKill);
        string[] last = lines.Single(l => l.StartsWith("first ", StringComparison.Ordinal)).Split(' ');
        Assert.NotEqual(last[1], last[3]); // another writer
        Assert.Equal("3", last[5]);        // and it wrote
    }
}
