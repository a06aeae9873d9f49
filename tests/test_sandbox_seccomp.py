"""The sandbox's seccomp filter (sandbox/seccomp.py): its program run by a small classic-BPF interpreter
for both architectures. Installed by a real bwrap on this kernel: tests/test_sandbox_seccomp_kernel.py."""

import errno
import os
import platform
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from sandbox import seccomp
from sandbox.seccomp import (
    DENIED,
    SYSCALLS,
    SeccompUnavailableError,
    filter_program,
    program_fd,
)

ALLOW = seccomp.SECCOMP_RET_ALLOW
EPERM = seccomp.SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
KILL = seccomp.SECCOMP_RET_KILL_PROCESS
ARCHES = ("x86_64", "aarch64")
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_ARM = 0x40000028
SIGCHLD = 17
FORK_FLAGS = 0x01200000 | SIGCHLD  # glibc's fork: CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID
VFORK_FLAGS = 0x00004100 | SIGCHLD  # CLONE_VM | CLONE_VFORK
THREAD_FLAGS = 0x003D0F00  # glibc's pthread_create: VM FS FILES SIGHAND THREAD SYSVSEM SETTLS ...
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}


# --- A classic BPF interpreter: only what a seccomp filter of this module may contain.


def run_filter(program: bytes, nr: int, args: Sequence[int] = (), arch: int | None = None) -> int:
    """The verdict (SECCOMP_RET_*) of `program` for system call `nr` with `args` under `arch` (the
    program's own by default), as the kernel computes it over a struct seccomp_data."""
    assert program and len(program) % 8 == 0
    insns = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    if arch is None:
        arch = struct.unpack("<I", program[8 + 4 : 8 + 8])[0]  # the k of the first JEQ: the arch
    full = [*args, *[0] * (6 - len(args))]
    data = struct.pack("<iIQ6Q", nr if nr < 1 << 31 else nr - (1 << 32), arch, 0, *full)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            assert k % 4 == 0 and k + 4 <= len(data), f"load out of seccomp_data at {pc}"
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        elif code == 0x05:  # BPF_JMP | BPF_JA
            pc += 1 + k
        elif code in (0x15, 0x35, 0x45):  # BPF_JMP | BPF_JEQ / BPF_JGE / BPF_JSET, BPF_K
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
        else:
            raise AssertionError(f"instruction {code:#x} at {pc} is not one this interpreter knows")
        assert pc < len(insns), "jumped past the end of the program"


def test_programs_are_well_formed() -> None:
    for arch in ARCHES:
        program = filter_program(arch)
        insns = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
        assert 0 < len(insns) <= 4096
        for pc, (code, jt, jf, _) in enumerate(insns):
            assert code in (0x20, 0x06, 0x15, 0x35, 0x45), (arch, pc, code)
            if code in (0x15, 0x35, 0x45):
                assert pc + 1 + max(jt, jf) < len(insns), (arch, pc)
        assert insns[-1][0] == 0x06  # every path ends in a return
        # The arch is checked before anything else is read.
        assert insns[0] == (0x20, 0, 0, 4) and insns[1][0] == 0x15 and insns[2] == (0x06, 0, 0, KILL)


def test_default_arch_is_the_machine_and_others_are_refused() -> None:
    if platform.machine() in ARCHES:
        assert filter_program() == filter_program(platform.machine())
    for arch in ("riscv64", "armv7l", "i686", "ppc64le", "arm64"):
        with pytest.raises(SeccompUnavailableError, match=f"architecture '{arch}'"):
            filter_program(arch)


def test_denied_names_every_call_and_both_tables_have_them() -> None:
    for name in seccomp.DENIED_ALWAYS:
        assert name in DENIED
        assert all(name in SYSCALLS[arch] for arch in ARCHES), name
    assert len(set(seccomp.DENIED_ALWAYS)) == len(seccomp.DENIED_ALWAYS)
    assert any("clone with a CLONE_NEW" in d for d in DENIED)
    assert any(d.startswith("clone3") for d in DENIED)
    assert "ioctl TIOCSTI" in DENIED and "ioctl TIOCLINUX" in DENIED


def test_numbers_match_the_installed_headers() -> None:
    """x86_64's from asm/unistd_64.h, aarch64's from the asm-generic table, where this machine has
    them (open_tree_attr, 467, is newer than most installed headers)."""
    import re

    headers = {
        "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        "aarch64": Path("/usr/include/asm-generic/unistd.h"),
    }
    checked = 0
    for arch, header in headers.items():
        if not header.exists():
            continue
        table: dict[str, int] = {}
        for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text()):
            table.setdefault(m.group(1), int(m.group(2)))
        for name, nr in SYSCALLS[arch].items():
            if name in table:
                assert table[name] == nr, (arch, name, nr, table[name])
                checked += 1
    if not checked:
        pytest.skip("no kernel headers installed to check the numbers against")


