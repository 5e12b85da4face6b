/*
 * pmalloc-writer.exe: the writer process of Pmalloc's write-rare pools on Windows.
 *
 * After Protect, a write-rare pool's memory is never writable in the process that owns the pool, not even for a
 * moment. Its stores are done here instead, in a process of their own: the library duplicates each chunk's section
 * handle into this process (DuplicateHandle, with SECTION_MAP_READ | SECTION_MAP_WRITE only), and this process maps
 * the section writable in its own address space and does the stores the library asks for. It is the userland twin of
 * the kernel prmem series' temporary mm, as the Linux writer is.
 *
 * It takes commands only on its standard input, an anonymous pipe the library made; it answers on its standard
 * output. It ends when that pipe closes, which is when the library's process ends, however it ends. It never writes
 * outside a view it mapped for the library, and it checks every offset and length against that view (the library
 * has also checked that the range lies inside one live allocation of the pool).
 *
 * Protocol, little-endian, one request at a time, on the pipes (the library's end: src/Pmalloc/Os/WriterProcess.Windows.cs):
 *   request: six uint64 (op, a, b, c, d, e), then, for OP_WRITE, c bytes of data
 *   reply:   two uint64 (status: 0 or a Win32 error code; value)
 *
 *   OP_HELLO    -> value = WRITER_MAGIC (the library checks it started this program and not another)
 *   OP_MAP      a = section handle (valid in this process), b = the section's bytes, c = the chunk's offset in it,
 *               d = the chunk's bytes, e = flags (1: exclude from error reports) -> value = the chunk's address here,
 *               its handle in every later request; the section handle is closed in every case
 *   OP_UNMAP    a = chunk handle
 *   OP_WRITE    a = chunk handle, b = offset in the chunk, c = length; the data follows the request
 *   OP_FILL     a = chunk handle, b = offset, c = length, d = byte value
 *   OP_STORE    a = chunk handle, b = offset (8-aligned), c = value: one atomic, release-ordered 8-byte store
 *   OP_ADD      a = chunk handle, b = offset (8-aligned), c = delta -> value = the new value (lock xadd)
 *   OP_CAS      a = chunk handle, b = offset (8-aligned), c = value, d = comparand -> value = the original (lock cmpxchg)
 *
 * The writer never writes outside a chunk: not into the guard pages the section holds around it, not past its end.
 * Built by src/Pmalloc.Writer/Writer.targets with x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64-win32 on Debian).
 */
#include <stdint.h>
#include <string.h>
#include <windows.h>

enum { OP_HELLO = 0, OP_MAP = 1, OP_UNMAP = 2, OP_WRITE = 3, OP_FILL = 4, OP_STORE = 5, OP_ADD = 6, OP_CAS = 7 };
enum { MAP_EXCLUDE_FROM_REPORTS = 1 };
#define WRITER_MAGIC 0x31575250414d50ULL /* "PMAPRW1" */

typedef struct { uint64_t op, a, b, c, d, e; } request;
typedef struct { uint64_t status, value; } reply;

/* One chunk mapped for the library: the view of its whole section, and the chunk inside it. */
typedef struct { uint8_t *view; uint8_t *chunk; uint64_t size; int excluded; } view;
typedef HRESULT(WINAPI *wer_register_fn)(PVOID, DWORD);
typedef HRESULT(WINAPI *wer_unregister_fn)(PVOID);

static HANDLE in, out;
static view *views;
static size_t view_count, view_capacity;
static wer_register_fn wer_register;
static wer_unregister_fn wer_unregister;

/* Reads exactly n bytes; ends the process when the pipe closes (the library's process is gone). */
static void read_all(void *buffer, size_t n)
{
    uint8_t *p = buffer;
    while (n > 0) {
        DWORD got = 0, want = n > 0x10000 ? 0x10000 : (DWORD)n;
        if (!ReadFile(in, p, want, &got, NULL) || got == 0)
            ExitProcess(0);
        p += got;
        n -= got;
    }
}

static void write_all(const void *buffer, size_t n)
{
    const uint8_t *p = buffer;
    while (n > 0) {
        DWORD put = 0;
        if (!WriteFile(out, p, (DWORD)n, &put, NULL) || put == 0)
            ExitProcess(0);
        p += put;
        n -= put;
    }
}

static view *find(uint64_t handle)
{
    for (size_t i = 0; i < view_count; i++)
        if ((uint64_t)(uintptr_t)views[i].chunk == handle)
            return &views[i];
    return NULL;
}

/* The address of [offset, +length) in the chunk whose handle is base, or NULL if that range is not inside it. */
static uint8_t *target(uint64_t base, uint64_t offset, uint64_t length)
{
    view *v = find(base);
    if (v == NULL || offset > v->size || length > v->size - offset)
        return NULL;
    return v->chunk + offset;
}

/* The address of an aligned 8-byte slot at offset in the view at base, or NULL. */
static volatile int64_t *slot(uint64_t base, uint64_t offset)
{
    if (offset % 8 != 0)
        return NULL;
    return (volatile int64_t *)target(base, offset, 8);
}

