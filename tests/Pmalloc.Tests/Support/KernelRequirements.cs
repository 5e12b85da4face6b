namespace Pmalloc.Tests;

/// <summary>An optional kernel feature a test may need, as <see cref="ProtectedMemory.Support"/> reports it.</summary>
public enum KernelFeature
{
    /// <summary><c>mseal(2)</c>, Linux 6.10: <see cref="SealMode.Required"/>. Named <c>mseal</c> in PMALLOC_REQUIRE_FEATURES.</summary>
    Mseal,

    /// <summary><c>memfd_secret(2)</c>, Linux 5.14 with secretmem enabled: <see cref="PoolOptions.SecretMemory"/>. Named <c>memfd_secret</c>.</summary>
    MemfdSecret,

    /// <summary><c>madvise(MADV_GUARD_INSTALL)</c>, Linux 6.13. Named <c>guard_install</c>.</summary>
    GuardInstall,
}

/// <summary>
/// Honest skips. A test that needs an optional kernel feature calls <see cref="Require"/> first: where the kernel
/// lacks it, the test is reported as skipped, with the reason. On a machine that must have the feature (CI's
/// x86-64 run), <c>PMALLOC_REQUIRE_FEATURES</c> names it (comma-separated: <c>mseal,memfd_secret,guard_install</c>,
/// or <c>all</c>) and a missing feature fails the test instead, so nothing is skipped silently there.
/// This file is shared with Pmalloc.Cli.Tests (linked): it uses the library's public API only.
/// </summary>
internal static class KernelRequirements
{
    /// <summary>The environment variable naming the features whose absence fails instead of skipping.</summary>
    internal const string Variable = "PMALLOC_REQUIRE_FEATURES";

    /// <summary>The name of <paramref name="feature"/> in <see cref="Variable"/>.</summary>
    internal static string NameOf(KernelFeature feature) => feature switch
    {
        KernelFeature.Mseal => "mseal",
        KernelFeature.MemfdSecret => "memfd_secret",
        KernelFeature.GuardInstall => "guard_install",
        _ => throw new ArgumentOutOfRangeException(nameof(feature), feature, null),
    };

    /// <summary>Does this kernel have <paramref name="feature"/>, as <see cref="ProtectedMemory.Support"/> says?</summary>
    internal static bool Has(KernelFeature feature) => feature switch
    {
        KernelFeature.Mseal => ProtectedMemory.Support.Mseal,
        KernelFeature.MemfdSecret => ProtectedMemory.Support.MemfdSecret,
        KernelFeature.GuardInstall => ProtectedMemory.Support.GuardInstall,
        _ => throw new ArgumentOutOfRangeException(nameof(feature), feature, null),
    };

    /// <summary>The features <see cref="Variable"/> names; fails the test if it names one that does not exist (a typo must not pass quietly).</summary>
    internal static KernelFeature[] Required()
    {
        string[] names = (Environment.GetEnvironmentVariable(Variable) ?? "")
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        KernelFeature[] known = Enum.GetValues<KernelFeature>();
        string[] unknown = [.. names.Where(n => n != "all" && !known.Any(f => NameOf(f) == n))];
        if (unknown.Length > 0)
        {
            Assert.Fail($"{Variable} names unknown features: {string.Join(", ", unknown)} (known: all, {string.Join(", ", known.Select(NameOf))})");
        }

        return names.Contains("all") ? known : [.. known.Where(f => names.Contains(NameOf(f)))];
    }

    /// <summary>The reason a test that needs <paramref name="feature"/> cannot run here.</summary>
    internal static string MissingReason(KernelFeature feature) => OperatingSystem.IsWindows() ? $"Windows has no {NameOf(feature)} (a Linux kernel feature)" : feature switch
    {
        KernelFeature.Mseal => "this kernel has no mseal(2) (Linux 6.10+)",
        KernelFeature.MemfdSecret => "this kernel has no memfd_secret(2) (Linux 5.14+, with secretmem enabled)",
        KernelFeature.GuardInstall => "this kernel has no madvise(MADV_GUARD_INSTALL) (Linux 6.13+)",
        _ => throw new ArgumentOutOfRangeException(nameof(feature), feature, null),
    };

    /// <summary>
    /// Returns if the kernel has every one of <paramref name="features"/>. Otherwise skips the test with the reason,
    /// or fails it if <see cref="Variable"/> names a missing one.
    /// </summary>
    internal static void Require(params KernelFeature[] features)
    {
        KernelFeature[] requiredHere = Required();
        KernelFeature[] missing = [.. features.Where(f => !Has(f))];
        if (missing.Length == 0)
        {
            return;
        }

        string reason = string.Join("; ", missing.Select(MissingReason));
        KernelFeature[] required = [.. missing.Where(requiredHere.Contains)];
        if (required.Length > 0)
        {
            Assert.Fail($"{reason}, and {Variable} requires {string.Join(", ", required.Select(NameOf))}");
        }

        Assert.Skip(reason);
    }

    /// <summary><see cref="Require"/> for what a pool built with <paramref name="options"/> needs: mseal for
    /// <see cref="SealMode.Required"/>, memfd_secret for <see cref="PoolOptions.SecretMemory"/>. Returns the options.</summary>
    internal static PoolOptions RequireFor(PoolOptions options)
    {
        Require([.. options.Seal == SealMode.Required ? [KernelFeature.Mseal] : Array.Empty<KernelFeature>(),
            .. options.SecretMemory ? [KernelFeature.MemfdSecret] : Array.Empty<KernelFeature>()]);
        return options;
    }
}