def verdict_table(arch: str) -> list[tuple[str, int, tuple[int, ...], int]]:
    """(what, nr, args, verdict) that the program of `arch` must give."""
    nr = SYSCALLS[arch]
    rows: list[tuple[str, int, tuple[int, ...], int]] = []
    for name in seccomp.DENIED_ALWAYS:
        rows.append((name, nr[name], (), EPERM))
        rows.append((f"{name} with arguments", nr[name], (3, 0x5412, 1 << 40, 7, 8, 9), EPERM))
    for flag, value in NAMESPACE_FLAGS.items():
        rows.append((f"clone {flag}", nr["clone"], (value | SIGCHLD,), EPERM))
        rows.append((f"clone {flag} with a high bit", nr["clone"], (value | SIGCHLD | 1 << 40,), EPERM))
    rows += [
        ("clone CLONE_NEWUSER|CLONE_NEWNS", nr["clone"], (0x10020000 | SIGCHLD,), EPERM),
        ("clone with every flag", nr["clone"], (0xFFFFFFFFFFFFFFFF,), EPERM),
        ("clone3", nr["clone3"], (0x7FFF0000, 88), ENOSYS),
        ("clone SIGCHLD", nr["clone"], (SIGCHLD,), ALLOW),
        ("clone as glibc's fork", nr["clone"], (FORK_FLAGS, 0, 0, 0, 0), ALLOW),
        ("clone as vfork/posix_spawn", nr["clone"], (VFORK_FLAGS, 0x7FFF0000), ALLOW),
        ("clone as pthread_create", nr["clone"], (THREAD_FLAGS, 0x7FFF0000, 1, 2, 3), ALLOW),
        # The kernel drops clone's high 32 bits: CLONE_NEWUSER up there is no namespace.
        ("clone CLONE_NEWUSER << 32", nr["clone"], (0x10000000 << 32 | SIGCHLD,), ALLOW),
        ("read", nr["read"], (0, 0x1000, 4096), ALLOW),
        ("write", nr["write"], (1, 0x1000, 4096), ALLOW),
        ("openat", nr["openat"], (0xFFFFFF9C, 0x1000, 0o2000000), ALLOW),
        ("mmap", nr["mmap"], (0, 4096, 7, 0x22, 0xFFFFFFFF, 0), ALLOW),
        ("execve", nr["execve"], (0x1000, 0x2000, 0x3000), ALLOW),
        ("ioctl TIOCSTI", nr["ioctl"], (0, 0x5412, 0x1000), EPERM),
        ("ioctl TIOCSTI with a high bit", nr["ioctl"], (0, 1 << 32 | 0x5412), EPERM),
        ("ioctl TIOCLINUX", nr["ioctl"], (0, 0x541C), EPERM),
        ("ioctl TCGETS", nr["ioctl"], (0, 0x5401, 0x1000), ALLOW),
        ("ioctl FIONREAD", nr["ioctl"], (3, 0x541B), ALLOW),
        ("ioctl of a GPU driver", nr["ioctl"], (5, 0xC020462A, 0x7FFF0000), ALLOW),
        ("ioctl with 0x5412 as its third argument", nr["ioctl"], (0, 0x5401, 0x5412), ALLOW),
        ("personality PER_LINUX", nr["personality"], (0,), ALLOW),
        ("personality PER_LINUX32", nr["personality"], (8,), ALLOW),
        ("personality UNAME26", nr["personality"], (0x20000,), ALLOW),
        ("personality UNAME26|PER_LINUX32", nr["personality"], (0x20008,), ALLOW),
        ("personality query", nr["personality"], (0xFFFFFFFF,), ALLOW),
        ("personality query as a 64-bit -1", nr["personality"], (0xFFFFFFFFFFFFFFFF,), ALLOW),
        ("personality ADDR_NO_RANDOMIZE", nr["personality"], (0x0040000,), EPERM),
        ("personality READ_IMPLIES_EXEC", nr["personality"], (0x0400000,), EPERM),
        ("a number beyond every table", 1000, (), ALLOW),
    ]
    if arch == "x86_64":
        rows += [
            ("fork", nr["fork"], (), ALLOW),
            ("vfork", nr["vfork"], (), ALLOW),
            ("x32 read", 0x40000000, (), ENOSYS),
            ("x32 unshare", 0x40000000 | nr["unshare"], (), ENOSYS),
            ("x32 clone", 0x40000000 | nr["clone"], (SIGCHLD,), ENOSYS),
            ("syscall(-1)", 0xFFFFFFFF, (), ENOSYS),
        ]
    else:
        rows.append(("syscall(-1)", 0xFFFFFFFF, (), ALLOW))  # the kernel answers ENOSYS itself
    return rows


@pytest.mark.parametrize("arch", ARCHES)
def test_verdicts(arch: str) -> None:
    program = filter_program(arch)
    wrong = [
        (what, hex(got), hex(want))
        for what, nr, args, want in verdict_table(arch)
        if (got := run_filter(program, nr, args)) != want
    ]
    assert not wrong


@pytest.mark.parametrize("arch", ARCHES)
def test_every_other_number_is_allowed(arch: str) -> None:
    """Across the whole table (and past it), only the denied numbers are: a wrong number in the table
    would deny something else, which this catches where it hits a call agent code makes."""
    program = filter_program(arch)
    nr = SYSCALLS[arch]
    denied = {nr[name] for name in seccomp.DENIED_ALWAYS}
    for number in range(600):
        want = EPERM if number in denied else ENOSYS if number == nr["clone3"] else ALLOW
        assert run_filter(program, number) == want, (arch, number)


@pytest.mark.parametrize("arch", ARCHES)
def test_foreign_arch_is_killed(arch: str) -> None:
    program = filter_program(arch)
    others = {AUDIT_ARCH_I386, AUDIT_ARCH_ARM, *seccomp.AUDIT_ARCH.values()}
    others.discard(seccomp.AUDIT_ARCH[arch])
    for other in others:
        for number in (0, 1, 20, SYSCALLS[arch]["read"], SYSCALLS[arch]["unshare"]):
            assert run_filter(program, number, (), arch=other) == KILL, (arch, hex(other), number)


def test_program_fd_reads_back_the_program() -> None:
    fd = program_fd()
    try:
        assert os.get_inheritable(fd)
        data = b""
        while chunk := os.read(fd, 4096):
            data += chunk
    finally:
        os.close(fd)
    assert data == filter_program()
