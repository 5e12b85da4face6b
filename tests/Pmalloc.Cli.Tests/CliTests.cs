using System.Diagnostics;
using System.Text.Json;
using Pmalloc.Cli;

namespace Pmalloc.Cli.Tests;

/// <summary>The <c>pmalloc</c> verbs as a user runs them: each in a child process, checked on its output.</summary>
public sealed class CliTests
{
    private static readonly string Samples = Path.Combine(AppContext.BaseDirectory, "samples");

    /// <summary>
    /// The one run of every attack case in this suite: <c>pmalloc selftest --json</c>, each case in its own child.
    /// (No test here runs the cases one by one again; the library's own faults are tested with its own child.)
    /// </summary>
    [Fact]
    public void Selftest_runs_every_attack_and_every_one_ends_as_expected()
    {
        ChildResult result = Child.Pmalloc(["selftest", "--json"]);

        Assert.True(result.ExitCode is 0 or 1, $"selftest did not finish (exit {result.ExitCode}):\n{result.StandardOutput}\n{result.StandardError}");
        using JsonDocument json = JsonDocument.Parse(result.StandardOutput);
        JsonElement[] cases = [.. json.RootElement.EnumerateArray()];
        Assert.Equal(Attacks.Cases.Values.Where(c => c.RunsHere).Select(c => c.Name), cases.Select(c => c.GetProperty("name").GetString()));
        Dictionary<string, string> details = [];
        List<KernelFeature> excused = [];
        bool noGcore = false;
        foreach (JsonElement c in cases)
        {
            string name = c.GetProperty("name").GetString()!;
            string detail = c.GetProperty("detail").GetString()!;
            details[name] = detail;
            Assert.Equal(Attacks.Cases[name].Expected.ToString(), c.GetProperty("expected").GetString());

            // A case that needs a feature this kernel lacks cannot end as expected here: reported as a skip below.
            if (!c.GetProperty("passed").GetBoolean() && NeededFeature(name) is { } feature && !KernelRequirements.Has(feature))
            {
                excused.Add(feature);
                continue;
            }

            // The core dump cases need gdb's gcore; without it they fail in their setup: reported as a skip below.
            if (!c.GetProperty("passed").GetBoolean() && name.Contains("core-dump", StringComparison.Ordinal) && !HasGcore())
            {
                noGcore = true;
                continue;
            }

            Assert.True(c.GetProperty("passed").GetBoolean(), $"{name}: observed {c.GetProperty("observed").GetString()}: {detail}");
            Assert.Equal(c.GetProperty("expected").GetString(), c.GetProperty("observed").GetString());
        }

        // A refusal is the library's exception, naming the pool; going over RLIMIT_MEMLOCK says so and changes nothing.
        Assert.StartsWith("InvalidOperationException: Pool 'attack'", details["free-after-protect"], StringComparison.Ordinal);
        Assert.StartsWith("InvalidOperationException: Pool 'attack'", details["allocate-after-protect"], StringComparison.Ordinal);
        Assert.StartsWith("ArgumentOutOfRangeException: Pool 'attack'", details["over-read"], StringComparison.Ordinal);
        Assert.StartsWith("InvalidOperationException: Pool 'attack'", details["write-rare-after-make-read-only"], StringComparison.Ordinal);
        Assert.StartsWith("ArgumentException: Pool 'attack'", details["write-rare-foreign-target"], StringComparison.Ordinal);
        string memlock = details["lock-over-memlock-limit"];
        Assert.Contains("InsufficientMemoryException", memlock, StringComparison.Ordinal);
        Assert.Contains("RLIMIT_MEMLOCK", memlock, StringComparison.Ordinal);
        Assert.Contains("'attack-mlock'", memlock, StringComparison.Ordinal);
        Assert.Contains("pool unchanged, nothing left mapped", memlock, StringComparison.Ordinal);

        // The write-rare racing attacks find no writable mapping; the core dump of a hardened pool has no copy of the
        // secret, while the same method finds it in an unhardened one (so the search works).
        Assert.Contains("found no writable mapping of the pool; the value is intact", details["batch-writable-mapping"], StringComparison.Ordinal);
        Assert.Contains("found no writable mapping of the pool; the value is intact", details["publish-writable-mapping"], StringComparison.Ordinal);
        if (!noGcore)
        {
            Assert.Contains("holds no copy of the 32-byte secret", details["batch-core-dump"], StringComparison.Ordinal);
            Assert.Contains("the secret is in the core dump", details["core-dump-unhardened"], StringComparison.Ordinal);
        }

        if (excused.Count > 0)
        {
            KernelRequirements.Require([.. excused.Distinct()]);
        }

        if (noGcore)
        {
            Assert.Skip("gdb's gcore is not installed: the core dump attacks cannot take their dump here (everything else passed)");
        }

        Assert.True(result.ExitCode == 0, $"selftest failed (exit {result.ExitCode}):\n{result.StandardOutput}\n{result.StandardError}");
    }

