/* sysmon probe: every syscall enter/exit of every process (but sysmon's own) into one stream.
 *
 * Parameters come only from -D flags built from validated integers (loader.py) and from maps:
 *   SELF_PID, NCPU, RINGBUF_PAGES, PERF_TRANSPORT (defined: perf buffer instead of ring buffer),
 *   STR_MAX (path string cap), ARGS_MAX (execve argv cap), and what the kernel offers (kernel.py):
 *   HAVE_TASK_BTF (bpf_get_current_task_btf, 5.11), HAVE_TASK_STORAGE (BPF task storage, 5.11),
 *   HAVE_TASK_PT_REGS (bpf_task_pt_regs, 5.15).
 * The kernel side stays mechanical: which data to copy for which syscall is the `sc_table`
 * map, filled from the Python event schema; all meaning lives in userspace. */
#include <uapi/linux/ptrace.h>
#include <linux/sched.h>
#include <linux/fs.h>
#include <linux/fdtable.h>
#include <net/sock.h>
#include "sysmon.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define SCRATCH_SIZE 65536
#define NO_ENTER 0xdeadbeefdeadbeefULL /* marks a consumed pending slot (args[5] is never this in practice) */
#define BLOB_ROOM 16384 /* a blob starts before this offset */
#define SNAPLEN_MAX 16384
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

struct scratch {
    u8 buf[SCRATCH_SIZE + SNAPLEN_MAX + 4096]; /* headroom: masked offsets + a maximal read */
};

struct pending {
    u64 args[6];
};

BPF_ARRAY(sc_table, struct sysmon_sc, SYSMON_MAX_SYSCALLS);
BPF_ARRAY(sysmon_config, u64, 4); /* 0: snaplen, 1: identity filters in force (IDF_*), 2: shard (N << 32 | I) */
struct comm_key {
    char comm[16];
};
/* Identity pushdown: the pids, tids, comms and uids a filter pins (empty maps when not pinned). */
BPF_HASH(pid_filter, u32, u8, 1024);
BPF_HASH(tid_filter, u32, u8, 1024);
BPF_HASH(comm_filter, struct comm_key, u8, 256);
BPF_HASH(uid_filter, u32, u8, 256);
BPF_HASH(cgroup_deny, u64, u8, 16384); /* cgroups known to hold no selected container */
BPF_ARRAY(scratch_map, struct scratch, NCPU);
BPF_PERCPU_ARRAY(counters, u64, CNT_MAX);
#ifdef HAVE_TASK_STORAGE
BPF_TASK_STORAGE(pending_map, struct pending); /* per-thread enter args; freed with the task */
#else
BPF_TABLE("lru_hash", u32, struct pending, pending_map, 65536); /* by tid; LRU evicts dead threads' */
#endif
#ifdef PERF_TRANSPORT
BPF_PERF_OUTPUT(events);
#else
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
#endif

/* Read a kernel struct member at offsetof(type, member). The BPF backend's layout of `&p->member`
 * disagreed with offsetof and the kernel after bpftool's runs of `long: 64;` padding (task_struct's
 * tgid at 2252 instead of 2236 on Debian 11's 5.10) until the type tree split them
 * (btf.split_padding_runs; tests/kernel/test_btf_layout.py). offsetof alone did not avoid it: LLVM
 * turned `(void *)task + 2808` back into a task->files field access, laid out at 2824 on 5.10 (no
 * socket tuples there). The macro stays for clarity; the tree is what makes both right. */
#define read_member(dst, size, ptr, type, member) \
    bpf_probe_read_kernel((dst), (size), (void *)(ptr) + __builtin_offsetof(type, member))

static __always_inline void count(u32 idx)
{
    u64 *v = counters.lookup(&idx);
    if (v)
        (*v)++;
}

static __always_inline struct task_struct *current_task(void)
{
#ifdef HAVE_TASK_BTF
    return bpf_get_current_task_btf();
#else
    return (struct task_struct *)bpf_get_current_task();
#endif
}

