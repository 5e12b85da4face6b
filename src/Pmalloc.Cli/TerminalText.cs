using System.Text;

namespace Pmalloc.Cli;

/// <summary>
/// Text from outside (a policy file, a process's memfd names and command name, a path on the command line) made safe to
/// echo to a terminal: control characters (C0, DEL, C1: the escape sequences that move the cursor, retitle the window or
/// rewrite what was printed) and the bidirectional-text controls (which reorder what a reader sees) become '?', and a long
/// text is cut, so that nothing echoed can drive the terminal or flood it.
/// </summary>
internal static class TerminalText
{
    /// <summary>Echoed names are cut after this many characters.</summary>
    internal const int EchoLimit = 80;

    /// <summary>
    /// <paramref name="text"/> with every control character replaced by '?', cut to <paramref name="limit"/> characters
    /// (with an ellipsis and the full length) when longer.
    /// </summary>
    internal static string Clean(string text, int limit = EchoLimit)
    {
        ReadOnlySpan<char> shown = text.Length > limit ? text.AsSpan(0, limit) : text;
        if (text.Length <= limit && !shown.ContainsAny(Unsafe))
        {
            return text;
        }

        StringBuilder clean = new(shown.Length + 32);
        foreach (char c in shown)
        {
            clean.Append(IsUnsafe(c) ? '?' : c);
        }

        if (text.Length > limit)
        {
            clean.Append($"... ({text.Length:N0} characters)");
        }

        return clean.ToString();
    }

    /// <summary>Is <paramref name="c"/> a character a terminal may act on instead of showing?</summary>
    internal static bool IsUnsafe(char c) => char.IsControl(c) || IsBidiControl(c);

    private static bool IsBidiControl(char c) => c is '\u061C' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');

    /// <summary>Every character <see cref="IsUnsafe"/> is true of, for a vectorized search.</summary>
    private static readonly System.Buffers.SearchValues<char> Unsafe = System.Buffers.SearchValues.Create(
        [.. Enumerable.Range(0, 0x10000).Select(i => (char)i).Where(IsUnsafe)]);
}