    private static bool HasGcore() =>
        $"{Environment.GetEnvironmentVariable("PATH")}:/usr/local/bin:/usr/bin:/bin".Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, "gcore")));

    /// <summary>The optional kernel feature an attack case needs: the sealed cases need mseal, the secret ones memfd_secret.</summary>
    private static KernelFeature? NeededFeature(string attack) =>
        attack.StartsWith("sealed-", StringComparison.Ordinal) ? KernelFeature.Mseal
        : attack.StartsWith("secret-", StringComparison.Ordinal) ? KernelFeature.MemfdSecret
        : null;

    [Fact]
    public void Selftest_reports_an_outcome_that_differs_from_the_expected_one()
    {
        // A child that is refused where the catalog expects a fault must be reported as such, not as a pass.
        ChildResult refused = Child.Attack("free-after-protect");
        (string observed, string detail) = SelfTest.Observe(refused);
        Assert.Equal(nameof(Outcome.Refused), observed);
        Assert.Contains("InvalidOperationException", detail, StringComparison.Ordinal);
        Assert.NotEqual(nameof(Outcome.AccessViolation), observed);

        // A child that dies before the attack is a failure, whatever its exit status.
        (string early, _) = SelfTest.Observe(new ChildResult(134, "", "Fatal error. System.AccessViolationException"));
        Assert.StartsWith("failed before the attack", early, StringComparison.Ordinal);
    }

    [Fact]
    public void Demo_rolls_back_reloads_and_survives_the_attack()
    {
        ChildResult result = Child.Pmalloc(["demo", "--json", "--queries", "20000"]);

        Assert.True(result.ExitCode == 0, $"demo failed (exit {result.ExitCode}):\n{result.StandardOutput}\n{result.StandardError}");
        using JsonDocument json = JsonDocument.Parse(result.StandardOutput);
        JsonElement root = json.RootElement;

        JsonElement policy = root.GetProperty("policy");
        Assert.True(policy.GetProperty("rules").GetInt32() > 2000);
        Assert.Equal(1, policy.GetProperty("version").GetInt32());

        // The malformed rule is where the shipped file has it, and the failed load left the pool's statistics as they were.
        JsonElement rollback = root.GetProperty("rollback");
        int malformedLine = Array.IndexOf(File.ReadAllLines(Path.Combine(Samples, "policy-malformed.txt")), "allow eng-staff read") + 1;
        Assert.Equal(malformedLine, rollback.GetProperty("line").GetInt32());
        JsonElement before = rollback.GetProperty("before"), after = rollback.GetProperty("after");
        Assert.True(before.GetProperty("liveAllocations").GetInt64() > 10_000);
        Assert.Equal(before.GetRawText(), after.GetRawText());
        Assert.True(rollback.GetProperty("statisticsUnchanged").GetBoolean());
        Assert.True(rollback.GetProperty("sample").GetBoolean());

        JsonElement queries = root.GetProperty("queries");
        Assert.Equal(20000, queries.GetProperty("count").GetInt64());
        Assert.Equal(BuildConfiguration, queries.GetProperty("build").GetString());
        Assert.InRange(queries.GetProperty("allowed").GetInt64(), 1, 19999);

        JsonElement reload = root.GetProperty("reload");
        Assert.Equal(2, reload.GetProperty("version").GetInt32());
        Assert.True(reload.GetProperty("oldPoolDestroyed").GetBoolean());
        Assert.True(reload.GetProperty("changedDecisions").GetInt32() > 0);
        Assert.True(reload.GetProperty("rootPublished").GetBoolean());
        Assert.Equal("Protected", reload.GetProperty("rootPool").GetProperty("state").GetString());
        Assert.Equal("Protected", root.GetProperty("pool").GetProperty("state").GetString());

        JsonElement attack = root.GetProperty("attack");
        Assert.Equal(134, attack.GetProperty("exitCode").GetInt32());
        Assert.Contains("AccessViolationException", attack.GetProperty("faultLine").GetString(), StringComparison.Ordinal);
        Assert.True(attack.GetProperty("stopped").GetBoolean());
        Assert.True(attack.GetProperty("decisionsUnchanged").GetBoolean());
    }

    /// <summary>The configuration this test, and so the CLI it runs, was built in.</summary>
#if DEBUG
    private const string BuildConfiguration = "Debug";
#else
    private const string BuildConfiguration = "Release";
