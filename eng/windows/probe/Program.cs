using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using static WinProbe.Kernel32;

namespace WinProbe;

/// <summary>
/// Checks, under Wine or on Windows, the Win32 memory calls the Windows backend of Pmalloc needs, and prints what
/// each one did. Checks 1-3 are facts the backend relies on: the probe exits 1 if one of them does not hold.
/// Checks 4-6 are findings for the backend's author: printed as yes or no, they do not fail the probe.
/// With an argument it is one of its own child processes (see <see cref="Child"/>).
/// </summary>
internal static unsafe class Program
{
    private static readonly int Page = Environment.SystemPageSize;
    private static int failures;

    private static int Main(string[] args)
    {
        if (args.Length > 0)
            return Child(args);
        Check("1 environment", Environment_);
        Check("2 write to a PAGE_READONLY page in a child", WriteToReadOnlyPage);
        Check("3 section with a read-only and a writable view", SectionViews);
        Check("4 section handle duplicated into a writer child", DuplicatedSectionWriter);
        Check("5 WerRegisterExcludedMemoryBlock", WerExclusion);
        Check("6 VirtualLock", Lock);
        Console.WriteLine(failures == 0 ? "probe: checks 1-3 hold" : $"probe: {failures} of checks 1-3 failed");
        return failures == 0 ? 0 : 1;
    }

    private static void Check(string name, Func<bool> check)
    {
        Console.WriteLine($"== ({name})");
        bool ok;
        try { ok = check(); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.WriteLine($"   exception: {e.GetType().Name}: {e.Message}");
            ok = false;
        }
        Console.WriteLine($"   => {(ok ? "PASS" : "FAIL")}");
        if (!ok)
            failures++;
    }

    private static void Say(string line) => Console.WriteLine("   " + line);
    private static string Error() => $"error {Marshal.GetLastPInvokeError()} ({Marshal.GetLastPInvokeErrorMessage()})";
    private static string Hex(int code) => $"0x{(uint)code:X8} ({code})";

    private static bool Environment_()
    {
        Say($"Environment.OSVersion: {Environment.OSVersion}");
        Say($"Environment.SystemPageSize: {Environment.SystemPageSize}");
        Say($"RuntimeInformation.OSDescription: {RuntimeInformation.OSDescription}");
        Say($"RuntimeInformation.RuntimeIdentifier: {RuntimeInformation.RuntimeIdentifier}, .NET {Environment.Version}, {RuntimeInformation.ProcessArchitecture}");
        GetSystemInfo(out var info);
        Say($"GetSystemInfo: page size {info.PageSize}, allocation granularity {info.AllocationGranularity}, {info.NumberOfProcessors} processors");
        Say($"Environment.ProcessPath: {Environment.ProcessPath}");
        Say($"wine_get_version (ntdll): {WineVersion() ?? "not exported: not Wine"}");
        return Environment.OSVersion.Platform == PlatformID.Win32NT && Page > 0;
    }

