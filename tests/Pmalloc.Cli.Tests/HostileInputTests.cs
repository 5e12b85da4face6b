using System.Diagnostics;
using System.Text;
using Pmalloc.Cli.Policy;

namespace Pmalloc.Cli.Tests;

/// <summary>
/// <c>pmalloc demo --policy FILE</c> and <c>pmalloc inspect PID</c> given input an adversary chose: each case of issue 11's
/// table ends in a clear error or a normal run, never a stack trace, a hang, unbounded memory or raw escape sequences.
/// </summary>
public sealed unsafe partial class HostileInputTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pmalloc-hostile-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string WritePolicy(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A pool with a policy in it already, so that "left as it was" is not simply "empty".</summary>
    private static WriteOncePool PoolWithAPolicy(out LoadedPolicy first)
    {
        WriteOncePool pool = TestPools.NewPool();
        first = PolicyLoader.Load(pool, ["role base", "user first base", "allow base read /x"], "first");
        return pool;
    }

    private static void AssertNoStackTrace(ChildResult result)
    {
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.StandardError, StringComparison.Ordinal);
        Assert.NotEqual(134, result.ExitCode);
    }

    private static void AssertOneLineError(ChildResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
        AssertNoStackTrace(result);
        string[] lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string line = Assert.Single(lines);
        Assert.StartsWith("pmalloc demo: cannot read the policy file ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_valid_policy_with_no_allow_rule_runs_the_demo_and_every_query_is_denied()
    {
        string path = WritePolicy("no-rules.txt", "policy bare 1\nrole reader\nuser ann reader\n");

        ChildResult result = Child.Pmalloc(["demo", "--policy", path, "--queries", "1000", "--json"]);

        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
        AssertNoStackTrace(result);
        using System.Text.Json.JsonDocument json = System.Text.Json.JsonDocument.Parse(result.StandardOutput);
        Assert.Equal(0, json.RootElement.GetProperty("queries").GetProperty("allowed").GetInt64());
        Assert.True(json.RootElement.GetProperty("attack").GetProperty("stopped").GetBoolean());
    }

    [Fact]
    public void Proc_self_mem_is_an_io_error_in_one_line_with_exit_2()
    {
        // Opens, then every read fails with EIO.
        AssertOneLineError(Child.Pmalloc(["demo", "--policy", "/proc/self/mem"]), "'/proc/self/mem'");
    }

    [Fact]
    public void An_unreadable_file_is_an_io_error_in_one_line_with_exit_2()
    {
        string path = WritePolicy("secret.txt", "role reader\n");
        File.SetUnixFileMode(path, UnixFileMode.None);

        // The directory may be entered (the file exists for anyone), the file not read.
        File.SetUnixFileMode(_directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);

        // Root reads any file: the command runs without the capabilities that let it (setpriv, from util-linux), so the
        // file's mode binds it as it binds an unprivileged user, wherever the checkout lives (a user such as nobody could
        // not reach a build under a private directory such as mktemp's).
        string[] command = ["demo", "--policy", path];
        ChildResult result = Libc.geteuid() == 0 ? RunWithoutFileCapabilities(command) : Child.Pmalloc(command);

        AssertOneLineError(result, "permission denied");
    }

    [Fact]
    public void A_reload_file_that_cannot_be_read_is_an_io_error_too()
    {
        AssertOneLineError(Child.Pmalloc(["demo", "--policy", Path.Combine(AppContext.BaseDirectory, "samples", "policy.txt"), "--reload", "/proc/self/mem", "--queries", "1000"]), "'/proc/self/mem'");
    }

    [Fact]
    public void Dev_zero_is_refused_at_its_first_line_at_once_with_bounded_memory()
    {
        // No line end ever: read into at most one line's limit, then refused, naming the file and the line.
        ChildResult result = Child.Pmalloc(["demo", "--policy", "/dev/zero"]);

        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
        AssertNoStackTrace(result);
        Assert.Contains("zero:1: the line is longer than 16,384 characters", result.StandardError.ReplaceLineEndings(""), StringComparison.Ordinal);
    }

    [Fact]
    public void A_line_over_the_limit_is_refused_naming_the_file_and_line_and_quoting_none_of_it()
    {
        using WriteOncePool pool = PoolWithAPolicy(out LoadedPolicy first);
        using LoadedPolicy _ = first;
        PoolStatistics before = pool.Statistics;
        string path = WritePolicy("long-line.txt", $"role reader\nuser ann reader\nallow reader read /{new string('x', 1 << 20)}\n");

        long allocated = GC.GetAllocatedBytesForCurrentThread();
        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => PolicyLoader.LoadFile(pool, path));
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.Equal("long-line.txt:3: the line is longer than 16,384 characters, the loader's limit", e.Message);
        Assert.Equal(before, pool.Statistics);

        // The line was never read whole: a megabyte line costs a few buffers, not a megabyte string and its copies.
        Assert.InRange(allocated, 0, 1 << 20);
    }

    [Theory]
    [InlineData("allow reader read /{0}")]
    [InlineData("user {0} reader")]
    [InlineData("role {0}")]
    public void A_field_over_the_limit_is_refused_naming_the_file_and_line(string template)
    {
        using WriteOncePool pool = TestPools.NewPool();
        string[] lines = ["role reader", "user ann reader", string.Format(System.Globalization.CultureInfo.InvariantCulture, template, new string('y', PolicyLoader.MaxFieldLength + 1))];

        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => PolicyLoader.Load(pool, lines, "long-field.txt"));

        Assert.StartsWith("long-field.txt:3: a field is ", e.Message, StringComparison.Ordinal);
        Assert.Contains($"the limit is {PolicyLoader.MaxFieldLength:N0}", e.Message, StringComparison.Ordinal);
        Assert.InRange(e.Message.Length, 0, 300);
    }

    [Fact]
    public void A_long_unknown_keyword_is_quoted_cut_not_whole()
    {
        using WriteOncePool pool = TestPools.NewPool();
        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => PolicyLoader.Load(pool, [new string('k', 1000)], "keyword.txt"));

        Assert.StartsWith("keyword.txt:1: unknown keyword 'kkkk", e.Message, StringComparison.Ordinal);
        Assert.Contains("(1,000 characters)", e.Message, StringComparison.Ordinal);
        Assert.InRange(e.Message.Length, 0, 300);
    }

    [Fact]
    public void Twenty_thousand_chained_roles_load_in_linear_memory()
    {
        // A 538 KB file: role r1 inherits r0, r2 inherits r1, ... Closures kept per role would be 200 million entries.
        const int Roles = 20_000;
        List<string> lines = ["role r0"];
        lines.AddRange(Enumerable.Range(1, Roles - 1).Select(i => $"role r{i} inherits r{i - 1}"));
        lines.AddRange(["user top r19999", "user bottom r0", "allow r0 read /x", "allow r19999 write /x"]);
        using WriteOncePool pool = TestPools.NewPool();

        long allocated = GC.GetAllocatedBytesForCurrentThread();
        using LoadedPolicy policy = PolicyLoader.Load(pool, lines, "chain.txt");
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        pool.Protect();
        Assert.True(Decisions.IsAllowed((PolicyRoot*)policy.Root, "top", "read", "/x"));
        Assert.True(Decisions.IsAllowed((PolicyRoot*)policy.Root, "top", "write", "/x"));
        Assert.True(Decisions.IsAllowed((PolicyRoot*)policy.Root, "bottom", "read", "/x"));
        Assert.False(Decisions.IsAllowed((PolicyRoot*)policy.Root, "bottom", "write", "/x"));
        Assert.Equal(Roles, policy.FindUser("top")->RoleCount);

        // Managed memory linear in the policy (the quadratic closures took 3.3 GB), pool memory too.
        Assert.InRange(allocated, 0, 64L << 20);
        Assert.InRange(pool.Statistics.MappedBytes, 0, 16L << 20);
    }

    [Fact]
    public void Users_that_multiply_a_deep_hierarchy_are_refused_at_the_limit_naming_the_line()
    {
        // 2,000 chained roles, then users each holding the deepest: 2,000 effective roles apiece, past the total limit
        // of 4 Mi by user 2,098. Refused with the line, in bounded memory, and the pool is left as it was.
        List<string> lines = ["role r0", .. Enumerable.Range(1, 1999).Select(i => $"role r{i} inherits r{i - 1}")];
        lines.AddRange(Enumerable.Range(0, 5000).Select(i => $"user u{i} r1999"));
        using WriteOncePool pool = PoolWithAPolicy(out LoadedPolicy first);
        using LoadedPolicy _ = first;
        PoolStatistics before = pool.Statistics;

        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => PolicyLoader.Load(pool, lines, "wide.txt"));

        int line = 2000 + (int)(PolicyLoader.MaxEffectiveRoles / 2000) + 1;
        Assert.StartsWith($"wide.txt:{line}: user 'u{line - 2001}' takes the users' effective roles", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, pool.Statistics);
    }

    [Fact]
    public void Terminal_escape_sequences_in_the_policy_are_never_echoed_raw()
    {
        const string Title = "\u001b]0;pwned\u0007", Clear = "\u001b[2J", Bidi = "\u202e";
        string path = WritePolicy("escapes.txt", $"policy corp{Title} 1\nrole ad{Clear}min\nrole guest\nuser mal{Bidi}lory guest\nuser root ad{Clear}min\nallow ad{Clear}min write /etc/shadow\nallow guest read /srv{Clear}\n");

        ChildResult demo = Child.Pmalloc(["demo", "--policy", path, "--queries", "1000"]);
        ChildResult error = Child.Pmalloc(["demo", "--policy", WritePolicy("escapes-bad.txt", $"role x{Clear}\nfrob{Title} y\n")]);

        Assert.True(demo.ExitCode == 0, $"exit {demo.ExitCode}\n{demo.StandardOutput}\n{demo.StandardError}");
        Assert.Equal(1, error.ExitCode);
        Assert.Contains("escapes-bad.txt:2:", error.StandardError, StringComparison.Ordinal);
        Assert.Contains("'frob?]0;pwned?'", error.StandardError, StringComparison.Ordinal);
        foreach (ChildResult result in new[] { demo, error })
        {
            string all = result.StandardOutput + result.StandardError;
            Assert.DoesNotContain(Title, all, StringComparison.Ordinal);
            Assert.DoesNotContain(Clear, all, StringComparison.Ordinal);
            Assert.DoesNotContain(Bidi, all, StringComparison.Ordinal);
            Assert.DoesNotContain('\u0007', all);
        }

        Assert.Contains("corp?]0;pwned?", demo.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a\u001b[31mb", "a?[31mb")]
    [InlineData("tab\there\nand\rcr", "tab?here?and?cr")]
    [InlineData("nul\0del\u007fc1\u009b", "nul?del?c1?")]
    [InlineData("bidi\u202egnp.exe\u2066", "bidi?gnp.exe?")]
    [InlineData("plain ünïcode 名前", "plain ünïcode 名前")]
    public void Clean_replaces_every_control_character(string input, string expected)
    {
        Assert.Equal(expected, TerminalText.Clean(input));
    }

    [Fact]
    public void Clean_cuts_a_long_text_and_says_how_long_it_was()
    {
        string cut = TerminalText.Clean(new string('z', 100_000));
        Assert.Equal(new string('z', TerminalText.EchoLimit) + "... (100,000 characters)", cut);
    }

    [Theory]
    [InlineData(" 1")]
    [InlineData("1 ")]
    [InlineData("+1")]
    [InlineData("-1")]
    [InlineData("0001")]
    [InlineData("0")]
    [InlineData("0x10")]
    [InlineData("1e3")]
    [InlineData("１")]
    [InlineData("99999999999")]
    [InlineData("1/../1")]
    [InlineData("")]
    public void Inspect_refuses_anything_but_a_canonical_PID(string pid)
    {
        Assert.Null(Inspect.ParsePid(pid));
        ChildResult result = Child.Pmalloc(["inspect", pid]);

        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
        AssertNoStackTrace(result);
        Assert.Contains("is not a PID", result.StandardOutput + result.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("4194304", 4194304)]
    [InlineData("2147483647", int.MaxValue)]
    public void Inspect_takes_a_canonical_PID(string text, int pid)
    {
        Assert.Equal(pid, Inspect.ParsePid(text));
    }

    /// <summary>Runs <c>pmalloc ARGS</c> without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (dropped from the bounding set by setpriv, so root keeps neither across the exec).</summary>
    private static ChildResult RunWithoutFileCapabilities(string[] args)
    {
        if (!File.Exists("/usr/bin/setpriv"))
        {
            Assert.Skip("running as root, and no setpriv to run the command without the capabilities that read any file");
        }

        ProcessStartInfo info = ChildProcess.StartInfo(args);
        info.RedirectStandardOutput = info.RedirectStandardError = info.RedirectStandardInput = true;
        info.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        string program = info.FileName;
        List<string> arguments = [.. info.ArgumentList];
        info.FileName = "/usr/bin/setpriv";
        info.ArgumentList.Clear();
        foreach (string a in (string[])["--bounding-set=-dac_override,-dac_read_search", "--", program, .. arguments])
        {
            info.ArgumentList.Add(a);
        }

        using Process child = Process.Start(info)!;
        Task<string> stdout = child.StandardOutput.ReadToEndAsync(), stderr = child.StandardError.ReadToEndAsync();
        child.StandardInput.Close();
        if (!child.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            child.Kill(entireProcessTree: true);
            Assert.Fail("the command without file capabilities did not finish");
        }

        return new ChildResult(child.ExitCode, stdout.Result, stderr.Result);
    }

    private static partial class Libc
    {
        [System.Runtime.InteropServices.LibraryImport("libc")]
        internal static partial uint geteuid();
    }
}
