using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Versioning;

namespace Pmalloc.Tests;

/// <summary>
/// The writer process on Windows (<c>pmalloc-writer.exe</c>): it holds the only writable view of a protected write-rare
/// chunk, and every write into protected memory goes through it. Run on Windows only (in CI under Wine); the Linux
/// writer's tests are <see cref="WriterProcessTests"/>, the Linux maps scanner <see cref="NoWindowTests"/>.
/// </summary>
[Collection(SerialCollection.Name)]
[SupportedOSPlatform("windows")]
public sealed unsafe class WindowsWriterTests
{
    private static readonly nuint Page = (nuint)Environment.SystemPageSize;

    [Fact]
    public void Every_write_rare_call_after_Protect_lands_and_the_public_view_stays_read_only()
    {
        Platform.RequireWindows("the Windows writer process");
        using WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName() });
        ref long counter = ref pool.Allocate<long>();
        ref nint slot = ref pool.Allocate<nint>();
        nint area = pool.Allocate(3 * Page);
        pool.Protect();
        nint chunk = pool.Chunks[0].Start;

        pool.Write(in counter, 41);
        Assert.Equal(42, pool.Add(in counter, 1));
        Assert.Equal(42, pool.CompareExchange(in counter, 7, 42));
        Assert.Equal(7, counter);
        pool.Publish(in slot, 0x600D);
        Assert.Equal(0x600D, slot);
        pool.Fill(area, 0xA5, 3 * Page);
        Assert.True(new ReadOnlySpan<byte>((void*)area, (int)(3 * Page)).IndexOfAnyExcept((byte)0xA5) < 0);
        using (WriteRareBatch batch = pool.BeginWrites())
        {
            batch.Write(area, "held"u8);
            batch.Write(area + 100, "and flushed"u8);
        }

        Assert.True(new ReadOnlySpan<byte>((void*)area, 4).SequenceEqual("held"u8));
        Assert.True(new ReadOnlySpan<byte>((void*)(area + 100), 11).SequenceEqual("and flushed"u8));
        Assert.Equal(MemoryRegion.PageReadOnly, WindowsMemoryInfo.At(chunk).Protection);
        Assert.NotEqual(0, OsWriter.ProcessId);
        Assert.NotEqual(Environment.ProcessId, OsWriter.ProcessId);
    }

    [Fact]
    public void A_thread_scanning_the_address_space_during_a_storm_of_every_write_rare_call_never_finds_a_writable_view()
    {
        Platform.RequireWindows("VirtualQuery");

        // A tag no other memory holds: the scanner looks for it, at its offset in a page, in every writable mapped view of
        // this process. A writable view of the chunk's section, anywhere, would show it there (views start on a page).
        byte[] tag = new byte[64];
        Random.Shared.NextBytes(tag);
        using WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName() });
        nint tagged = pool.Allocate((nuint)tag.Length);
        tag.CopyTo(new Span<byte>((void*)tagged, tag.Length));
        ref long counter = ref pool.Allocate<long>();
        ref nint slot = ref pool.Allocate<nint>();
        nint area = pool.Allocate(Page);
        pool.Protect();
        int tagOffset = (int)(tagged & (nint)(Page - 1));
        nint chunk = pool.Chunks[0].Start;

        List<string> found = [];
        int scans = 0, readOnlyChecks = 0;
        bool stop = false;
        Thread scanner = new(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                Platform.LetGcIn();
                foreach (MemoryRegion r in WindowsMemoryInfo.All())
                {
                    if (r.Type != MemoryRegion.MemMapped || !r.IsWritable)
                    {
                        continue;
                    }

                    for (nuint page = 0; page + (nuint)tagOffset + (nuint)tag.Length <= r.Size; page += Page)
                    {
                        if (new ReadOnlySpan<byte>((void*)(r.Base + (nint)page + tagOffset), tag.Length).SequenceEqual(tag))
                        {
                            found.Add($"0x{r.Base + (nint)page:x} in the writable view at 0x{r.AllocationBase:x} (protection 0x{r.Protection:x})");
                        }
                    }
                }

                // And the public view was never made writable for a moment.
                if (WindowsMemoryInfo.At(chunk).Protection != MemoryRegion.PageReadOnly)
                {
                    found.Add($"the public chunk at 0x{chunk:x} was writable");
                }

                readOnlyChecks++;
                scans++;
            }
        })
        { IsBackground = true };
        scanner.Start();

        Stopwatch storm = Stopwatch.StartNew();
        int rounds = 0;
        while (rounds < 20 || (storm.Elapsed < TimeSpan.FromSeconds(5) && scans < 3))
        {
            pool.Write(in counter, rounds);
            _ = pool.Add(in counter, 1);
            _ = pool.CompareExchange(in counter, rounds, rounds + 1);
            pool.Publish(in slot, rounds);
            pool.Fill(area, unchecked((byte)rounds), Page);
            using (WriteRareBatch batch = pool.BeginWrites())
            {
                batch.Write(area, BitConverter.GetBytes(rounds));
                batch.Fill(area + 64, 0x5A, 64);
            }

            rounds++;
        }

        Volatile.Write(ref stop, true);
        scanner.Join();
        Assert.True(scans > 0 && readOnlyChecks > 0);
        Assert.True(new ReadOnlySpan<byte>((void*)tagged, tag.Length).SequenceEqual(tag));
        Assert.True(found.Count == 0, $"after {scans} scans: {string.Join("; ", found)}");
    }

    [Fact]
    public void The_writer_refuses_every_offset_outside_the_chunk_and_writes_nothing()
    {
        Platform.RequireWindows("the Windows writer process");
        using WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = Environment.SystemPageSize });
        long* first = (long*)Unsafe.AsPointer(ref pool.Allocate<long>());
        *first = 0x5A5A5A5A5A5A5A5A;
        pool.Protect();
        Chunk chunk = pool.Chunks[0];
        Assert.False(OsWriter.TryRegister(chunk.Mapping, out WriterRegistration? registration).Failed);
        Assert.False(WindowsWriterProcess.TryGet(out WindowsWriterProcess? writer).Failed);
        try
        {
            ulong length = chunk.Mapping.Length;
            (WindowsWriterProcess.Op Op, ulong Offset, ulong Count)[] refused =
            [
                (WindowsWriterProcess.Op.Store, length, 0),             // one past the end
                (WindowsWriterProcess.Op.Store, length - 4, 0),         // crosses the end
                (WindowsWriterProcess.Op.Store, 4, 0),                  // misaligned
                (WindowsWriterProcess.Op.Add, ulong.MaxValue - 3, 0),   // wraps
                (WindowsWriterProcess.Op.CompareExchange, length, 0),
                (WindowsWriterProcess.Op.Fill, length - 8, 16),         // crosses the end (into the trailing guard page)
                (WindowsWriterProcess.Op.Fill, ulong.MaxValue, 2),
                ((WindowsWriterProcess.Op)99, 0, 0),                    // no such operation
            ];
            foreach ((WindowsWriterProcess.Op op, ulong offset, ulong count) in refused)
            {
                OsResult result = writer!.TryCall(op, registration!.Handle, offset, count, 0xBA, 0, null, 0, "test", out _);
                Assert.True(result.Failed, $"{op} at {offset} was accepted");
                Assert.True(result.Errno is 87 or 1, $"{op} at {offset}: {result}"); // ERROR_INVALID_PARAMETER, ERROR_INVALID_FUNCTION
            }

            // A made-up handle (the chunk's address in the writer, moved by a page: the leading guard page).
            OsResult stale = writer!.TryCall(WindowsWriterProcess.Op.Store, registration!.Handle - (ulong)Page, 0, 0xBAD, 0, 0, null, 0, "test", out _);
            Assert.Equal(87, stale.Errno);

            // A write that crosses the end: its data is read (the stream stays in step) and dropped.
            byte* bytes = stackalloc byte[16];
            new Span<byte>(bytes, 16).Fill(0xBA);
            OsResult across = writer.TryCall(WindowsWriterProcess.Op.Write, registration.Handle, length - 8, 16, 0, 0, bytes, 16, "test", out _);
            Assert.Equal(87, across.Errno);

            // The writer still answers, in step.
            Assert.False(writer.TryCall(WindowsWriterProcess.Op.Hello, 0, 0, 0, 0, 0, null, 0, "test", out ulong magic).Failed);
            Assert.Equal(0x31575250414d50UL, magic);
        }
        finally
        {
            OsWriter.Unregister(registration!);
        }

        Assert.Equal(unchecked((long)0x5A5A5A5A5A5A5A5A), *first);
        Assert.True(TestPools.IsZero(chunk.Start + 8, chunk.Mapping.Length - 8));
    }

    [Fact]
    public void One_writer_serves_every_pool_and_each_pool_leaves_it_at_MakeReadOnly_and_Dispose()
    {
        Platform.RequireWindows("the Windows writer process");
        using WriteRarePool a = new(new PoolOptions { Name = TestPools.UniqueName() });
        using WriteRarePool b = new(new PoolOptions { Name = TestPools.UniqueName() });
        ref long x = ref a.Allocate<long>();
        ref long y = ref b.Allocate<long>();
        a.Protect();
        b.Protect();
        a.Publish(in Unsafe.As<long, nint>(ref x), 1);
        int writer = OsWriter.ProcessId;
        b.Publish(in Unsafe.As<long, nint>(ref y), 2);
        Assert.Equal(writer, OsWriter.ProcessId);
        Assert.Equal(1, a.WriterMappings);
        a.MakeReadOnly();
        Assert.Equal(0, a.WriterMappings);
        Assert.Equal(1, b.WriterMappings);
        Assert.Equal(1, x);
        Assert.Equal(2, y);
        using Process process = Process.GetProcessById(writer);
        Assert.False(process.HasExited);
    }

    [Fact]
    public void The_writer_dies_with_its_parent()
    {
        Platform.RequireWindows("the Windows writer process");
        using Process child = Child.Start("writer-orphan");
        string? line = child.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith("writer ", StringComparison.Ordinal))
        {
            child.Kill();
            Assert.Fail($"the child said: {line}\n{child.StandardError.ReadToEnd()}");
        }

        using Process writer = Process.GetProcessById(int.Parse(line["writer ".Length..], CultureInfo.InvariantCulture));
        Assert.False(writer.HasExited);
        child.Kill();
        child.WaitForExit();

        // Its standard input was the child's pipe: Windows closes a dead process's handles, and the writer ends at EOF.
        Assert.True(writer.WaitForExit(TimeSpan.FromSeconds(60)), $"the writer {writer.Id} outlived its parent");
    }

    [Fact]
    public void Where_the_writer_is_missing_every_write_after_Protect_is_refused_naming_it_and_nothing_changes()
    {
        Platform.RequireWindows("the Windows writer process");
        ChildResult result = Child.Run("windows-writer-missing");
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (string call in new[] { "Write", "Fill", "Publish" })
        {
            Assert.Contains($"{call} refused: PlatformNotSupportedException: Pool 'child-rare': cannot ", result.StandardOutput, StringComparison.Ordinal);
        }

        Assert.Contains(@"there is no pmalloc-writer.exe in C:\nonexistent\dir\pmalloc-writer.exe", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("value kept: True", result.StandardOutput, StringComparison.Ordinal);
    }
}
