/*
 * pmalloc-writer: the write-rare writer process of Pmalloc for .NET.
 *
 * After Protect, a write-rare pool's memory is mapped read-only in the .NET process, and no writable mapping of it
 * exists there at any moment. Stores that must be single-copy atomic for lock-free readers (Publish, Add,
 * CompareExchange), and every write into memfd_secret memory (which takes no pwrite), are done here instead: this
 * process holds the only writable mapping, in its own address space, and does each atomic store with one atomic
 * instruction. It is the userland twin of the kernel prmem series' temporary mm.
 *
 * It is started by the library (WriterProcess in src/Pmalloc/Os/) with posix_spawn, as
 *     pmalloc-writer PARENT_PID
 * with one end of an AF_UNIX SOCK_SEQPACKET socketpair as descriptor 3, and takes commands only over it:
 * one fixed-size request per packet (a WRITE carries its bytes after the request), one reply per request.
 *
 *   REGISTER(fd by SCM_RIGHTS, offset = backing offset, length, flags) -> handle
 *            maps [offset, offset + length) of the memory file read-write, shared; MADV_DONTDUMP and
 *            mlock2(MLOCK_ONFAULT) when the pool asks; closes the descriptor
 *   UNREGISTER(handle)                          unmaps
 *   STORE(handle, offset, value)                a release store of 8 bytes
 *   ADD(handle, offset, value = delta)          atomic add, returns the new value
 *   CAS(handle, offset, value, comparand)       atomic compare-exchange, returns the original value
 *   WRITE(handle, offset, length, bytes)        memcpy (memfd_secret pools: not atomic)
 *   FILL(handle, offset, length, value)         memset (memfd_secret pools: not atomic)
 *
 * Every offset is checked against the registered length (and, for the 8-byte operations, 8-byte alignment) before
 * anything is written: the writer never writes outside a range the library registered.
 *
 * The sandbox: PR_SET_PDEATHSIG(SIGKILL) and a getppid() check (it dies with the library's process; the library
 * spawns it from a thread that lives as long as the writer, because the death signal follows the spawning thread);
 * PR_SET_DUMPABLE 0 (no core dump, no ptrace attach or /proc/PID/mem without CAP_SYS_PTRACE); PR_SET_NO_NEW_PRIVS;
 * every descriptor but the socket closed; and a seccomp filter that allows only the calls the loop makes (recvmsg,
 * sendmsg, mmap without PROT_EXEC, munmap, madvise, mlock2, close, exit) and kills the process on any other.
 *
 * It exits when the library's end of the socket closes, and on any error it cannot report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define SOCKET_FD 3

/* "PMW1": the hello's value, so the library knows it started the right program and protocol. */
#define HELLO_MAGIC 0x31574d50u
#define PROTOCOL_VERSION 1u

/* Set in the hello's value when the seccomp filter is in force. */
#define SECCOMP_BIT (1ull << 32)

enum op {
    OP_REGISTER = 1,
    OP_UNREGISTER = 2,
    OP_STORE = 3,
    OP_ADD = 4,
    OP_CAS = 5,
    OP_WRITE = 6,
    OP_FILL = 7,
};

enum register_flags {
    FLAG_DONTDUMP = 1,
    FLAG_MLOCK = 2,
};

/* Which step failed, so the library can name the system call in its exception. */
enum stage {
    STAGE_NONE = 0,
    STAGE_MMAP = 1,
    STAGE_MLOCK = 2,
    STAGE_MADVISE = 3,
    STAGE_PROTOCOL = 4,
    STAGE_SETUP = 5,
};

/* The wire format: native byte order, the same struct on both sides (src/Pmalloc/Os/WriterProtocol.cs). */
struct request {
    uint32_t op;
    uint32_t flags;
    uint64_t handle;
    uint64_t offset;
    uint64_t length;
    uint64_t value;
    uint64_t comparand;
};

struct reply {
    int32_t error;  /* 0, or an errno */
    uint32_t stage; /* enum stage when error != 0; the protocol version in the hello */
    uint64_t value; /* the handle, the new or original value, or HELLO_MAGIC */
};