/* The calling thread's slot for its enter arguments (created on enter, looked up on exit). */
static __always_inline struct pending *pending_slot(u64 pid_tgid, int create)
{
#ifdef HAVE_TASK_STORAGE
    if (create)
        return pending_map.task_storage_get(bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    return pending_map.task_storage_get(bpf_get_current_task_btf(), 0, 0);
#else
    u32 tid = (u32)pid_tgid;
    struct pending *p = pending_map.lookup(&tid);
    if (p || !create)
        return p;
    struct pending zero = {};
    pending_map.update(&tid, &zero);
    return pending_map.lookup(&tid);
#endif
}

/* The user registers of the current task (saved at syscall entry, on top of its kernel stack). */
static __always_inline struct pt_regs *user_regs(void)
{
#ifdef HAVE_TASK_PT_REGS
    return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
#else
    /* task_pt_regs() on x86_64: THREAD_SIZE is 16 KiB (no KASAN), no padding above the registers. */
    struct task_struct *task = current_task();
    void *stack = NULL;
    read_member(&stack, sizeof(stack), task, struct task_struct, stack);
    return (struct pt_regs *)((u64)stack + 16384 - sizeof(struct pt_regs));
#endif
}

static __always_inline u64 snaplen(void)
{
    u32 k = 0;
    u64 *v = sysmon_config.lookup(&k);
    u64 n = v ? *v : 80;
    return n > SNAPLEN_MAX ? SNAPLEN_MAX : n;
}

static __always_inline struct scratch *get_scratch(void)
{
    u32 cpu = bpf_get_smp_processor_id();
    return scratch_map.lookup(&cpu);
}

/* A pointer into the scratch buffer that the verifier can bound (clang may drop a plain mask). */
static __always_inline void *at(struct scratch *s, u32 off)
{
    asm volatile("" : "+r"(off));
    off &= (SCRATCH_SIZE / 2 - 1);
    return &s->buf[off];
}

/* Append a blob header at *off; returns the data offset, or 0 if there is no room. */
static __always_inline u32 blob_begin(u32 off)
{
    if (off > BLOB_ROOM)
        return 0;
    return off + sizeof(struct sysmon_blob_hdr);
}

static __always_inline u32 blob_end(struct scratch *s, u32 off, u32 len, u8 kind, u8 slot, u8 *nblobs)
{
    struct sysmon_blob_hdr *h = (struct sysmon_blob_hdr *)at(s, off);
    h->len = len;
    h->kind = kind;
    h->slot = slot;
    (*nblobs)++;
    return off + sizeof(*h) + len;
}

static __always_inline u32 put_user_str(struct scratch *s, u32 off, u64 ptr, u8 slot, u8 *nblobs)
{
    u32 d = blob_begin(off);
    if (!d || !ptr)
        return off;
    int n = bpf_probe_read_user_str(at(s, d), STR_MAX, (void *)ptr);
    if (n <= 0) {
        count(CNT_READ_FAILED);
        return off;
    }
    return blob_end(s, off, n - 1, SYSMON_BLOB_STR, slot, nblobs);
}

static __always_inline u32 put_user_bytes(struct scratch *s, u32 off, u64 ptr, u64 len, u8 kind, u8 slot,
                                          u8 *nblobs)
{
    u32 d = blob_begin(off);
    if (!d || !ptr)
        return off;
    if (len > SNAPLEN_MAX)
        len = SNAPLEN_MAX;
    asm volatile("" : "+r"(len)); /* keep the mask: the verifier needs it even where clang can prove it */
    len &= (SNAPLEN_MAX * 2 - 1);
    if (len == 0)
        return off;
    if (bpf_probe_read_user(at(s, d), len, (void *)ptr) != 0) {
        count(CNT_READ_FAILED);
        return off;
    }
    return blob_end(s, off, len, kind, slot, nblobs);
}

static __always_inline u32 put_iovec(struct scratch *s, u32 off, u64 iov, u64 cnt, u64 total, u8 slot,
                                     u8 *nblobs)
{
    u32 d = blob_begin(off);
    if (!d || !iov)
        return off;
    u64 room = snaplen();
    if (total < room)
        room = total;
    u32 got = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (i >= cnt || got >= room)
            break;
        struct iovec v = {};
        if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(struct iovec))) != 0)
            break;
        u64 n = v.iov_len;
        if (n > room - got)
            n = room - got;
        if (n > SNAPLEN_MAX)
            n = SNAPLEN_MAX;
        asm volatile("" : "+r"(n));
        n &= (SNAPLEN_MAX * 2 - 1);
        if (n == 0 || bpf_probe_read_user(at(s, d + got), n, v.iov_base) != 0)
            break;
        got += n;
    }
    if (got == 0)
        return off;
    return blob_end(s, off, got, SYSMON_BLOB_BUF, slot, nblobs);
}

