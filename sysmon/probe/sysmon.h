/* Shared layout of the probe's records and tables. Mirrored in sysmon/events/record.py (the record
 * header), events/model.py (blob kinds), events/schema.py (specs) and probe/loader.py (tables);
 * tests/unit/test_probe_header.py checks every #define and the header struct against them. */
#ifndef SYSMON_H
#define SYSMON_H

#define SYSMON_MAX_SYSCALLS 512
#define SYSMON_SPECS 4
#define SYSMON_PROCEXIT_NR 1024

/* Record header: 120 bytes, followed by `nblobs` blobs of (u16 len, u8 kind, u8 slot, data). */
struct sysmon_hdr {
    u64 ts_ns;      /* CLOCK_MONOTONIC */
    u64 args[6];    /* raw syscall args; exits carry their enter's */
    s64 ret;        /* exit: return value; procexit: exit code */
    u32 tid;
    u32 pid;        /* tgid */
    u32 ppid;
    u32 uid;
    u32 gid;
    u16 nr;         /* syscall number, or SYSMON_PROCEXIT_NR */
    u8 dir;         /* 0 enter, 1 exit */
    u8 nblobs;
    u16 cpu;
    u16 size;       /* whole record, header included */
    u32 flags;      /* SYSMON_F_* */
    char comm[16];
    u64 cgroup_id;  /* the task's cgroup (v2 hierarchy): which container it runs in */
};

#define SYSMON_F_NO_ENTER 1 /* exit without a recorded enter: args are zero */

struct sysmon_blob_hdr {
    u16 len;
    u8 kind;
    u8 slot;
};

/* Blob kinds emitted (sysmon/events/model.py BLOB_*). */
#define SYSMON_BLOB_STR 1
#define SYSMON_BLOB_BUF 2
#define SYSMON_BLOB_SOCKADDR 3
#define SYSMON_BLOB_TUPLE 4
#define SYSMON_BLOB_ARGS 5
#define SYSMON_BLOB_FDS 7

/* Capture spec kinds: how to fetch one piece of a syscall's data (sysmon/probe/loader.py SPEC_*). */
#define SPEC_NONE 0
#define SPEC_STR 1      /* user string at args[slot] */
#define SPEC_BUF 2      /* user buffer at args[slot], length aux (arg index, or 7 = ret), cut to snaplen */
#define SPEC_SOCKADDR 3 /* user sockaddr at args[slot], length args[aux], or *(int *)args[aux & 7] if aux & 0x10 */
#define SPEC_TUPLE 4    /* kernel socket of fd args[slot] (7 = ret) */
#define SPEC_ARGS 5     /* argv of the image execve loaded (from the new user stack) */
#define SPEC_IOVEC 7    /* iovec array at args[slot], count args[aux], total ret */
#define SPEC_MSGHDR 8   /* user_msghdr at args[slot]: name -> SOCKADDR, iov -> BUF (total ret) */
#define SPEC_FDS 9      /* int[2] at args[slot] */
#define SPEC_FIXED 10   /* aux bytes at args[slot] -> BUF */

#define SPEC_AT_ENTER 1
#define SPEC_AT_EXIT 2

#define SLOT_RET 7

struct sysmon_spec {
    u8 kind;
    u8 when;
    u8 slot;
    u8 aux;
};

struct sysmon_sc {
    struct sysmon_spec spec[SYSMON_SPECS];
    u16 enabled; /* SC_* bits */
    u8 nargs;    /* declared arguments (the syscalls:sys_enter_NAME record holds these only) */
    u8 pad;
};

#define SC_ENABLED 1 /* deliver this syscall */
#define SC_STATE 2   /* it keeps state: deliver it whatever the identity filters say */

/* sysmon_config[1]: which identity filters are in force. */
#define IDF_PIDS 1
#define IDF_TIDS 2
#define IDF_COMMS 4
#define IDF_UIDS 8
#define IDF_CGROUPS 16 /* cgroup_deny holds cgroups outside a container selection */

/* Kernel socket tuple (SYSMON_BLOB_TUPLE), 40 bytes; ports in host order. */
struct sysmon_tuple {
    u16 family;
    u16 lport;
    u16 rport;
    u16 proto;
    u8 laddr[16];
    u8 raddr[16];
};

/* Per-CPU counters. */
#define CNT_SENT 0
#define CNT_DROPPED 1
#define CNT_READ_FAILED 2
#define CNT_TGID_MISMATCH 3
#define CNT_MAX 4

#endif
