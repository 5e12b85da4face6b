namespace Pmalloc;

/// <summary>A string value's entry in a table: the address and length of its UTF-16 text (later in the same allocation).</summary>
internal unsafe struct TextRef
{
    internal char* Chars;
    internal int Length;
}
