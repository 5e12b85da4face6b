namespace Pmalloc.Tests;

/// <summary>
/// The test executable's entry point. <c>Pmalloc.Tests --child NAME</c> runs one child scenario of
/// <see cref="ChildScenarios"/> in this process (the parent test watches it die); any other command line
/// goes to xunit's in-process runner, as the generated entry point would: Microsoft Testing Platform for
/// <c>--server</c>, the xunit console runner otherwise (<c>dotnet test</c>'s adapter and a direct run alike).
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        if (args is [ChildScenarios.Flag, ..])
        {
            return ChildScenarios.Run(args[1..]);
        }

        return args.Any(arg => arg is "--server" or "--internal-msbuild-node")
            ? Xunit.MicrosoftTestingPlatform.TestPlatformTestFramework.RunAsync(args, SelfRegisteredExtensions.AddSelfRegisteredExtensions).GetAwaiter().GetResult()
            : Xunit.Runner.InProc.SystemConsole.ConsoleRunner.Run(args).GetAwaiter().GetResult();
    }
}