#endif

    [Fact]
    public void The_demo_on_the_users_own_policy_rolls_back_a_broken_copy_of_it_and_says_when_nothing_changed()
    {
        // Any policy but the default one is "the user's own": it is reloaded from the same file unless --reload says otherwise.
        string file = Path.Combine(Samples, "policy-v2.txt");
        ChildResult result = Child.Pmalloc(["demo", "--json", "--policy", file, "--queries", "1000"]);

        Assert.True(result.ExitCode == 0, $"demo failed (exit {result.ExitCode}):\n{result.StandardOutput}\n{result.StandardError}");
        using JsonDocument json = JsonDocument.Parse(result.StandardOutput);
        JsonElement rollback = json.RootElement.GetProperty("rollback");
        Assert.False(rollback.GetProperty("sample").GetBoolean());
        Assert.Equal(file, rollback.GetProperty("file").GetString());
        Assert.True(rollback.GetProperty("statisticsUnchanged").GetBoolean());

        // The broken line is one of the user's rules, halfway through, cut short by its object.
        string[] lines = File.ReadAllLines(file);
        int line = rollback.GetProperty("line").GetInt32();
        string broken = rollback.GetProperty("brokenLine").GetString()!;
        Assert.InRange(line, lines.Length / 4, lines.Length * 3 / 4);
        Assert.StartsWith("allow ", lines[line - 1], StringComparison.Ordinal);
        Assert.StartsWith(broken + " ", lines[line - 1], StringComparison.Ordinal);
        Assert.Equal(3, broken.Split(' ').Length);
        Assert.Equal("expected 'allow ROLE ACTION OBJECT'", rollback.GetProperty("error").GetString());

        JsonElement reload = json.RootElement.GetProperty("reload");
        Assert.Equal(file, reload.GetProperty("file").GetString());
        Assert.Equal(0, reload.GetProperty("changedDecisions").GetInt32());
        Assert.Empty(reload.GetProperty("examples").EnumerateArray());
    }

    [Fact]
    public void The_demo_report_says_when_no_decision_changed_instead_of_an_empty_list()
    {
        ChildResult result = Child.Pmalloc(["demo", "--policy", Path.Combine(Samples, "policy-v2.txt"), "--queries", "1000"]);

        Assert.True(result.ExitCode == 0, $"demo failed (exit {result.ExitCode}):\n{result.StandardOutput}\n{result.StandardError}");
        Assert.Contains("None of 65,536 sample decisions changed (the same file reloaded).", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("for example:", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("policy-v2.txt with line ", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Breaking_a_policy_cuts_the_middle_rule_short_or_else_keeps_the_middle_statements_keyword()
    {
        string[] withRules = ["# a comment", "role a", "role b", "allow a read x", "allow a read y", "allow b read z  # why", ""];
        string[]? broken = Demo.Break(withRules, out string line);
        Assert.Equal("allow a read", line);
        Assert.Equal([.. withRules[..4], "allow a read", .. withRules[5..]], broken!);
        Assert.Equal("allow a read y", withRules[4]);

        string[] noRules = ["role a", "role b", "user u a"];
        Assert.Equal(["role a", "role", "user u a"], Demo.Break(noRules, out line)!);
        Assert.Equal("role", line);

        // Nothing to break (an empty policy is valid): the demo falls back to the shipped sample.
        Assert.Null(Demo.Break(["# nothing", ""], out line));
    }

    [Fact]
    public void The_demo_attack_child_dies_of_an_access_violation_at_its_write()
    {
        ChildResult result = Child.Pmalloc(["demo", "--attack", "--policy", Path.Combine(Samples, "policy.txt")]);

        Child.AssertDiedOfAccessViolation(result);
        Assert.Contains("before: mallory write /etc/shadow: denied", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("after:", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_sees_the_protected_policy_pool_of_a_holding_demo_which_ends_on_SIGTERM()
    {
        using Process demo = ChildProcess.StartSelf(["demo", "--hold", "--queries", "1000"]);
        bool terminated = false;
        Task<string> stderr = demo.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        List<string> report = [];
        try
        {
            // The demo prints the hold line once its pools are built and protected.
            using CancellationTokenSource patience = new(TimeSpan.FromMinutes(2));
            while (await demo.StandardOutput.ReadLineAsync(patience.Token) is { } line)
            {
                report.Add(line);
                if (line.StartsWith("Holding", StringComparison.Ordinal))
                {
                    break;
                }
            }

            if (report.Count == 0 || !report[^1].StartsWith("Holding", StringComparison.Ordinal))
            {
                Assert.Fail($"the demo did not hold:\n{string.Join('\n', report)}\n{await stderr}");
            }

            string text = string.Join(' ', report);
            Assert.Contains("identical", text, StringComparison.Ordinal);
            Assert.Contains("exit status 134", text, StringComparison.Ordinal);
            Assert.Contains("unchanged", text, StringComparison.Ordinal);

            // Piped, nothing is wrapped at 80 columns: the runtime's report and the Debug note each stay on one line.
            Assert.Contains(report, l => l.Contains("Attempted to read or write protected memory. This is often an indication that other memory is corrupt.", StringComparison.Ordinal));
#if DEBUG
            Assert.Contains(report, l => l.Contains("a Debug build: the figure of a Release build ('dotnet run -c Release') is higher", StringComparison.Ordinal));
#endif
            Assert.Contains($"end it with 'kill {demo.Id}' (SIGTERM) or SIGINT", report[^1], StringComparison.Ordinal);

            // Without a terminal, the end of standard input does not end the hold: the inspections below still find the pools.
            demo.StandardInput.Close();

            ChildResult table = Child.Pmalloc(["inspect", demo.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.True(table.ExitCode == 0, table.StandardOutput + table.StandardError);
            string[] rows = table.StandardOutput.Split('\n');
            Assert.Contains(rows, r => new[] { "pool", "chunks", "mapped", "resident", "prot", "sealed", "locked", "no dump", "guards" }.All(c => r.Contains(c, StringComparison.Ordinal)));
            Assert.Contains(rows, r => r.Contains("policy-v2", StringComparison.Ordinal) && r.Contains("yes", StringComparison.Ordinal));

            ChildResult inspect = Child.Pmalloc(["inspect", demo.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json"]);

            Assert.True(inspect.ExitCode == 0, inspect.StandardOutput + inspect.StandardError);
            using JsonDocument json = JsonDocument.Parse(inspect.StandardOutput);
            Assert.Equal(demo.Id, json.RootElement.GetProperty("pid").GetInt32());
            JsonElement[] pools = [.. json.RootElement.GetProperty("pools").EnumerateArray()];
            JsonElement policy = Assert.Single(pools, p => p.GetProperty("name").GetString() == "policy-v2");
            Assert.DoesNotContain(pools, p => p.GetProperty("name").GetString() == "policy-v1");
            JsonElement root = Assert.Single(pools, p => p.GetProperty("name").GetString() == "policy-root");
            Assert.Equal(("r", 1), (root.GetProperty("protection").GetString(), root.GetProperty("chunks").GetInt32()));
            Assert.Equal("r", policy.GetProperty("protection").GetString());
            int chunks = policy.GetProperty("chunks").GetInt32();
            Assert.InRange(chunks, 1, 16);
            long mapped = policy.GetProperty("mappedBytes").GetInt64();
            Assert.InRange(mapped, chunks * 64L * 1024, 64L << 20);
            Assert.InRange(policy.GetProperty("residentBytes").GetInt64(), 1, mapped);
            Assert.True(policy.GetProperty("guardPages").GetBoolean());
            Assert.Equal(chunks, policy.GetProperty("guardedChunks").GetInt32());
            Assert.False(policy.GetProperty("sealed").GetBoolean());
            Assert.False(demo.HasExited, "the demo stopped holding when its standard input ended");
            terminated = Signals.Terminate(demo.Id);
        }
        finally
        {
            if (!terminated)
            {
                demo.Kill(entireProcessTree: true);
            }

            using CancellationTokenSource timeout = new(TimeSpan.FromMinutes(1));
            try
            {
                await demo.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                demo.Kill(entireProcessTree: true);
            }
        }

        // SIGTERM ends the hold like Enter: the pools are disposed and the exit status is the demo's own.
        Assert.Equal(0, demo.ExitCode);
        Assert.DoesNotContain("Unhandled", await stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_gives_a_clear_error_for_a_process_that_does_not_exist()
    {
        // Above the kernel's largest pid_max (2^22), so no process can have it.
        ChildResult result = Child.Pmalloc(["inspect", "99999999"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no process with PID 99999999", result.StandardError, StringComparison.Ordinal);
        Assert.Equal("", result.StandardOutput);
    }

    [Fact]
    public void The_demo_names_the_line_of_a_malformed_policy_of_the_user()
    {
        ChildResult result = Child.Pmalloc(["demo", "--policy", Path.Combine(Samples, "policy-malformed.txt")]);

        int line = Array.IndexOf(File.ReadAllLines(Path.Combine(Samples, "policy-malformed.txt")), "allow eng-staff read") + 1;
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"pmalloc demo: policy-malformed.txt:{line}: expected 'allow ROLE ACTION OBJECT'", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void The_demo_refuses_a_missing_policy_file_with_a_usage_error()
    {
        ChildResult result = Child.Pmalloc(["demo", "--policy", "/nonexistent/policy.txt"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.StandardOutput);
        string[] lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("pmalloc demo: no policy file at '/nonexistent/policy.txt'", lines[0]);
        Assert.Equal("usage: pmalloc demo [--policy FILE] [--reload FILE] [--queries N] [--json] [--hold]", lines[1]);
        Assert.Equal("Try 'pmalloc demo --help'.", lines[2]);
    }
}
