namespace Pmalloc.Cli;

/// <summary>
/// What a verb prints on standard output instead of its result when it fails in <c>--json</c> mode (without
/// <c>--json</c>, the same goes to standard error as text). The process exits with <paramref name="ExitCode"/>.
/// </summary>
/// <param name="Verb">The verb that failed (<c>pmalloc</c> itself when no verb was recognised).</param>
/// <param name="Error">What went wrong, in one sentence.</param>
/// <param name="ExitCode">2 for a mistake on the command line, 1 for a failure (a malformed policy, a missing process).</param>
/// <param name="Usage">The verb's usage line, for a mistake on the command line; otherwise null.</param>
internal sealed record CliError(string Verb, string Error, int ExitCode, string? Usage);
