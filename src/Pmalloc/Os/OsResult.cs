namespace Pmalloc;

/// <summary>
/// The OS layer's one way to report an outcome: success, or the errno of the call that failed and what was
/// being attempted. The OS layer never throws and knows no pool; the pool layer turns a failure into the
/// exception that names the pool and the address (<see cref="ThrowHelper.ForOs"/>).
/// </summary>
/// <param name="Errno">0 on success, else the failed call's errno (on Windows: its Win32 error code, or an HRESULT).</param>
/// <param name="Call">The system call that failed, as the man page names it (<c>mmap</c>, <c>fcntl(F_ADD_SEALS)</c>).</param>
/// <param name="Attempt">What the layer was doing, as a verb phrase: "map a chunk of 65536 bytes".</param>
internal readonly record struct OsResult(int Errno, string? Call, string? Attempt)
{
    /// <summary>Success.</summary>
    internal static OsResult Ok => default;

    internal bool Failed => Errno != 0;

    /// <summary>The failure of <paramref name="call"/>, with the errno it left behind.</summary>
    internal static OsResult Fail(string call, string attempt) => new(Interop.LastErrno, call, attempt);

    /// <summary>The failure of <paramref name="call"/> with a given errno.</summary>
    internal static OsResult Fail(int errno, string call, string attempt) => new(errno, call, attempt);
}
