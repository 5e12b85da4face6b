namespace Pmalloc.Cli;

/// <summary>A mistake on the command line; the message and the verb's usage line are printed, and the command exits with status 2.</summary>
internal sealed class CliUsageException(string message) : Exception(message);
