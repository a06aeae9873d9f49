"""A seccomp filter for the sandboxes: the system calls agent code never needs, refused by the kernel.

`filter_program()` is a classic BPF program (an array of `struct sock_filter`, built here with
`struct`, no libseccomp) for `bwrap --seccomp FD`: bwrap reads it from the descriptor and installs it
as the last step before it runs the sandboxed command, after it has made the sandbox's namespaces
and mounts and set no_new_privs (which an unprivileged process needs to install a filter at all).
So nothing bwrap itself does is filtered, and everything the command and its descendants do is:
a filter is inherited across fork, clone and execve and can never be removed, only added to.

It denies (`DENIED`), with EPERM unless said otherwise:
- New namespaces: `unshare`, `setns`, and `clone` with any CLONE_NEW* flag (user, mount, network,
  pid, ipc, uts, cgroup, time). A user namespace is where an unprivileged process gets back every
  capability (over the new namespace) and with it the kernel's largest attack surface; the others
  need one, or rearrange what the sandbox was built to show. `clone3` fails with ENOSYS: its flags
  are in memory, out of a filter's reach, and glibc falls back to `clone` on ENOSYS (Docker's way).
- Mounting and changing root: `mount`, `umount2`, `pivot_root`, `chroot` and the new mount API
  (`fsopen`, `fsconfig`, `fsmount`, `fspick`, `move_mount`, `open_tree`, `open_tree_attr`,
  `mount_setattr`).
- Other processes' memory: `ptrace`, `process_vm_readv`, `process_vm_writev` (so no strace, gdb or
  py-spy inside).
- Kernel attack surface no training script uses: `bpf`, `perf_event_open`, `userfaultfd`, the key
  management calls (`keyctl`, `add_key`, `request_key`), `open_by_handle_at` and
  `name_to_handle_at` (file handles reach files by inode, past the mounts).
- What only an administrator does: kernel modules (`init_module`, `finit_module`,
  `delete_module`), `kexec_load`, `kexec_file_load`, `reboot`, `swapon`, `swapoff`, `acct`,
  `quotactl`, `quotactl_fd`, `syslog` (the kernel log), the clock (`settimeofday`,
  `clock_settime`, `adjtimex`, `clock_adjtime`).
- `personality` except the values Docker allows (the default persona, PER_LINUX32, UNAME26, both,
  and the 0xffffffff query): no READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE.
- `ioctl` TIOCSTI (pushing input into a terminal) and TIOCLINUX.
Most of these already fail without a capability, which a sandboxed process does not have; the
filter is the second wall, and the one that holds where a capability check has a bug or a user
namespace would grant one. Everything else is allowed: threads, fork, vfork, exec, multiprocessing,
shared memory, CUDA's ioctls.

Arguments the kernel reads as 32-bit (`ioctl`'s request, `personality`'s persona, `clone`'s
CLONE_NEW* flags, which are all in the low word of its 64-bit argument and whose high word the
kernel drops) are compared on their low 32 bits only, so setting a high bit does not get past.

The program first checks `seccomp_data.arch`: a system call made under another ABI than the
machine's (i386 through `int 0x80` on x86_64) would be numbered from another table, so it kills the
process. On x86_64 the x32 ABI (numbers with bit 30 set) fails with ENOSYS, as on a kernel without
x32 support. Machines other than x86_64 and aarch64 raise `SeccompUnavailableError`.

    import os, subprocess
    r, w = os.pipe()
    os.write(w, filter_program())  # a few hundred bytes: fits a pipe's buffer
    os.close(w)
    subprocess.run(["bwrap", ..., "--seccomp", str(r), "--", ...], pass_fds=(r,))
    os.close(r)

bwrap reads the descriptor to its end, so each bwrap needs a descriptor of its own
(`program_fd()` makes one).
"""

import errno
import os
import platform
import struct

__all__ = ["DENIED", "SeccompUnavailableError", "filter_program", "program_fd"]


class SeccompUnavailableError(RuntimeError):
    """No filter for this machine's architecture."""


# Classic BPF (linux/filter.h, linux/bpf_common.h).
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_ABS = 0x00, 0x20
BPF_JA, BPF_JEQ, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x30, 0x40
BPF_K = 0x00
BPF_MAXINSNS = 4096
# A struct sock_filter: u16 code, u8 jt, u8 jf, u32 k, in the machine's byte order.
INSN = struct.Struct("=HBBI")

