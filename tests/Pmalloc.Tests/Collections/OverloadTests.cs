using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>
/// The builders' overloads: each comes with <see cref="PoolOptions"/> and with a pool (the selector ones too), each names the
/// pool the caller chose in its errors, and a source of the wrong type gets a compiler error that names that type, never
/// <c>string</c>.
/// </summary>
public class OverloadTests
{
    private static readonly (string Name, int Id, string Role)[] Users = [("alice", 1, "admin"), ("bob", 2, "reader")];

    [Fact]
    public void EveryBuilder_HasAnOptionsAndAPoolOverload()
    {
        MethodInfo[] builders = [.. typeof(ProtectedCollection).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name is nameof(ProtectedCollection.ToProtectedDictionary) or nameof(ProtectedCollection.ToProtectedSet))];
        Assert.NotEmpty(builders);

        // A builder's shape: its name, generic arity and parameters, without the pool or options.
        static string Shape(MethodInfo m) => $"{m.Name}`{m.GetGenericArguments().Length}({string.Join(", ", m.GetParameters().Where(p => p.ParameterType != typeof(PoolOptions) && p.ParameterType != typeof(ProtectablePool)).Select(p => p.ParameterType.ToString()))})";
        ILookup<string, MethodInfo> byShape = builders.ToLookup(Shape);
        foreach (IGrouping<string, MethodInfo> shape in byShape)
        {
            Type[][] extras = [.. shape.Select(m => m.GetParameters().Select(p => p.ParameterType).Where(t => t == typeof(PoolOptions) || t == typeof(ProtectablePool)).ToArray())];
            Assert.True(extras.Any(e => e.SequenceEqual([typeof(PoolOptions)])), $"{shape.Key} has no PoolOptions overload");
            Assert.True(extras.Any(e => e.SequenceEqual([typeof(ProtectablePool)])), $"{shape.Key} has no pool overload");
        }

