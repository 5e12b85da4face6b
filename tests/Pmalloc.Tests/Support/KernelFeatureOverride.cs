using System.Reflection;

namespace Pmalloc.Tests;

/// <summary>Pretends the kernel lacks a feature by setting its cached probe to "missing", and restores it.</summary>
[CollectionDefinition(nameof(KernelFeatureOverride), DisableParallelization = true)]
public sealed class KernelFeatureOverride : IDisposable
{
    private readonly FieldInfo? _field;
    private readonly object? _saved;

    public KernelFeatureOverride()
    {
    }

    private KernelFeatureOverride(string field)
    {
        _field = typeof(KernelFeatures).GetField(field, BindingFlags.NonPublic | BindingFlags.Static)!;
        _saved = _field.GetValue(null);
        _field.SetValue(null, -1);
    }

    internal static KernelFeatureOverride Without(string field) => new(field);

    public void Dispose() => _field?.SetValue(null, _saved);
}
