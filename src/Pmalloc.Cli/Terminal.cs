using Spectre.Console;

namespace Pmalloc.Cli;

/// <summary>
/// The two consoles every verb writes to: <see cref="Out"/> for results (the report, the table, the JSON), and
/// <see cref="Error"/> for errors, usage and progress. On a terminal they wrap at its width; piped or redirected, they
/// never wrap, so a table keeps its full width and a line its full text (Spectre's default for a pipe is 80 columns).
/// </summary>
internal static class Terminal
{
    /// <summary>The width used when the stream is not a terminal: wide enough that nothing a verb prints is wrapped.</summary>
    internal const int UnwrappedWidth = 4096;

    /// <summary>Standard output.</summary>
    internal static IAnsiConsole Out { get; } = Create(Console.Out, Console.IsOutputRedirected);

    /// <summary>Standard error.</summary>
    internal static IAnsiConsole Error { get; } = Create(Console.Error, Console.IsErrorRedirected);

    /// <summary>True when standard output is a terminal a person watches: only then are spinners and progress bars drawn.</summary>
    internal static bool OutputIsInteractive => !Console.IsOutputRedirected && Out.Profile.Capabilities.Interactive;

    /// <summary>A console on <paramref name="writer"/> that wraps at the terminal's width, or never when <paramref name="redirected"/>.</summary>
    internal static IAnsiConsole Create(TextWriter writer, bool redirected)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
        if (redirected)
        {
            console.Profile.Width = UnwrappedWidth;
        }

        return console;
    }
}