_Static_assert(sizeof(struct request) == 48, "request layout");
_Static_assert(sizeof(struct reply) == 16, "reply layout");

/* The largest WRITE payload; the library splits larger writes. */
#define MAX_DATA 65536

struct slot {
    unsigned char *base;
    uint64_t length;
    uint32_t generation;
    uint32_t used;
};

static struct slot *slots;
static uint32_t slot_capacity;
static uint32_t free_hint;
/* Page-aligned (for every page size up to 64 KiB), so madvise and mlock2 cover exactly it. */
static unsigned char data[MAX_DATA] __attribute__((aligned(65536)));

static int send_reply(int32_t error, uint32_t stage, uint64_t value)
{
    struct reply r = { error, stage, value };
    for (;;) {
        ssize_t sent = send(SOCKET_FD, &r, sizeof r, MSG_NOSIGNAL);
        if (sent == (ssize_t)sizeof r) {
            return 0;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        return -1;
    }
}

/* Grows the slot table with mmap (no malloc: the seccomp filter allows no brk). */
static int grow_slots(void)
{
    uint32_t capacity = slot_capacity == 0 ? 256 : slot_capacity * 2;
    if (capacity > (1u << 24)) {
        return ENOMEM;
    }
    size_t bytes = (size_t)capacity * sizeof(struct slot);
    struct slot *grown = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (grown == MAP_FAILED) {
        return errno;
    }
    if (slots != NULL) {
        memcpy(grown, slots, (size_t)slot_capacity * sizeof(struct slot));
        munmap(slots, (size_t)slot_capacity * sizeof(struct slot));
    }
    slots = grown;
    free_hint = slot_capacity;
    slot_capacity = capacity;
    return 0;
}

static struct slot *find(uint64_t handle)
{
    uint32_t index = (uint32_t)handle;
    uint32_t generation = (uint32_t)(handle >> 32);
    if (index >= slot_capacity || !slots[index].used || slots[index].generation != generation) {
        return NULL;
    }
    return &slots[index];
}

static void do_register(const struct request *q, int fd)
{
    long page = sysconf(_SC_PAGESIZE);
    if (fd < 0) {
        send_reply(EBADF, STAGE_PROTOCOL, 0);
        return;
    }
    if (q->length == 0 || q->length > (uint64_t)SIZE_MAX || q->offset % (uint64_t)page != 0 || q->offset > (uint64_t)INT64_MAX
        || (q->flags & ~(uint32_t)(FLAG_DONTDUMP | FLAG_MLOCK)) != 0) {
        close(fd);
        send_reply(EINVAL, STAGE_PROTOCOL, 0);
        return;
    }

    uint32_t index = free_hint;
    while (index < slot_capacity && slots[index].used) {
        index++;
    }
    if (index >= slot_capacity) {
        index = 0;
        while (index < slot_capacity && slots[index].used) {
            index++;
        }
        if (index >= slot_capacity) {
            index = slot_capacity;
            int error = grow_slots();
            if (error != 0) {
                close(fd);
                send_reply(error, STAGE_MMAP, 0);
                return;
            }
        }
    }

    unsigned char *base = mmap(NULL, (size_t)q->length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)q->offset);
    int error = base == MAP_FAILED ? errno : 0;
    close(fd);
    if (error != 0) {
        send_reply(error, STAGE_MMAP, 0);
        return;
    }
    if ((q->flags & FLAG_DONTDUMP) != 0 && madvise(base, (size_t)q->length, MADV_DONTDUMP) != 0) {
        error = errno;
        munmap(base, (size_t)q->length);
        send_reply(error, STAGE_MADVISE, 0);
        return;
    }
    if ((q->flags & FLAG_MLOCK) != 0 && syscall(SYS_mlock2, base, (size_t)q->length, MLOCK_ONFAULT) != 0) {
        error = errno;
        munmap(base, (size_t)q->length);
        send_reply(error, STAGE_MLOCK, 0);
        return;
    }

    struct slot *s = &slots[index];
    s->base = base;
    s->length = q->length;
    s->generation++;
    s->used = 1;
    free_hint = index + 1;
    send_reply(0, STAGE_NONE, ((uint64_t)s->generation << 32) | index);
}