    private static string? WineVersion()
    {
        if (!NativeLibrary.TryLoad("ntdll.dll", out var ntdll) || !NativeLibrary.TryGetExport(ntdll, "wine_get_version", out var fn))
            return null;
        return Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)fn)());
    }

    private static bool WriteToReadOnlyPage()
    {
        bool ok = true;
        foreach (var mode in new[] { "write-readonly-page", "write-readonly-view" })
        {
            var (code, stdout, stderr) = RunChild([mode], stdin: null);
            bool reached = stdout.Contains("writing now", StringComparison.Ordinal);
            Say($"child '{mode}': exit code {Hex(code)}, reached the write: {reached}");
            foreach (var line in stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(2))
                Say($"  child stderr: {line}");
            ok &= reached && code != 0;
        }
        return ok;
    }

    private static bool SectionViews()
    {
        nuint size = (nuint)(4 * Page);
        var section = CreateFileMapping(InvalidHandleValue, 0, PageReadWrite, 0, (uint)size, null);
        if (section == 0) { Say($"CreateFileMapping: {Error()}"); return false; }
        var ro = MapViewOfFile(section, FileMapRead, 0, 0, size);
        var rw = MapViewOfFile(section, FileMapWrite, 0, 0, size);
        if (ro == 0 || rw == 0) { Say($"MapViewOfFile: {Error()}"); return false; }
        Say($"views: read-only at 0x{ro:X} ({Protection(ro)}), writable at 0x{rw:X} ({Protection(rw)})");
        var text = "written through the writable view"u8;
        text.CopyTo(new Span<byte>((void*)(rw + 3 * Page + 100), text.Length));
        bool shared = new ReadOnlySpan<byte>((void*)(ro + 3 * Page + 100), text.Length).SequenceEqual(text);
        Say($"the read-only view sees the write through the writable one: {shared}");
        bool refused = !VirtualProtect(ro, (nuint)Page, PageReadWrite, out _);
        Say($"VirtualProtect(read-only view, PAGE_READWRITE) refused: {refused}{(refused ? $", {Error()}" : $", now {Protection(ro)}")}");
        UnmapViewOfFile(rw);
        UnmapViewOfFile(ro);
        CloseHandle(section);
        return shared;
    }

    private static bool DuplicatedSectionWriter()
    {
        nuint size = (nuint)(4 * Page);
        var section = CreateFileMapping(InvalidHandleValue, 0, PageReadWrite, 0, (uint)size, null);
        var ro = section == 0 ? 0 : MapViewOfFile(section, FileMapRead, 0, 0, size);
        if (ro == 0) { Say($"section or read-only view: {Error()}"); return false; }
        var expected = Encoding.ASCII.GetBytes("stored by the writer child");
        bool seen = false;
        foreach (var (label, access, options, at) in new[]
                 {
                     ("SECTION_MAP_READ|SECTION_MAP_WRITE", SectionMapRead | SectionMapWrite, 0u, 2 * Page),
                     ("DUPLICATE_SAME_ACCESS", 0u, DuplicateSameAccess, 3 * Page),
                 })
        {
            var startInfo = ChildStart(["map-and-write", size.ToString(CultureInfo.InvariantCulture), at.ToString(CultureInfo.InvariantCulture)]);
            using var child = Process.Start(startInfo)!;
            var stdout = child.StandardOutput.ReadToEndAsync();
            var stderr = child.StandardError.ReadToEndAsync();
            var process = OpenProcess(ProcessDupHandle, false, (uint)child.Id);
            nint remote = 0;
            bool duplicated = process != 0 && DuplicateHandle(GetCurrentProcess(), section, process, out remote, access, false, options);
            Say($"[{label}] OpenProcess(PROCESS_DUP_HANDLE): {(process != 0 ? "ok" : Error())}; DuplicateHandle: {(duplicated ? $"ok, child handle 0x{remote:X}" : Error())}");
            if (process != 0)
                CloseHandle(process);
            child.StandardInput.WriteLine(duplicated ? remote.ToString("X", CultureInfo.InvariantCulture) : "0");
            child.StandardInput.Close();
            if (!child.WaitForExit(TimeSpan.FromSeconds(120))) { child.Kill(); Say("child timed out"); continue; }
            Say($"[{label}] child exit code {Hex(child.ExitCode)}: {stdout.Result.Trim()} {stderr.Result.Trim()}");
            var view = new ReadOnlySpan<byte>((void*)(ro + at), expected.Length);
            bool saw = duplicated && child.ExitCode == 0 && view.SequenceEqual(expected);
            Say($"[{label}] parent's read-only view sees the child's store: {saw}");
            seen |= saw;
        }
        {
            // Does Wine hold a duplicated handle to the access it was given? A read-only handle must not map writable.
            using var child = Process.Start(ChildStart(["map-and-write", size.ToString(CultureInfo.InvariantCulture), (1 * Page).ToString(CultureInfo.InvariantCulture)]))!;
            var stdout = child.StandardOutput.ReadToEndAsync();
            var process = OpenProcess(ProcessDupHandle, false, (uint)child.Id);
            nint remote = 0;
            bool duplicated = process != 0 && DuplicateHandle(GetCurrentProcess(), section, process, out remote, SectionMapRead, false, 0);
            if (process != 0)
                CloseHandle(process);
            child.StandardInput.WriteLine(duplicated ? remote.ToString("X", CultureInfo.InvariantCulture) : "0");
            child.StandardInput.Close();
            if (!child.WaitForExit(TimeSpan.FromSeconds(120))) { child.Kill(); Say("child timed out"); }
            else
                Say($"[SECTION_MAP_READ only] DuplicateHandle: {(duplicated ? "ok" : "failed")}; child exit code {Hex(child.ExitCode)}: {stdout.Result.Trim()}; "
                    + $"writable mapping refused: {(child.ExitCode == 12 ? "yes" : "NO")}");
        }
        // The parent drops its own handle: from here on only its read-only view (and no handle) is left in it.
        CloseHandle(section);
        Say($"a writer process through a duplicated section handle works: {(seen ? "yes" : "no")}");
        UnmapViewOfFile(ro);
        return true;
    }

    private static bool WerExclusion()
    {
        foreach (var dll in new[] { "kernel32.dll", "kernelbase.dll", "wer.dll" })
        {
            bool loaded = NativeLibrary.TryLoad(dll, out var lib);
            bool exported = loaded && NativeLibrary.TryGetExport(lib, "WerRegisterExcludedMemoryBlock", out _);
            Say($"{dll}: {(loaded ? exported ? "exports WerRegisterExcludedMemoryBlock" : "loaded, no such export" : "not loadable")}");
        }
        foreach (var name in new[] { "VirtualAlloc2", "MapViewOfFile3" })
            Say($"(for reference) kernelbase.dll exports {name}: {NativeLibrary.TryGetExport(NativeLibrary.Load("kernelbase.dll"), name, out _)}");
        if (!NativeLibrary.TryGetExport(NativeLibrary.Load("kernel32.dll"), "WerRegisterExcludedMemoryBlock", out _))
        {
            Say("WerRegisterExcludedMemoryBlock exists: no");
            return true;
        }
        var p = VirtualAlloc(0, (nuint)Page, MemCommit | MemReserve, PageReadWrite);
        int hr = WerRegisterExcludedMemoryBlock(p, (uint)Page);
        Say($"WerRegisterExcludedMemoryBlock(page): HRESULT {Hex(hr)}");
        if (hr == 0)
            Say($"WerUnregisterExcludedMemoryBlock: HRESULT {Hex(WerUnregisterExcludedMemoryBlock(p))}");
        VirtualFree(p, 0, MemRelease);
        Say($"WerRegisterExcludedMemoryBlock exists: yes, {(hr == 0 ? "succeeds" : "fails")}");
        return true;
    }

    private static bool Lock()
    {
        var self = GetCurrentProcess();
        GetProcessWorkingSetSize(self, out var min, out var max);
        Say($"GetProcessWorkingSetSize: minimum {min}, maximum {max}");
        var page = VirtualAlloc(0, (nuint)Page, MemCommit | MemReserve, PageReadWrite);
        Say($"VirtualLock(one page): {(VirtualLock(page, (nuint)Page) ? "ok" : Error())}; VirtualUnlock: {(VirtualUnlock(page, (nuint)Page) ? "ok" : Error())}");
        VirtualFree(page, 0, MemRelease);
        const int Big = 64 << 20;
        var big = VirtualAlloc(0, Big, MemCommit | MemReserve, PageReadWrite);
        string before = LockedKib();
        bool locked = VirtualLock(big, Big);
        Say($"VirtualLock(64 MiB, above the working-set minimum): {(locked ? "ok" : Error())}");
        Say($"locked memory as Linux counts it (VmLck of the probe's Linux process): {before} before, {LockedKib()} after the lock");
        if (locked)
            VirtualUnlock(big, Big);
        bool grown = SetProcessWorkingSetSize(self, min + 2 * Big, max + 2 * Big);
        Say($"SetProcessWorkingSetSize(+128 MiB): {(grown ? "ok" : Error())}");
        GetProcessWorkingSetSize(self, out min, out max);
        Say($"GetProcessWorkingSetSize after: minimum {min}, maximum {max}");
        if (!locked)
        {
            locked = VirtualLock(big, Big);
            Say($"VirtualLock(64 MiB) after growing the working set: {(locked ? "ok" : Error())}");
            if (locked)
                VirtualUnlock(big, Big);
        }
        VirtualFree(big, 0, MemRelease);
        return true;
    }

    /// <summary>
    /// Under Wine the process is a Linux process named after its .exe. Z:\proc\self would be the wineserver's, which
    /// opens files for its clients, so this reads the VmLck line of every Linux process with this probe's name.
    /// </summary>
    private static string LockedKib()
    {
        try
        {
            var name = Path.GetFileName(Environment.ProcessPath!);
            name = name[..Math.Min(name.Length, 15)];
            var found = new List<string>();
            foreach (var dir in Directory.EnumerateDirectories(@"Z:\proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid))
                    continue;
                string[] lines;
                try { lines = File.ReadAllLines(Path.Combine(dir, "status")); }
                catch (IOException) { continue; }
                if (!lines.Any(l => l == "Name:\t" + name))
                    continue;
                var vmLck = lines.FirstOrDefault(l => l.StartsWith("VmLck:", StringComparison.Ordinal));
                if (vmLck is null)
                    continue; // an exited child, not yet reaped
                found.Add($"pid {pid} {string.Join(' ', vmLck.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Skip(1))}");
            }
            return found.Count == 0 ? "no Linux process of that name" : string.Join(", ", found);
        }
        catch (IOException e) { return $"unreadable ({e.Message})"; }
        catch (UnauthorizedAccessException e) { return $"unreadable ({e.Message})"; }
    }

    private static string Protection(nint address)
    {
        if (VirtualQuery(address, out var info, (nuint)sizeof(MemoryBasicInformation)) == 0)
            return Error();
        return info.Protect switch
        {
            PageNoAccess => "PAGE_NOACCESS",
            PageReadOnly => "PAGE_READONLY",
            PageReadWrite => "PAGE_READWRITE",
            var other => $"protection 0x{other:X}",
        };
    }

    private static ProcessStartInfo ChildStart(string[] args)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        return info;
    }

    private static (int Code, string Stdout, string Stderr) RunChild(string[] args, string? stdin)
    {
        using var child = Process.Start(ChildStart(args))!;
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEndAsync();
        if (stdin is not null)
            child.StandardInput.Write(stdin);
        child.StandardInput.Close();
        if (!child.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            child.Kill();
            throw new TimeoutException($"child '{string.Join(' ', args)}' did not finish in 120 s");
        }
        return (child.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The child processes: each returns 0 only where the parent expects a fault, so 0 means none came.</summary>
    private static int Child(string[] args)
    {
        switch (args[0])
        {
            case "write-readonly-page":
            {
                var p = VirtualAlloc(0, (nuint)Page, MemCommit | MemReserve, PageReadWrite);
                *(byte*)p = 1;
                if (!VirtualProtect(p, (nuint)Page, PageReadOnly, out _)) { Console.WriteLine($"VirtualProtect: {Error()}"); return 10; }
                Console.WriteLine("writing now"); Console.Out.Flush();
                *(byte*)p = 2;
                return 0;
            }
            case "write-readonly-view":
            {
                var section = CreateFileMapping(InvalidHandleValue, 0, PageReadWrite, 0, (uint)Page, null);
                var ro = MapViewOfFile(section, FileMapRead, 0, 0, (nuint)Page);
                if (ro == 0) { Console.WriteLine($"MapViewOfFile: {Error()}"); return 10; }
                Console.WriteLine("writing now"); Console.Out.Flush();
                *(byte*)ro = 2;
                return 0;
            }
            case "map-and-write":
            {
                var size = nuint.Parse(args[1], CultureInfo.InvariantCulture);
                var at = int.Parse(args[2], CultureInfo.InvariantCulture);
                var handle = nint.Parse(Console.ReadLine() ?? "0", NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (handle == 0) { Console.WriteLine("no handle"); return 11; }
                var view = MapViewOfFile(handle, FileMapWrite, 0, 0, size);
                if (view == 0) { Console.WriteLine($"child MapViewOfFile(FILE_MAP_WRITE): {Error()}"); return 12; }
                Encoding.ASCII.GetBytes("stored by the writer child").CopyTo(new Span<byte>((void*)(view + at), 26));
                UnmapViewOfFile(view);
                CloseHandle(handle);
                Console.WriteLine($"child {Environment.ProcessId} mapped the section writable and stored");
                return 0;
            }
            case "unhandled-exception":
                Console.WriteLine("throwing now"); Console.Out.Flush();
                throw new InvalidOperationException("the probe's unhandled exception, thrown on purpose");
            default:
                Console.Error.WriteLine($"unknown child mode '{args[0]}'");
                return 64;
        }
    }
}