        Assert.Equal(15, byShape.Count);
    }

    [Fact]
    public void Selectors_WithOptions_BuildIntoAProtectedPoolOfThatName()
    {
        PoolOptions options = new() { Name = "users" };
        using ProtectedDictionary<int, int> a = Users.ToProtectedDictionary(u => u.Id, u => u.Id * 10, options);
        using ProtectedDictionary<ProtectedString, int> b = Users.ToProtectedDictionary(u => u.Name, u => u.Id, options);
        using ProtectedDictionary<ProtectedString, int> c = Users.ToProtectedDictionary(u => u.Name, u => u.Id, StringComparer.OrdinalIgnoreCase, options);
        using ProtectedDictionary<int, ProtectedString> d = Users.ToProtectedDictionary(u => u.Id, u => u.Name, options);
        using ProtectedDictionary<ProtectedString, ProtectedString> e = Users.ToProtectedDictionary(u => u.Name, u => u.Role, options);
        using ProtectedDictionary<ProtectedString, ProtectedString> f = Users.ToProtectedDictionary(u => u.Name, u => u.Role, StringComparer.OrdinalIgnoreCase, options);
        foreach (ProtectablePool pool in new[] { a.Pool, b.Pool, c.Pool, d.Pool, e.Pool, f.Pool })
        {
            Assert.Equal("users", pool.Name);
            Assert.Equal(PoolState.Protected, pool.State);
        }

        Assert.Equal(20, a[2]);
        Assert.Equal(1, c["ALICE"]);
        Assert.Equal("bob", d[2]);
        Assert.Equal("admin", f["Alice"]);
    }

    [Fact]
    public void Selectors_WithAPool_BuildIntoIt_AndLeaveItToTheCaller()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "policy" });
        ProtectedDictionary<int, int> a = Users.ToProtectedDictionary(u => u.Id, u => u.Id, pool);
        ProtectedDictionary<ProtectedString, int> b = Users.ToProtectedDictionary(u => u.Name, u => u.Id, pool);
        ProtectedDictionary<ProtectedString, int> c = Users.ToProtectedDictionary(u => u.Name, u => u.Id, pool, StringComparer.OrdinalIgnoreCase);
        ProtectedDictionary<int, ProtectedString> d = Users.ToProtectedDictionary(u => u.Id, u => u.Role, pool);
        ProtectedDictionary<ProtectedString, ProtectedString> e = Users.ToProtectedDictionary(u => u.Name, u => u.Role, pool);
        ProtectedDictionary<ProtectedString, ProtectedString> f = Users.ToProtectedDictionary(u => u.Name, u => u.Role, pool, StringComparer.OrdinalIgnoreCase);
        Assert.Equal(PoolState.Writable, pool.State);
        Assert.Equal(6, pool.Statistics.LiveAllocations);
        pool.Protect();
        Assert.Equal(2, a[2]);
        Assert.Equal(1, b["alice"]);
        Assert.Equal(1, c["ALICE"]);
        Assert.Equal("reader", d[2]);
        Assert.Equal("admin", e["alice"]);
        Assert.Equal("admin", f["ALICE"]);
    }

    [Fact]
    public void PairsAndSets_WithOptionsAlone_BuildIntoAPoolOfThatName()
    {
        PoolOptions options = new() { Name = "acl" };
        using ProtectedDictionary<ProtectedString, int> a = new Dictionary<string, int> { ["alice"] = 1 }.ToProtectedDictionary(options);
        using ProtectedDictionary<ProtectedString, ProtectedString> b = new Dictionary<string, string> { ["alice"] = "admin" }.ToProtectedDictionary(options);
        using ProtectedSet<ProtectedString> c = new[] { "alice" }.ToProtectedSet(options);
        foreach (ProtectablePool pool in new[] { a.Pool, b.Pool, c.Pool })
        {
            Assert.Equal("acl", pool.Name);
            Assert.Equal(PoolState.Protected, pool.State);
        }
    }

    [Fact]
    public void Errors_NameThePoolTheCallerChose()
    {
        (string Name, int Id)[] clash = [("alice", 1), ("ALICE", 2)];
        ArgumentException e = Assert.Throws<ArgumentException>(() => clash.ToProtectedDictionary(u => u.Name, u => u.Id, StringComparer.OrdinalIgnoreCase, new PoolOptions { Name = "accounts" }));
        Assert.Contains("Pool 'accounts'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'ALICE'", e.Message, StringComparison.Ordinal);

        using WriteOncePool pool = new(new PoolOptions { Name = "ids" });
        PoolStatistics before = pool.Statistics;
        e = Assert.Throws<ArgumentException>(() => new[] { 1, 2, 1 }.ToProtectedDictionary(i => i, i => (long)i, pool));
        Assert.Contains("Pool 'ids'", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, pool.Statistics);

        ArgumentNullException n = Assert.Throws<ArgumentNullException>(() => Users.ToProtectedDictionary(u => u.Name, u => (string)null!, new PoolOptions { Name = "roles" }));
        Assert.Contains("Pool 'roles'", n.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => Users.ToProtectedDictionary(u => u.Id, u => u.Id, (PoolOptions)null!));
        Assert.Throws<ArgumentNullException>(() => Users.ToProtectedDictionary(u => u.Id, u => u.Id, (ProtectablePool)null!));
    }

    /// <summary>
    /// What a user sees when the source does not fit: the compiler (the SDK's own csc, against the reference assemblies and
    /// this build of the library) must name the type that does not fit, and must accept what does.
    /// </summary>
    [Fact]
    public void WrongSourceTypes_GetCompilerErrorsThatNameThem_NeverString()
    {
        (string dotnet, string csc, string refs) = Compiler();
        string source = """
            using System;
            using System.Collections.Generic;
            using System.Linq;
            using Pmalloc;
            public sealed class Holder { }
            public struct WithString { public string S; }
            public static class Uses
            {
                public static void Fits(Dictionary<string, int> a, Dictionary<string, string> b, Dictionary<int, string> c, Dictionary<int, long> d, string[] e, int[] f, (string N, int I)[] g, ProtectablePool p)
                {
                    PoolOptions o = new() { Name = "x" };
                    a.ToProtectedDictionary(o); b.ToProtectedDictionary(o); c.ToProtectedDictionary(o); d.ToProtectedDictionary(o);
                    a.ToProtectedDictionary(p); b.ToProtectedDictionary(p); c.ToProtectedDictionary(p); d.ToProtectedDictionary(p);
                    a.ToProtectedDictionary(StringComparer.OrdinalIgnoreCase, o); b.ToProtectedDictionary(p, StringComparer.OrdinalIgnoreCase);
                    e.ToProtectedSet(o); e.ToProtectedSet(p); f.ToProtectedSet(o); f.ToProtectedSet(p);
                    g.ToProtectedDictionary(x => x.N, x => x.I, o); g.ToProtectedDictionary(x => x.I, x => x.N, p); g.ToProtectedDictionary(x => x.N, x => x.N, o);
                    g.ToProtectedDictionary(x => x.I, x => (long)x.I, o); g.ToProtectedDictionary(x => x.N, x => x.I, StringComparer.OrdinalIgnoreCase, o);
                    IReadOnlyDictionary<string, int> v1 = a.ToProtectedDictionary().AsReadOnlyDictionary();
                    IReadOnlyDictionary<string, string> v2 = b.ToProtectedDictionary().AsReadOnlyDictionary();
                    IReadOnlySet<string> v3 = e.ToProtectedSet().AsReadOnlySet();
                }
            #if WRONG_1
                public static void M(Dictionary<string, Holder> s) => s.ToProtectedDictionary();
            #elif WRONG_2
                public static void M(Dictionary<string, Holder> s) => s.ToProtectedDictionary(new PoolOptions());
            #elif WRONG_3
                public static void M(Dictionary<Holder, int> s) => s.ToProtectedDictionary();
            #elif WRONG_4
                public static void M(Dictionary<Holder, string> s, ProtectablePool p) => s.ToProtectedDictionary(p);
            #elif WRONG_5
                public static void M(Dictionary<int, Holder> s) => s.ToProtectedDictionary(new PoolOptions());
            #elif WRONG_6
                public static void M(Dictionary<string, WithString> s) => s.ToProtectedDictionary();
            #elif WRONG_7
                public static void M(IEnumerable<Holder> s) => s.ToProtectedSet(new PoolOptions());
            #endif
            }
            """;
        string dir = Directory.CreateTempSubdirectory("pmalloc-overloads-").FullName;
        try
        {
            string file = Path.Combine(dir, "Uses.cs");
            File.WriteAllText(file, source);
            string fits = Compile(dotnet, csc, refs, file, dir, null);
            Assert.True(fits.Length == 0, $"what fits does not compile:\n{fits}");

            // Each wrong source, and the type its error must name.
            (string Symbol, string Named)[] wrong =
            [
                ("WRONG_1", "'Holder'"), ("WRONG_2", "'Holder'"), ("WRONG_3", "'Holder'"), ("WRONG_4", "'Holder'"),
                ("WRONG_5", "'Holder'"), ("WRONG_6", "'WithString'"), ("WRONG_7", "'Holder'"),
            ];
            foreach ((string symbol, string named) in wrong)
            {
                string errors = Compile(dotnet, csc, refs, file, dir, symbol);
                Assert.True(errors.Contains("error", StringComparison.Ordinal), $"{symbol} compiled");
                Assert.True(errors.Contains(named, StringComparison.Ordinal), $"{symbol}: the error does not name {named}:\n{errors}");
                Assert.False(errors.Contains("'string'", StringComparison.Ordinal), $"{symbol}: the error blames string:\n{errors}");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The SDK's csc and the reference assemblies of the runtime in use, or a skip where there is no SDK.</summary>
    private static (string Dotnet, string Csc, string References) Compiler()
    {
        // The runtime runs from <root>/shared/Microsoft.NETCore.App/<version>/; the SDK and the reference pack sit beside it.
        string runtime = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        string root = Path.GetFullPath(Path.Combine(runtime, "..", "..", ".."));
        string dotnet = Path.Combine(root, "dotnet");
        string? csc = Directory.Exists(Path.Combine(root, "sdk"))
            ? Directory.GetFiles(Path.Combine(root, "sdk"), "csc.dll", SearchOption.AllDirectories).Where(p => p.Contains("bincore", StringComparison.Ordinal)).Order().LastOrDefault()
            : null;
        string version = Path.GetFileName(runtime);
        string refs = Path.Combine(root, "packs", "Microsoft.NETCore.App.Ref", version, "ref", "net" + Environment.Version.ToString(2));
        if (csc is null || !File.Exists(dotnet) || !Directory.Exists(refs))
        {
            Assert.Skip($"no SDK compiler or reference pack under {root} (csc {csc ?? "missing"}, {refs})");
            throw new UnreachableException();
        }

        return (dotnet, csc, refs);
    }

    private static string Compile(string dotnet, string csc, string refs, string file, string dir, string? define)
    {
        ProcessStartInfo info = new(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "exec", csc, "-nologo", "-noconfig", "-t:library", "-nullable:enable", "-langversion:latest", $"-out:{Path.Combine(dir, "out.dll")}" })
        {
            info.ArgumentList.Add(arg);
        }

        if (define is not null)
        {
            info.ArgumentList.Add($"-define:{define}");
        }

        foreach (string reference in Directory.GetFiles(refs, "*.dll").Append(typeof(ProtectedCollection).Assembly.Location))
        {
            info.ArgumentList.Add($"-r:{reference}");
        }

        info.ArgumentList.Add(file);
        using Process process = Process.Start(info)!;
        Task<string> err = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (output + err.Result).Trim();
    }
}