# linux/seccomp.h
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
# struct seccomp_data {int nr; u32 arch; u64 instruction_pointer; u64 args[6];}: offsets of the words
# loaded. Both machines are little-endian, so an argument's low 32 bits come first.
OFF_NR = 0
OFF_ARCH = 4


def _arg_low(index: int) -> int:
    return 16 + 8 * index


# linux/audit.h: EM_X86_64 / EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# linux/sched.h. CLONE_NEWTIME (0x80) lies in clone()'s exit-signal byte and can only be asked for
# through clone3 or unshare (both refused); no valid exit signal has that bit, so masking it refuses
# nothing legitimate.
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEW_ANY = (
    CLONE_NEWTIME
    | CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
)
# asm-generic/ioctls.h (x86_64 and aarch64 both use the generic values)
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
DENIED_IOCTLS = (TIOCSTI, TIOCLINUX)
# The personas Docker's default profile allows: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32,
# and 0xffffffff, which only asks for the current one.
ALLOWED_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# System call numbers: x86_64 from asm/unistd_64.h, aarch64 from asm-generic/unistd.h (its table).
# Since 424 (pidfd_send_signal) new calls have one number on every architecture.
# From 424 on, every architecture numbers new system calls alike.
_UNIFIED = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "open_tree_attr": 467,
}
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "read": 0,
        "write": 1,
        "mmap": 9,
        "ioctl": 16,
        "clone": 56,
        "fork": 57,
        "vfork": 58,
        "execve": 59,
        "ptrace": 101,
        "syslog": 103,
        "personality": 135,
        "pivot_root": 155,
        "adjtimex": 159,
        "chroot": 161,
        "acct": 163,
        "settimeofday": 164,
        "mount": 165,
        "umount2": 166,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "init_module": 175,
        "delete_module": 176,
        "quotactl": 179,
        "clock_settime": 227,
        "kexec_load": 246,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "openat": 257,
        "unshare": 272,
        "perf_event_open": 298,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "clock_adjtime": 305,
        "setns": 308,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "finit_module": 313,
        "kexec_file_load": 320,
        "bpf": 321,
        "userfaultfd": 323,
        **_UNIFIED,
    },
    "aarch64": {
        "read": 63,
        "write": 64,
        "mmap": 222,
        "ioctl": 29,
        "clone": 220,
        "execve": 221,
        "ptrace": 117,
        "syslog": 116,
        "personality": 92,
        "pivot_root": 41,
        "adjtimex": 171,
        "chroot": 51,
        "acct": 89,
        "settimeofday": 170,
        "mount": 40,
        "umount2": 39,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "init_module": 105,
        "delete_module": 106,
        "quotactl": 60,
        "clock_settime": 112,
        "kexec_load": 104,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "openat": 56,
        "unshare": 97,
        "perf_event_open": 241,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "clock_adjtime": 266,
        "setns": 268,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "finit_module": 273,
        "kexec_file_load": 294,
        "bpf": 280,
        "userfaultfd": 282,
        **_UNIFIED,
    },
}
AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}

# Refused whatever their arguments, with EPERM.
DENIED_ALWAYS = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "name_to_handle_at",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
)
DENIED: tuple[str, ...] = (
    *DENIED_ALWAYS,
    "clone with a CLONE_NEW* flag",
    "clone3 (ENOSYS, so that glibc falls back to clone)",
    "personality other than the default personas",
    "ioctl TIOCSTI",
    "ioctl TIOCLINUX",
    "system calls of another ABI (i386 on x86_64: the process is killed; x32: ENOSYS)",
)