static __always_inline struct file *fd_file(struct task_struct *task, s32 fd)
{
    struct files_struct *files = NULL;
    struct fdtable *fdt = NULL;
    struct file **fdarr = NULL;
    struct file *f = NULL;
    unsigned int max_fds = 0;
    if (fd < 0)
        return NULL;
    read_member(&files, sizeof(files), task, struct task_struct, files);
    if (!files)
        return NULL;
    bpf_probe_read_kernel(&fdt, sizeof(fdt), &files->fdt);
    if (!fdt)
        return NULL;
    bpf_probe_read_kernel(&max_fds, sizeof(max_fds), &fdt->max_fds);
    if ((unsigned int)fd >= max_fds)
        return NULL;
    bpf_probe_read_kernel(&fdarr, sizeof(fdarr), &fdt->fd);
    if (!fdarr)
        return NULL;
    bpf_probe_read_kernel(&f, sizeof(f), &fdarr[fd]);
    return f;
}

static __always_inline u32 put_tuple(struct scratch *s, u32 off, s32 fd, u8 slot, u8 *nblobs)
{
    u32 d = blob_begin(off);
    if (!d)
        return off;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct file *f = fd_file(task, fd);
    if (!f)
        return off;
    struct inode *inode = NULL;
    umode_t mode = 0;
    bpf_probe_read_kernel(&inode, sizeof(inode), &f->f_inode);
    if (!inode)
        return off;
    bpf_probe_read_kernel(&mode, sizeof(mode), &inode->i_mode);
    if ((mode & S_IFMT) != S_IFSOCK)
        return off;
    struct socket *sock = NULL;
    struct sock *sk = NULL;
    bpf_probe_read_kernel(&sock, sizeof(sock), &f->private_data);
    if (!sock)
        return off;
    bpf_probe_read_kernel(&sk, sizeof(sk), &sock->sk);
    if (!sk)
        return off;
    struct sysmon_tuple *t = (struct sysmon_tuple *)at(s, d);
    __builtin_memset(t, 0, sizeof(*t));
    u16 family = 0, lport = 0;
    __be16 rport = 0;
    u16 proto = 0;
    bpf_probe_read_kernel(&family, sizeof(family), &sk->__sk_common.skc_family);
    bpf_probe_read_kernel(&lport, sizeof(lport), &sk->__sk_common.skc_num);
    bpf_probe_read_kernel(&rport, sizeof(rport), &sk->__sk_common.skc_dport);
    bpf_probe_read_kernel(&proto, sizeof(proto), &sk->sk_protocol);
    t->family = family;
    t->lport = lport;
    t->rport = __builtin_bswap16(rport);
    t->proto = proto;
    if (family == AF_INET) {
        bpf_probe_read_kernel(t->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
        bpf_probe_read_kernel(t->raddr, 4, &sk->__sk_common.skc_daddr);
    } else if (family == AF_INET6) {
        bpf_probe_read_kernel(t->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
        bpf_probe_read_kernel(t->raddr, 16, &sk->__sk_common.skc_v6_daddr);
    } else if (family != AF_UNIX) {
        return off;
    }
    return blob_end(s, off, sizeof(*t), SYSMON_BLOB_TUPLE, slot, nblobs);
}

static __always_inline u32 put_msghdr(struct scratch *s, u32 off, u64 ptr, u64 total, u8 slot, u8 *nblobs)
{
    struct user_msghdr m = {};
    if (!ptr || bpf_probe_read_user(&m, sizeof(m), (void *)ptr) != 0)
        return off;
    if (m.msg_name && m.msg_namelen > 0)
        off = put_user_bytes(s, off, (u64)m.msg_name, m.msg_namelen > 128 ? 128 : m.msg_namelen,
                             SYSMON_BLOB_SOCKADDR, slot, nblobs);
    if ((s64)total > 0)
        off = put_iovec(s, off, (u64)m.msg_iov, m.msg_iovlen, total, slot, nblobs);
    return off;
}

/* argv of the image execve just loaded, from the new user stack: [sp] = argc, then argv[], NULL,
 * envp[]. (Not from mm_struct: its arg_start was 16 bytes off before the tree's padding fix.) The
 * strings are contiguous from argv[0] to envp[0]; `slot` carries argc (capped at 255). */
static __always_inline u32 put_exec_args(struct scratch *s, u32 off, u8 *nblobs)
{
    struct pt_regs *regs = user_regs();
    u64 sp = 0, argc = 0, start = 0, end = 0;
    bpf_probe_read_kernel(&sp, sizeof(sp), &regs->sp);
    if (!sp || bpf_probe_read_user(&argc, sizeof(argc), (void *)sp) != 0 || argc == 0 || argc > 65536)
        return off;
    bpf_probe_read_user(&start, sizeof(start), (void *)(sp + 8));
    bpf_probe_read_user(&end, sizeof(end), (void *)(sp + 8 * (argc + 2)));
    u64 len = end > start ? end - start : ARGS_MAX;
    if (len > ARGS_MAX)
        len = ARGS_MAX;
    return put_user_bytes(s, off, start, len, SYSMON_BLOB_ARGS, argc > 255 ? 255 : argc, nblobs);
}

static __always_inline u64 len_of(u8 aux, u64 *args, s64 ret)
{
    if (aux == SLOT_RET)
        return ret > 0 ? ret : 0;
    if (aux & 0x10) {
        int v = 0;
        bpf_probe_read_user(&v, sizeof(v), (void *)args[aux & 7]);
        return v > 0 ? v : 0;
    }
    return args[aux & 7];
}

/* One capture spec. Vector kinds (iovec, msghdr) are honoured only in spec 0 (`vec_ok`): a copy of
 * their loops in every unrolled slot makes the program too large for the verifier. */
static __always_inline u32 fill_one(struct scratch *s, struct sysmon_spec sp, u8 when, u64 *args, s64 ret,
                                    u8 *nblobs, u32 off, int vec_ok)
{
    if (sp.kind == SPEC_NONE || !(sp.when & when))
        return off;
    u64 ptr = sp.slot == SLOT_RET ? (u64)ret : args[sp.slot & 7];
    switch (sp.kind) {
    case SPEC_STR:
        return put_user_str(s, off, ptr, sp.slot, nblobs);
    case SPEC_BUF: {
        u64 n = len_of(sp.aux, args, ret);
        u64 cap = snaplen();
        return put_user_bytes(s, off, ptr, n < cap ? n : cap, SYSMON_BLOB_BUF, sp.slot, nblobs);
    }
    case SPEC_SOCKADDR: {
        u64 n = len_of(sp.aux, args, ret);
        return put_user_bytes(s, off, ptr, n > 128 ? 128 : n, SYSMON_BLOB_SOCKADDR, sp.slot, nblobs);
    }
    case SPEC_TUPLE:
        return put_tuple(s, off, (s32)ptr, sp.slot, nblobs);
    case SPEC_ARGS:
        return put_exec_args(s, off, nblobs);
    case SPEC_FDS:
        return put_user_bytes(s, off, ptr, 8, SYSMON_BLOB_FDS, sp.slot, nblobs);
    case SPEC_FIXED:
        return put_user_bytes(s, off, ptr, sp.aux, SYSMON_BLOB_BUF, sp.slot, nblobs);
    }
    if (vec_ok && sp.kind == SPEC_IOVEC && ret > 0)
        return put_iovec(s, off, ptr, args[sp.aux & 7], ret, sp.slot, nblobs);
    if (vec_ok && sp.kind == SPEC_MSGHDR)
        return put_msghdr(s, off, ptr, ret, sp.slot, nblobs);
    return off;
}

static __always_inline u32 fill_blobs(struct scratch *s, struct sysmon_sc *sc, u8 when, u64 *args, s64 ret,
                                      u8 *nblobs)
{
    u32 off = sizeof(struct sysmon_hdr);
    off = fill_one(s, sc->spec[0], when, args, ret, nblobs, off, 1);
#pragma unroll
    for (int i = 1; i < SYSMON_SPECS; i++)
        off = fill_one(s, sc->spec[i], when, args, ret, nblobs, off, 0);
    return off;
}

static __always_inline void fill_header(struct sysmon_hdr *h, u32 nr, u8 dir, s64 ret, u64 pid_tgid)
{
#ifdef HAVE_TASK_BTF
    struct task_struct *task = bpf_get_current_task_btf();
    u32 ppid = task->real_parent->tgid;
    u32 ktgid = task->tgid;
#else
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct task_struct *parent = NULL;
    u32 ppid = 0, ktgid = 0;
    read_member(&parent, sizeof(parent), task, struct task_struct, real_parent);
    read_member(&ppid, sizeof(ppid), parent, struct task_struct, tgid);
    read_member(&ktgid, sizeof(ktgid), task, struct task_struct, tgid);
#endif
    if (ktgid != (u32)(pid_tgid >> 32))
        count(CNT_TGID_MISMATCH);
    u64 ugid = bpf_get_current_uid_gid();
    h->ts_ns = bpf_ktime_get_ns();
    h->ret = ret;
    h->tid = (u32)pid_tgid;
    h->pid = pid_tgid >> 32;
    h->ppid = ppid;
    h->uid = (u32)ugid;
    h->gid = ugid >> 32;
    h->nr = nr;
    h->dir = dir;
    h->cpu = bpf_get_smp_processor_id();
    h->flags = 0;
    bpf_get_current_comm(h->comm, sizeof(h->comm));
    h->cgroup_id = bpf_get_current_cgroup_id();
}

static __always_inline void submit(void *ctx, struct scratch *s, u32 size)
{
    if (size > SCRATCH_SIZE / 2)
        size = SCRATCH_SIZE / 2;
    asm volatile("" : "+r"(size));
    size &= (SCRATCH_SIZE - 1);
    if (size < sizeof(struct sysmon_hdr))
        return;
    ((struct sysmon_hdr *)s->buf)->size = size;
    void *data = s; /* bcc 0.26's clang asserts on a member expression as the data argument */
#ifdef PERF_TRANSPORT
    int err = events.perf_submit(ctx, data, size);
#else
    /* No wakeup per event (each costs ~10 us): userspace polls on a short timer. */
    int err = events.ringbuf_output(data, size, BPF_RB_NO_WAKEUP);
#endif
    count(err ? CNT_DROPPED : CNT_SENT);
}

/* Whether the current task passes the identity filters (syscalls that keep state always do). */
static __always_inline int identity_passes(struct sysmon_sc *sc, u64 pid_tgid)
{
    if (sc->enabled & SC_STATE)
        return 1;
    u32 k = 1;
    u64 *mask = sysmon_config.lookup(&k);
    if (!mask || !*mask)
        return 1;
    u32 pid = pid_tgid >> 32, tid = (u32)pid_tgid;
    if ((*mask & IDF_PIDS) && !pid_filter.lookup(&pid))
        return 0;
    if ((*mask & IDF_TIDS) && !tid_filter.lookup(&tid))
        return 0;
    if (*mask & IDF_UIDS) {
        u32 uid = (u32)bpf_get_current_uid_gid();
        if (!uid_filter.lookup(&uid))
            return 0;
    }
    if (*mask & IDF_COMMS) {
        struct comm_key c = {};
        bpf_get_current_comm(c.comm, sizeof(c.comm));
        if (!comm_filter.lookup(&c))
            return 0;
    }
    if (*mask & IDF_CGROUPS) {
        u64 cg = bpf_get_current_cgroup_id();
        if (cgroup_deny.lookup(&cg))
            return 0;
    }
    return 1;
}

/* --shard I/N: this probe takes the events of the CPUs numbered I modulo N (all when N is 0). */
static __always_inline int in_shard(void)
{
    u32 k = 2;
    u64 *shard = sysmon_config.lookup(&k);
    if (!shard || !(*shard >> 32))
        return 1;
    return bpf_get_smp_processor_id() % (u32)(*shard >> 32) == (u32)*shard;
}

/* The table entry of a syscall to emit, or NULL: sysmon's own, not selected, or filtered out. */
static __always_inline struct sysmon_sc *syscall_entry(long nr, u64 pid_tgid)
{
    if ((pid_tgid >> 32) == SELF_PID || nr < 0 || nr >= SYSMON_MAX_SYSCALLS)
        return NULL;
    u32 k = nr;
    struct sysmon_sc *sc = sc_table.lookup(&k);
    if (!sc || !(sc->enabled & SC_ENABLED) || !in_shard() || !identity_passes(sc, pid_tgid))
        return NULL;
    return sc;
}

static __always_inline int emit_enter(void *ctx, long nr, struct sysmon_sc *sc, struct pending *p, u64 pid_tgid)
{
    struct pending *slot = pending_slot(pid_tgid, 1);
    if (slot)
        __builtin_memcpy(slot->args, p->args, sizeof(p->args));
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct sysmon_hdr *h = (struct sysmon_hdr *)s->buf;
    fill_header(h, nr, 0, 0, pid_tgid);
    __builtin_memcpy(h->args, p->args, sizeof(p->args));
    u8 nblobs = 0;
    u32 size = fill_blobs(s, sc, SPEC_AT_ENTER, p->args, 0, &nblobs);
    h->nblobs = nblobs;
    submit(ctx, s, size);
    return 0;
}

static __always_inline int emit_exit(void *ctx, long nr, struct sysmon_sc *sc, s64 ret, u64 pid_tgid)
{
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct sysmon_hdr *h = (struct sysmon_hdr *)s->buf;
    fill_header(h, nr, 1, ret, pid_tgid);
    struct pending *p = pending_slot(pid_tgid, 0);
    if (p && p->args[5] != NO_ENTER) {
        __builtin_memcpy(h->args, p->args, sizeof(p->args));
        p->args[5] = NO_ENTER; /* consumed: a later exit without enter (a new child) must not reuse it */
    } else {
        __builtin_memset(h->args, 0, sizeof(h->args));
        h->flags = SYSMON_F_NO_ENTER;
    }
    u8 nblobs = 0;
    u32 size = fill_blobs(s, sc, SPEC_AT_EXIT, h->args, ret, &nblobs);
    h->nblobs = nblobs;
    submit(ctx, s, size);
    return 0;
}

/* The registers that hold syscall arguments on x86_64, as pt_regs lays them out from r10 to di:
 * one read instead of six. */
struct arg_regs {
    u64 r10, r9, r8, ax, cx, dx, si, di;
};
_Static_assert(offsetof(struct pt_regs, di) - offsetof(struct pt_regs, r10) == 7 * sizeof(u64),
               "pt_regs: r10..di are not contiguous");

/* Two ways in, attached by loader.py: raw_enter/raw_exit on raw_syscalls (every syscall), or, when
 * the kernel plan selects syscalls that all have tracepoints, tp_enter/tp_exit on just their
 * syscalls:sys_{enter,exit}_NAME: the other syscalls then never run a BPF program at all. */
int raw_enter(struct bpf_raw_tracepoint_args *ctx)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    long nr = ctx->args[1];
    struct sysmon_sc *sc = syscall_entry(nr, pid_tgid);
    if (!sc)
        return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    struct arg_regs r;
    if (bpf_probe_read_kernel(&r, sizeof(r), &regs->r10) != 0)
        __builtin_memset(&r, 0, sizeof(r));
    struct pending p = {.args = {r.di, r.si, r.dx, r.r10, r.r8, r.r9}};
    return emit_enter(ctx, nr, sc, &p, pid_tgid);
}

int raw_exit(struct bpf_raw_tracepoint_args *ctx)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    long nr = 0;
    bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
    struct sysmon_sc *sc = syscall_entry(nr, pid_tgid);
    if (!sc)
        return 0;
    return emit_exit(ctx, nr, sc, (s64)ctx->args[1], pid_tgid);
}