static void do_unregister(const struct request *q)
{
    struct slot *s = find(q->handle);
    if (s == NULL) {
        send_reply(EINVAL, STAGE_PROTOCOL, 0);
        return;
    }
    munmap(s->base, (size_t)s->length);
    s->base = NULL;
    s->length = 0;
    s->used = 0;
    uint32_t index = (uint32_t)(s - slots);
    if (index < free_hint) {
        free_hint = index;
    }
    send_reply(0, STAGE_NONE, 0);
}

/* The one 8-byte word an atomic operation may touch, or NULL: inside the registered range, 8-byte aligned. */
static uint64_t *word_at(const struct request *q)
{
    struct slot *s = find(q->handle);
    if (s == NULL || s->length < 8 || q->offset > s->length - 8 || q->offset % 8 != 0) {
        return NULL;
    }
    return (uint64_t *)(s->base + q->offset);
}

/* The byte range a WRITE or FILL may touch, or NULL: [offset, offset + length) inside the registered range. */
static unsigned char *range_at(const struct request *q, uint64_t length)
{
    struct slot *s = find(q->handle);
    if (s == NULL || q->offset > s->length || length > s->length - q->offset) {
        return NULL;
    }
    return s->base + q->offset;
}

static void dispatch(const struct request *q, size_t payload, int fd)
{
    if (q->op != OP_REGISTER && fd >= 0) {
        close(fd);
        send_reply(EINVAL, STAGE_PROTOCOL, 0);
        return;
    }
    if (q->op != OP_WRITE && payload != 0) {
        if (fd >= 0) {
            close(fd);
        }
        send_reply(EINVAL, STAGE_PROTOCOL, 0);
        return;
    }

    switch (q->op) {
    case OP_REGISTER:
        do_register(q, fd);
        return;
    case OP_UNREGISTER:
        do_unregister(q);
        return;
    case OP_STORE:
    case OP_ADD:
    case OP_CAS: {
        uint64_t *word = word_at(q);
        if (word == NULL) {
            send_reply(EINVAL, STAGE_PROTOCOL, 0);
            return;
        }
        uint64_t result = 0;
        if (q->op == OP_STORE) {
            __atomic_store_n(word, q->value, __ATOMIC_RELEASE);
        } else if (q->op == OP_ADD) {
            result = __atomic_add_fetch(word, q->value, __ATOMIC_SEQ_CST);
        } else {
            uint64_t expected = q->comparand;
            __atomic_compare_exchange_n(word, &expected, q->value, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            result = expected; /* the original value, whether or not it was replaced */
        }
        send_reply(0, STAGE_NONE, result);
        return;
    }
    case OP_WRITE: {
        unsigned char *target = payload == q->length ? range_at(q, payload) : NULL;
        if (target == NULL) {
            send_reply(EINVAL, STAGE_PROTOCOL, 0);
            return;
        }
        memcpy(target, data, payload);
        explicit_bzero(data, payload); /* a secret pool's bytes do not linger here */
        send_reply(0, STAGE_NONE, 0);
        return;
    }
    case OP_FILL: {
        unsigned char *target = q->value <= 0xff ? range_at(q, q->length) : NULL;
        if (target == NULL) {
            send_reply(EINVAL, STAGE_PROTOCOL, 0);
            return;
        }
        memset(target, (int)q->value, (size_t)q->length);
        send_reply(0, STAGE_NONE, 0);
        return;
    }
    default:
        send_reply(EINVAL, STAGE_PROTOCOL, 0);
        return;
    }
}

static void serve(void)
{
    for (;;) {
        struct request q;
        struct iovec iov[2] = { { &q, sizeof q }, { data, sizeof data } };
        union {
            struct cmsghdr header;
            char space[CMSG_SPACE(sizeof(int) * 4)];
        } control;
        struct msghdr msg = { 0 };
        msg.msg_iov = iov;
        msg.msg_iovlen = 2;
        msg.msg_control = control.space;
        msg.msg_controllen = sizeof control.space;

        ssize_t received = recvmsg(SOCKET_FD, &msg, MSG_CMSG_CLOEXEC);
        if (received == 0) {
            _exit(0); /* the library closed its end: nothing more to do */
        }
        if (received < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(1);
        }

        /* Take every descriptor that came with the packet; only REGISTER may bring one, and only one. */
        int fd = -1, extra = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int received_fd;
                memcpy(&received_fd, CMSG_DATA(c) + (i * sizeof(int)), sizeof(int));
                if (fd < 0) {
                    fd = received_fd;
                } else {
                    close(received_fd);
                    extra = 1;
                }
            }
        }

        if (extra || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || (size_t)received < sizeof q) {
            if (fd >= 0) {
                close(fd);
            }
            send_reply((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ? EMSGSIZE : EINVAL, STAGE_PROTOCOL, 0);
            continue;
        }

        dispatch(&q, (size_t)received - sizeof q, fd);
    }
}