class _Assembler:
    """Instructions with symbolic jump targets, resolved to classic BPF's forward offsets."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        assert name not in self.labels, name
        self.labels[name] = len(self.code)

    def load(self, offset: int) -> None:
        self.code.append((BPF_LD | BPF_W | BPF_ABS, 0, 0, offset))

    def jump(self, op: int, k: int, jt: str | int, jf: str | int) -> None:
        """A conditional jump on the accumulator against `k`: to `jt` if true, `jf` if false; each a
        label or 0 for the next instruction."""
        self.code.append((BPF_JMP | op | BPF_K, jt, jf, k))

    def ret(self, value: int) -> None:
        self.code.append((BPF_RET | BPF_K, 0, 0, value))

    def assemble(self) -> bytes:
        out = bytearray()
        for pc, (code, jt, jf, k) in enumerate(self.code):
            offsets = [self._offset(pc, target) for target in (jt, jf)]
            out += INSN.pack(code, offsets[0], offsets[1], k)
        if len(self.code) > BPF_MAXINSNS:
            raise ValueError(f"{len(self.code)} instructions, more than BPF_MAXINSNS")
        return bytes(out)

    def _offset(self, pc: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - pc - 1
        if not 0 <= offset <= 0xFF:  # jt and jf are u8, and jumps only go forward
            raise ValueError(f"jump from {pc} to {target!r} out of range ({offset})")
        return offset


def filter_program(arch: str | None = None) -> bytes:
    """The raw `struct sock_filter` array for `bwrap --seccomp FD`, for `arch` as `platform.machine()`
    names it (x86_64, aarch64; the machine's own by default)."""
    arch = arch or platform.machine()
    if arch not in SYSCALLS:
        raise SeccompUnavailableError(
            f"no seccomp filter for architecture {arch!r} (only for {', '.join(SYSCALLS)})"
        )
    nr = SYSCALLS[arch]
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    enosys = SECCOMP_RET_ERRNO | errno.ENOSYS
    a = _Assembler()
    a.load(OFF_ARCH)
    a.jump(BPF_JEQ, AUDIT_ARCH[arch], "native", 0)
    a.ret(SECCOMP_RET_KILL_PROCESS)
    a.label("native")
    a.load(OFF_NR)
    if arch == "x86_64":
        a.jump(BPF_JGE, X32_SYSCALL_BIT, "enosys", 0)
    # The calls that look at an argument first: ioctl is frequent (CUDA's driver calls it all the
    # time), and what takes the filter's whole list is cached by the kernel (5.11+) as always allowed.
    a.jump(BPF_JEQ, nr["ioctl"], "ioctl", 0)
    a.jump(BPF_JEQ, nr["clone"], "clone", 0)
    a.jump(BPF_JEQ, nr["clone3"], "enosys", 0)
    a.jump(BPF_JEQ, nr["personality"], "personality", 0)
    for name in DENIED_ALWAYS:
        a.jump(BPF_JEQ, nr[name], "eperm", 0)
    a.ret(SECCOMP_RET_ALLOW)
    a.label("ioctl")  # the request is an unsigned int: its low 32 bits are all the kernel reads
    a.load(_arg_low(1))
    for request in DENIED_IOCTLS:
        a.jump(BPF_JEQ, request, "eperm", 0)
    a.ret(SECCOMP_RET_ALLOW)
    a.label("clone")  # the kernel keeps only the low 32 bits of the flags, where CLONE_NEW* are
    a.load(_arg_low(0))
    a.jump(BPF_JSET, CLONE_NEW_ANY, "eperm", 0)
    a.ret(SECCOMP_RET_ALLOW)
    a.label("personality")  # an unsigned int too
    a.load(_arg_low(0))
    for persona in ALLOWED_PERSONAS:
        a.jump(BPF_JEQ, persona, "allow", 0)
    a.label("eperm")
    a.ret(eperm)
    a.label("enosys")
    a.ret(enosys)
    a.label("allow")
    a.ret(SECCOMP_RET_ALLOW)
    return a.assemble()


def program_fd(arch: str | None = None) -> int:
    """A fresh descriptor to read `filter_program(arch)` from, for one `bwrap --seccomp FD`: the read
    end of a pipe that holds the program, its write end closed. Inheritable, so that `pass_fds` (or
    a plain fork and exec) hands it to bwrap; the caller closes it once bwrap has started."""
    program = filter_program(arch)
    read, write = os.pipe()
    try:
        # Below PIPE_BUF (4096 bytes): one write, whole, that never blocks.
        if len(program) > 4096 or os.write(write, program) != len(program):
            raise OSError(f"could not write the {len(program)}-byte seccomp program to a pipe")
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    os.set_inheritable(read, True)
    return read