static reply map(uint64_t handle, uint64_t size, uint64_t offset, uint64_t length, uint64_t flags)
{
    reply r = { 0, 0 };
    HANDLE section = (HANDLE)(uintptr_t)handle;
    if (view_count == view_capacity) {
        size_t capacity = view_capacity ? view_capacity * 2 : 64;
        view *grown = views == NULL ? HeapAlloc(GetProcessHeap(), 0, capacity * sizeof(view))
                                    : HeapReAlloc(GetProcessHeap(), 0, views, capacity * sizeof(view));
        if (grown == NULL) {
            CloseHandle(section);
            r.status = ERROR_NOT_ENOUGH_MEMORY;
            return r;
        }
        views = grown;
        view_capacity = capacity;
    }
    int valid = length != 0 && offset <= size && length <= size - offset && size <= (uint64_t)SIZE_MAX;
    uint8_t *base = valid ? MapViewOfFile(section, FILE_MAP_WRITE, 0, 0, (SIZE_T)size) : NULL;
    r.status = base == NULL ? (valid ? GetLastError() : ERROR_INVALID_PARAMETER) : 0;
    CloseHandle(section); /* the view keeps the section alive */
    if (base == NULL)
        return r;
    int excluded = 0;
    if ((flags & MAP_EXCLUDE_FROM_REPORTS) && wer_register != NULL && length <= 0x80000000u)
        excluded = SUCCEEDED(wer_register(base + offset, (DWORD)length));
    views[view_count++] = (view){ base, base + offset, length, excluded };
    r.value = (uint64_t)(uintptr_t)(base + offset);
    return r;
}

static reply unmap(uint64_t base)
{
    reply r = { 0, 0 };
    view *v = find(base);
    if (v == NULL) {
        r.status = ERROR_INVALID_ADDRESS;
        return r;
    }
    if (v->excluded && wer_unregister != NULL)
        wer_unregister(v->chunk);
    UnmapViewOfFile(v->view);
    *v = views[--view_count];
    return r;
}

static reply write_data(const request *q)
{
    reply r = { 0, 0 };
    uint8_t *p = target(q->a, q->b, q->c);
    uint8_t buffer[0x10000];
    for (uint64_t left = q->c; left > 0;) {
        size_t piece = left > sizeof buffer ? sizeof buffer : (size_t)left;
        read_all(buffer, piece); /* read the data even for a bad target: the stream must stay in step */
        if (p != NULL) {
            memcpy(p, buffer, piece);
            p += piece;
        }
        left -= piece;
    }
    if (p == NULL && q->c != 0)
        r.status = ERROR_INVALID_PARAMETER;
    return r;
}

int main(void)
{
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
    in = GetStdHandle(STD_INPUT_HANDLE);
    out = GetStdHandle(STD_OUTPUT_HANDLE);
    HMODULE kernel32 = GetModuleHandleW(L"kernel32.dll");
    if (kernel32 != NULL) {
        wer_register = (wer_register_fn)(void (*)(void))GetProcAddress(kernel32, "WerRegisterExcludedMemoryBlock");
        wer_unregister = (wer_unregister_fn)(void (*)(void))GetProcAddress(kernel32, "WerUnregisterExcludedMemoryBlock");
    }

    for (;;) {
        request q;
        read_all(&q, sizeof q);
        reply r = { 0, 0 };
        volatile int64_t *s;
        uint8_t *p;
        switch (q.op) {
        case OP_HELLO:
            r.value = WRITER_MAGIC;
            break;
        case OP_MAP:
            r = map(q.a, q.b, q.c, q.d, q.e);
            break;
        case OP_UNMAP:
            r = unmap(q.a);
            break;
        case OP_WRITE:
            r = write_data(&q);
            break;
        case OP_FILL:
            if ((p = target(q.a, q.b, q.c)) != NULL)
                memset(p, (int)(uint8_t)q.d, (size_t)q.c);
            else
                r.status = ERROR_INVALID_PARAMETER;
            break;
        case OP_STORE:
            /* One aligned 8-byte mov: single-copy atomic on x86-64; release order is the architecture's (TSO). */
            if ((s = slot(q.a, q.b)) != NULL)
                __atomic_store_n(s, (int64_t)q.c, __ATOMIC_RELEASE);
            else
                r.status = ERROR_INVALID_PARAMETER;
            break;
        case OP_ADD:
            if ((s = slot(q.a, q.b)) != NULL)
                r.value = (uint64_t)__atomic_add_fetch(s, (int64_t)q.c, __ATOMIC_SEQ_CST);
            else
                r.status = ERROR_INVALID_PARAMETER;
            break;
        case OP_CAS:
            if ((s = slot(q.a, q.b)) != NULL) {
                int64_t expected = (int64_t)q.d;
                __atomic_compare_exchange_n(s, &expected, (int64_t)q.c, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
                r.value = (uint64_t)expected;
            } else {
                r.status = ERROR_INVALID_PARAMETER;
            }
            break;
        default:
            r.status = ERROR_INVALID_FUNCTION;
            break;
        }
        write_all(&r, sizeof r);
    }
}
