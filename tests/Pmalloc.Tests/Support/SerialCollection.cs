namespace Pmalloc.Tests;

/// <summary>Tests that count the whole process's mappings or descriptors run alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial: counts process-wide mappings";
}