#if defined(__x86_64__)
#define CURRENT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CURRENT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define ALLOW(name) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##name, 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* Allows only what serve() needs; mmap only without PROT_EXEC. Anything else kills the process. */
static int install_seccomp(void)
{
#ifdef CURRENT_AUDIT_ARCH
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CURRENT_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        /* x32 system calls share the arch value: refuse them all. */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
        ALLOW(recvmsg),
        ALLOW(sendmsg),
#if defined(__NR_sendto)
        ALLOW(sendto), /* glibc's send() */
#endif
        ALLOW(munmap),
        ALLOW(madvise),
        ALLOW(mlock2),
        ALLOW(close),
        ALLOW(exit),
        ALLOW(exit_group),
        ALLOW(rt_sigreturn),
        ALLOW(restart_syscall),
        /* mmap: allowed unless it asks for executable memory. */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog program = { (unsigned short)(sizeof filter / sizeof filter[0]), filter };
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static int parse_pid(const char *text, pid_t *pid)
{
    long value = 0;
    if (*text == '\0') {
        return -1;
    }
    for (; *text != '\0'; text++) {
        if (*text < '0' || *text > '9' || value > 100000000) {
            return -1;
        }
        value = (value * 10) + (*text - '0');
    }
    *pid = (pid_t)value;
    return value > 0 ? 0 : -1;
}

static void close_other_descriptors(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 0u, 2u, 0u) == 0 && syscall(SYS_close_range, (unsigned)SOCKET_FD + 1, ~0u, 0u) == 0) {
        return;
    }
#endif
    for (int fd = 0; fd < 65536; fd++) {
        if (fd != SOCKET_FD) {
            close(fd);
        }
    }
}

int main(int argc, char **argv)
{
    pid_t parent;
    if (argc != 2 || parse_pid(argv[1], &parent) != 0) {
        return 64;
    }

    /* Die with the library's process. The check after the prctl closes the race with a parent that died first. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent) {
        _exit(70);
    }

    /* Only the socket: anything else the library might have let through is closed before the first command. */
    int type = 0;
    socklen_t type_length = sizeof type;
    if (getsockopt(SOCKET_FD, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_SEQPACKET) {
        _exit(71);
    }
    close_other_descriptors();

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        send_reply(errno, STAGE_SETUP, 1);
        _exit(72);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        send_reply(errno, STAGE_SETUP, 2);
        _exit(73);
    }
    if (grow_slots() != 0) {
        send_reply(ENOMEM, STAGE_SETUP, 3);
        _exit(74);
    }
    /* The payload buffer holds a secret pool's bytes for a moment: keep it out of dumps and swap where allowed. */
    (void)madvise(data, sizeof data, MADV_DONTDUMP);
    (void)syscall(SYS_mlock2, data, sizeof data, MLOCK_ONFAULT);

    /* Without seccomp (a kernel built without it) the rest of the sandbox still holds; the hello says which. */
    uint64_t sandboxed = install_seccomp() == 0 ? SECCOMP_BIT : 0;
    if (send_reply(0, PROTOCOL_VERSION, HELLO_MAGIC | sandboxed) != 0) {
        _exit(1);
    }
    serve();
    return 0;
}