/* The records of syscalls:sys_enter_NAME / sys_exit_NAME (tracefs format files): the syscall's
 * declared arguments follow the number, 8 bytes each; reads stop at `nargs` (beyond them lies
 * whatever the trace buffer held before). */
struct tp_sys_enter {
    u64 common;
    s32 nr;
    u32 pad;
    u64 args[6];
};

struct tp_sys_exit {
    u64 common;
    s32 nr;
    u32 pad;
    s64 ret;
};

int tp_enter(struct tp_sys_enter *ctx)
{
    long nr = ctx->nr;
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct sysmon_sc *sc = syscall_entry(nr, pid_tgid);
    if (!sc)
        return 0;
    struct pending p = {};
    /* A read through the helper: the kernel refuses to attach a program whose direct context reads
     * reach past the smallest record (a syscall with fewer arguments). */
    u32 n = sc->nargs;
    if (n > 6)
        n = 6;
    asm volatile("" : "+r"(n));
    n &= 7;
    if (n > 0)
        bpf_probe_read_kernel(p.args, n * sizeof(u64), (void *)((u64)ctx + offsetof(struct tp_sys_enter, args)));
    return emit_enter(ctx, nr, sc, &p, pid_tgid);
}

int tp_exit(struct tp_sys_exit *ctx)
{
    long nr = ctx->nr;
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct sysmon_sc *sc = syscall_entry(nr, pid_tgid);
    return sc ? emit_exit(ctx, nr, sc, ctx->ret, pid_tgid) : 0;
}

/* On sched:sched_process_exit (a raw tracepoint), attached by loader.py. */
int proc_exit(struct bpf_raw_tracepoint_args *ctx)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if ((pid_tgid >> 32) == SELF_PID || !in_shard())
        return 0;
#ifndef HAVE_TASK_STORAGE
    u32 tid = (u32)pid_tgid;
    pending_map.delete(&tid); /* a thread that dies in a syscall (exit_group) leaves its enter args */
#endif
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    int code = 0;
    read_member(&code, sizeof(code), task, struct task_struct, exit_code);
    struct sysmon_hdr *h = (struct sysmon_hdr *)s->buf;
    fill_header(h, SYSMON_PROCEXIT_NR, 0, code, pid_tgid);
    __builtin_memset(h->args, 0, sizeof(h->args));
    h->nblobs = 0;
    submit(ctx, s, sizeof(struct sysmon_hdr));
    return 0;
}
