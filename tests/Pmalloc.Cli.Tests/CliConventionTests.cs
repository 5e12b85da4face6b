using System.Reflection;
using System.Text.Json;
using Pmalloc.Cli;

namespace Pmalloc.Cli.Tests;

/// <summary>
/// The conventions every verb follows, as a script relies on them: results on standard output, errors and usage on
/// standard error, an error as JSON on standard output with <c>--json</c>, <c>VERB --help</c> and <c>--version</c>
/// with exit status 0, 2 for a mistake on the command line, 1 for a failure.
/// </summary>
public sealed class CliConventionTests
{
    public static TheoryData<string> VerbNames => [.. Verbs.All.Select(v => v.Name)];

    [Theory]
    [MemberData(nameof(VerbNames))]
    public void Every_verb_prints_its_help_on_standard_output_and_exits_0(string verb)
    {
        ChildResult result = Child.Pmalloc([verb, "--help"]);

        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StandardError}");
        Assert.Equal("", result.StandardError);
        string usage = Verbs.All.Single(v => v.Name == verb).Usage;
        Assert.StartsWith($"usage: {usage}\n", result.StandardOutput, StringComparison.Ordinal);

        // Every option the usage line names is explained on a line of its own.
        string[] lines = result.StandardOutput.Split('\n');
        foreach (string option in usage.Split(' ', '[', ']').Where(w => w.StartsWith("--", StringComparison.Ordinal)))
        {
            Assert.Contains(lines, l => l.StartsWith($"  {option}", StringComparison.Ordinal));
        }

        Assert.Equal(result.StandardOutput, Child.Pmalloc([verb, "-h"]).StandardOutput);
        Assert.Equal(result.StandardOutput, Child.Pmalloc(["help", verb]).StandardOutput);
    }

    [Fact]
    public void The_program_help_lists_the_verbs_but_not_the_hidden_attack()
    {
        ChildResult result = Child.Pmalloc(["--help"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.StandardError);
        string[] lines = result.StandardOutput.Split('\n');
        foreach (string verb in new[] { "demo", "selftest", "inspect", "bench" })
        {
            Assert.Contains(lines, l => l.StartsWith($"  {verb} ", StringComparison.Ordinal));
        }

        Assert.DoesNotContain(lines, l => l.StartsWith("  attack", StringComparison.Ordinal));
    }

    [Fact]
    public void Version_prints_the_package_version_below_1_0_and_exits_0()
    {
        ChildResult result = Child.Pmalloc(["--version"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.StandardError);
        string version = typeof(Verbs).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal($"pmalloc {version}\n", result.StandardOutput);
        Assert.Matches(@"^0\.[0-9]+\.[0-9]+", version);
    }

    [Fact]
    public void No_verb_or_an_unknown_one_is_a_usage_error_on_standard_error()
    {
        foreach (string[] args in new[] { Array.Empty<string>(), ["frobnicate"] })
        {
            ChildResult result = Child.Pmalloc(args);

            Assert.Equal(2, result.ExitCode);
            Assert.Equal("", result.StandardOutput);
            string[] lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(args.Length == 0 ? "pmalloc: no verb given" : "pmalloc: unknown verb 'frobnicate'", lines[0]);
            Assert.StartsWith("usage: pmalloc VERB", lines[1], StringComparison.Ordinal);
        }
    }

    /// <summary>A mistake for each verb: the verb, the wrong argument, the error it must name.</summary>
    private static readonly (string Verb, string Argument, string Error)[] Mistakes =
    [
        ("demo", "--frob", "unknown option '--frob'"),
        ("demo", "--queries", "--queries needs a value"),
        ("selftest", "--frob", "unknown option '--frob'"),
        ("inspect", "not-a-pid", "'not-a-pid' is not a PID (a positive number) or self"),
        ("bench", "--frob", "unknown option '--frob'"),
        ("attack", "no-such-case", "no attack case 'no-such-case'; 'pmalloc attack --help' lists them"),
    ];

    public static TheoryData<string, string, string> UsageMistakes => [.. Mistakes];

    [Theory]
    [MemberData(nameof(UsageMistakes))]
    public void A_mistake_on_the_command_line_prints_the_error_and_the_usage_on_standard_error_and_exits_2(string verb, string argument, string error)
    {
        ChildResult result = Child.Pmalloc([verb, argument]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.StandardOutput);
        string[] lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([$"pmalloc {verb}: {error}", $"usage: {Verbs.All.Single(v => v.Name == verb).Usage}", $"Try 'pmalloc {verb} --help'."], lines);
    }

    /// <summary>The same mistakes with <c>--json</c>, for the verbs that take it (attack does not).</summary>
    public static TheoryData<string, string, string> JsonUsageMistakes => [.. Mistakes.Where(m => m.Verb != "attack")];

    [Theory]
    [MemberData(nameof(JsonUsageMistakes))]
    public void With_json_a_mistake_is_a_json_error_on_standard_output_with_exit_status_2(string verb, string argument, string error)
    {
        ChildResult result = Child.Pmalloc([verb, argument, "--json"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.StandardError);
        using JsonDocument json = JsonDocument.Parse(result.StandardOutput);
        AssertError(json.RootElement, verb, error, 2);
        Assert.Equal($"usage: {Verbs.All.Single(v => v.Name == verb).Usage}", json.RootElement.GetProperty("usage").GetString());
    }

    [Fact]
    public void With_json_a_failure_is_a_json_error_on_standard_output_with_exit_status_1()
    {
        string malformed = Path.Combine(AppContext.BaseDirectory, "samples", "policy-malformed.txt");
        int line = Array.IndexOf(File.ReadAllLines(malformed), "allow eng-staff read") + 1;
        foreach ((string[] args, string verb, string error) in new[]
        {
            (new[] { "inspect", "99999999", "--json" }, "inspect", "no process with PID 99999999"),
            (["demo", "--json", "--policy", malformed], "demo", $"policy-malformed.txt:{line}: expected 'allow ROLE ACTION OBJECT'"),
        })
        {
            ChildResult result = Child.Pmalloc(args);

            Assert.Equal(1, result.ExitCode);
            Assert.Equal("", result.StandardError);
            using JsonDocument json = JsonDocument.Parse(result.StandardOutput);
            AssertError(json.RootElement, verb, error, 1);
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("usage").ValueKind);
        }
    }

    private static void AssertError(JsonElement error, string verb, string message, int exitCode)
    {
        Assert.Equal(verb, error.GetProperty("verb").GetString());
        Assert.Equal(message, error.GetProperty("error").GetString());
        Assert.Equal(exitCode, error.GetProperty("exitCode").GetInt32());
    }
}
