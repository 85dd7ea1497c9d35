#!/usr/bin/env python3
"""`make bench`: kasm and its VMM against a seed-style C pipeline, as ratios measured in one run.

Timings on a shared, nested-KVM machine are noisy, so every figure is a median of repeated runs
and every target is a ratio against an anchor measured in the same run (the `--help` row is the
one absolute figure). Prints one table and writes it to bench/results.json. `--smoke` uses tiny
sizes: it only checks that the benchmark still works (CI), its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = BENCH / "build"
SEED_SRC = BENCH / "seed_vmm.c"
SEED_VMM = BUILD / "seed_vmm"
INCLUDE = ROOT / "kasm" / "include"
EXAMPLE = ROOT / "examples" / "multiplication.S"
BUILD_EXAMPLE = ROOT / "examples" / "hctest.S"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import backends  # noqa: E402
import interrupts  # noqa: E402
import tracing  # noqa: E402
from gen import generate  # noqa: E402

LOOP_SOURCE = """\
#include <hypercall.h>
.code16
.globl _start
_start:
    mov ${n}, %ecx
again:
    hc_putchar $'.'
    dec %ecx
    jnz again
    hc_exit $0
"""

# The SMP row's guest: the vCPUs share N hypercalls (HC_CPU_ID's BX is the number of vCPUs).
SMP_SOURCE = """\
#include <hypercall.h>
.code16
.globl _start
_start:
    hc_cpu_id
    movzwl %bx, %ebx
    movl ${n}, %eax
    xorl %edx, %edx
    divl %ebx
    movl %eax, %ecx
again:
    hc_putchar $'.'
    dec %ecx
    jnz again
    hlt
"""

# Two single-vCPU VMs in two processes at once: what this host gives two KVM_RUN loops that
# share nothing (no GIL, no lock), to read the SMP row against.
PAIR_CHILD = """\
import os, sys, vmm
r = vmm.run_flat(open(sys.argv[1], "rb").read(), output=open(os.devnull, "wb"), timeout=300)
print(r.stats.guest_wall_s)
"""

# The QEMU row's guest: a multiboot ELF for QEMU; the same source through `kasm run`.
MULTIBOOT_SOURCE = """\
.code32
.text
.globl _start
_start:
    jmp start32
    .align 4
multiboot:
    .long 0x1BADB002
    .long 0
    .long -0x1BADB002
start32:
    mov $message, %esi
print:
    lodsb
    test %al, %al
    jz done
    mov $0x3f8, %dx
    out %al, (%dx)
    jmp print
done:
    mov $0xf4, %dx          # isa-debug-exit under QEMU; an unowned port (ignored) under kasm
    mov $0, %al
    out %al, (%dx)
    hlt
.section .rodata
message:
    .asciz "Hello, KVM!\\n"
"""


@dataclass
class Row:
    """One line of the table; `passed` is None for a row that was skipped or has no target."""

    id: str
    figure: str
    ours: str
    anchor: str
    ratio: float | None
    target: str
    passed: bool | None
    values: dict[str, object] = field(default_factory=dict)
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: "skip"}[self.passed]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def ms(s: float) -> str:
    return f"{s * 1e3:.1f} ms"


def machine() -> dict[str, str]:
    """CPU model, kernel and which KVM this is (PVM emulates ring-0 guest code)."""
    cpu = "?"
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "?":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    modules = [m for m in ("kvm_pvm", "kvm_intel", "kvm_amd") if Path(f"/sys/module/{m}").exists()]
    if modules:
        flavour = modules[0]
    elif "vmx" in flags or "svm" in flags:
        flavour = "kvm (vmx)" if "vmx" in flags else "kvm (svm)"
    else:
        flavour = "unknown"
    if "hypervisor" in flags:
        flavour += ", nested (host is itself a guest)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        flavour += "; /dev/kvm not usable"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "kvm": flavour,
        "python": platform.python_version(),
    }


def sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, **kw)  # type: ignore[call-overload]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one command, stdout discarded (as `> /dev/null`)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return time.perf_counter() - t0


def build_seed_vmm() -> None:
    if SEED_VMM.exists() and SEED_VMM.stat().st_mtime >= SEED_SRC.stat().st_mtime:
        return
    BUILD.mkdir(parents=True, exist_ok=True)
    sh(["gcc", "-O2", "-Wall", "-o", str(SEED_VMM), str(SEED_SRC)])


def gnu_build(source: Path, out: Path, *, cpp: bool) -> list[list[str]]:
    """The seed's toolchain steps for `source` → flat `out` (loaded at 0x1000)."""
    stem = out.with_suffix("")
    steps = []
    asm = source
    if cpp:
        asm = stem.with_suffix(".i.s")
        steps.append(["cpp", "-x", "assembler-with-cpp", "-I", str(INCLUDE), str(source),
                      "-o", str(asm)])
    steps += [
        ["as", "--32", str(asm), "-o", f"{stem}.o"],
        ["ld", "-m", "elf_i386", "-N", "-Ttext", "0x1000", "-e", "_start", "--no-warn-rwx-segments",
         f"{stem}.o", "-o", f"{stem}.elf"],
        ["objcopy", "-O", "binary", f"{stem}.elf", str(out)],
    ]
    return steps


def seed_exit_cost(image: Path) -> tuple[float, int]:
    """(µs per exit, exits) as the C VMM times its own run loop."""
    p = subprocess.run([str(SEED_VMM), str(image)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=True)
    m = re.search(r"exits=(\d+) loop_us=[\d.]+ us_per_exit=([\d.]+)", p.stderr)
    if not m:
        raise RuntimeError(f"seed_vmm said: {p.stderr!r}")
    return float(m.group(2)), int(m.group(1))


def kasm_cmd() -> list[str]:
    script = Path(sys.executable).parent / "kasm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kasm"]


# --- rows -------------------------------------------------------------------------------------
def row_exit_cost(work: Path, exits: int, repeat: int) -> Row:
    import vmm
    from kasm.build import build_file

    src = work / "loop.S"
    src.write_text(LOOP_SOURCE.format(n=exits))
    image = build_file(src).image
    data = image.flat()
    (work / "loop.bin").write_bytes(data)
    ours, seed = [], []
    with open(os.devnull, "wb") as devnull:
        for _ in range(repeat):  # interleaved, so drifting machine load hits both alike
            r = vmm.run_flat(data, base=0x1000, entry=image.entry, mode=vmm.BootMode.REAL,
                             output=devnull, timeout=120)
            if r.end is not vmm.RunEnd.HC_EXIT or r.stats.total_exits != exits + 1:
                raise RuntimeError(f"exit-cost guest ended {r.end} after {r.stats.total_exits}")
            ours.append(r.stats.us_per_exit)
            us, n = seed_exit_cost(work / "loop.bin")
            if n != exits + 1:
                raise RuntimeError(f"seed_vmm counted {n} exits, expected {exits + 1}")
            seed.append(us)
    o, a = median(ours), median(seed)
    return Row("exit_cost", f"exit cost, hc_putchar x{exits} (us/exit)", f"{o:.2f} us",
               f"{a:.2f} us (C)", o / a, "<= 1.0x", o / a <= 1.0,
               {"ours_us": ours, "anchor_us": seed, "exits": exits + 1})


def rows_backends(work: Path, exits: int, limit: int, repeat: int,
                  env: dict[str, str]) -> list[Row]:
    """The emulator against KVM: exit cost, a compute-bound guest, kasm run end to end."""
    from kasm.build import build_file

    src = work / "loop.S"
    src.write_text(LOOP_SOURCE.format(n=exits))
    image = build_file(src).image
    kvm_us, emu_us, kvm_s, emu_s = [], [], [], []
    for _ in range(repeat):  # interleaved
        for backend, out in (("kvm", kvm_us), ("emu", emu_us)):
            out.append(backends.exit_cost_us(image.flat(), image.entry, exits + 1, backend))
        kvm_s.append(backends.sieve_s("kvm", limit))
        emu_s.append(backends.sieve_s("emu", limit))
    emu_million = backends.sieve_s("emu", 1_000_000)
    k, e = median(kvm_us), median(emu_us)
    ks, es = median(kvm_s), median(emu_s)
    kasm = kasm_cmd()
    run_k = backends.kasm_run_s(kasm, "kvm", env, repeat)
    run_e = backends.kasm_run_s(kasm, "emu", env, repeat)
    return [
        Row("emu_exit_cost", f"emulator exit cost, hc_putchar x{exits}", f"{e:.2f} us",
            f"{k:.2f} us (KVM)", e / k, "<= 0.5x", e / k <= 0.5,
            {"emu_us": emu_us, "kvm_us": kvm_us}),
        Row("emu_sieve", f"sieve.S below {limit:,} (guest time; KVM {ks / es:.0f}x slower)",
            ms(es), f"{ms(ks)} (KVM)", es / ks, "<= 0.02x (>= 50x faster)", es / ks <= 0.02,
            {"emu_s": emu_s, "kvm_s": kvm_s, "emu_1e6_s": emu_million},
            f"below 1,000,000 on emu: {ms(emu_million)}"),
        Row("emu_e2e", "kasm run multiplication.S --backend emu (warm)", ms(run_e),
            f"{ms(run_k)} (--backend kvm)", run_e / run_k, "-", None,
            {"emu_s": run_e, "kvm_s": run_k}),
    ]


def rows_trace(work: Path, instructions: int) -> list[Row]:
    """kasm run --trace's throughput: instructions traced per second to a file."""
    rates = {b: tracing.traced_per_second(work, b, instructions) for b in ("kvm", "emu")}
    return [Row(f"trace_{b}", f"instructions traced per second to a file ({b}), "
                f"{instructions:,} instructions", f"{rate:,.0f}/s", "-", None, "-", None,
                {"per_second": rate, "instructions": instructions})
            for b, rate in rates.items()]


def rows_smp(work: Path, exits: int, repeat: int) -> list[Row]:
    """Two vCPUs sharing `exits` hypercalls against one vCPU doing them all, in one process;
    on KVM, and on the emulator."""
    from kasm.build import build_file

    src = work / "smp.S"
    src.write_text(SMP_SOURCE.format(n=exits))
    data = build_file(src).image.flat()
    full, half = work / "smp.bin", work / "smp_half.bin"
    full.write_bytes(data)
    src.write_text(SMP_SOURCE.format(n=exits // 2))
    half.write_bytes(build_file(src).image.flat())
    one, two, pair, single, emu_one, emu_two = [], [], [], [], [], []
    for _ in range(repeat):  # interleaved, so drifting machine load hits all alike
        for cpus, times in ((1, one), (2, two)):
            times.append(_smp_run(data, cpus, exits, "kvm"))
        single.append(_processes(full, 1))
        pair.append(_processes(half, 2))
        for cpus, times in ((1, emu_one), (2, emu_two)):
            times.append(_smp_run(data, cpus, exits, "emu"))
    o, a = median(two), median(one)
    host = median(pair) / median(single)
    eo, ea = median(emu_two), median(emu_one)
    figure = f"2 vCPUs x {exits // 2} hypercalls vs 1 x {exits}"
    return [Row("smp", figure, ms(o), f"{ms(a)} (1 vCPU)", o / a, "<= 0.6x", o / a <= 0.6,
                {"two_vcpus_s": two, "one_vcpu_s": one, "two_processes_s": pair,
                 "one_process_s": single},
                f"two 1-vCPU VMs in two processes: {host:.2f}x"),
            # the emulator's vCPUs take turns: no parallel speed-up to expect, only the cost
            # of the turns (the block hook, the switches) to show
            Row("emu_smp", f"emulator: {figure}", ms(eo), f"{ms(ea)} (1 vCPU)", eo / ea, "-",
                None, {"two_vcpus_s": emu_two, "one_vcpu_s": emu_one},
                "interleaved: one vCPU at a time")]


def _smp_run(data: bytes, cpus: int, exits: int, backend: str) -> float:
    """The guest wall time of the SMP guest on `cpus` vCPUs of `backend`."""
    import vmm

    with open(os.devnull, "wb") as devnull:
        r = vmm.run_flat(data, cpus=cpus, output=devnull, timeout=300, backend=backend)
    if r.end is not vmm.RunEnd.HLT or r.stats.total_exits != exits + 2 * cpus:
        raise RuntimeError(f"SMP guest on {cpus} {backend} vCPUs ended {r.end} after "
                           f"{r.stats.total_exits} exits")
    return r.stats.guest_wall_s


def _processes(image: Path, count: int) -> float:
    """The guest wall time of `count` processes started together, each running `image` on
    one vCPU (the slowest one's)."""
    procs = [subprocess.Popen([sys.executable, "-c", PAIR_CHILD, str(image)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(count)]
    return max(float(p.communicate()[0]) for p in procs)
def rows_interrupts(env: dict[str, str], idle_s: float, repeat: int) -> list[Row]:
    """The timer's accuracy on each backend, and the host CPU of a guest sleeping in HLT."""
    kasm = kasm_cmd()
    ideal = interrupts.TICKS_IDEAL_S
    ticks = {b: median([interrupts.ticks_s(kasm, b, env) for _ in range(repeat)])
             for b in ("kvm", "emu")}
    idle_repeat = max(1, repeat - 1)
    hlt = interrupts.idle_ms_per_s(kasm, "irq/uart_echo.S", env, idle_s, idle_repeat)
    getchar = interrupts.idle_ms_per_s(kasm, "io/echo.S", env, idle_s, idle_repeat)
    rows = [Row(f"irq_ticks_{b}", f"irq/ticks.S, 10 ticks at 100 Hz, --backend {b}", ms(t),
                f"{ms(ideal)} (10 periods)", t / ideal, "<= 1.05x", t / ideal <= 1.05,
                {"guest_wall_s": t}) for b, t in ticks.items()]
    rows.append(Row("irq_idle", f"CPU a second of a guest asleep in HLT ({idle_s:g} s)",
                    f"{hlt:.1f} ms/s", f"{getchar:.1f} ms/s (blocked in HC_GETCHAR)",
                    hlt / getchar if getchar else None, "<= 20 ms/s (2% of a core)", hlt <= 20,
                    {"hlt_ms_per_s": hlt, "getchar_ms_per_s": getchar}))
    return rows


def rows_end_to_end(work: Path, repeat: int) -> tuple[list[Row], dict[str, object]]:
    kasm = kasm_cmd()
    base_env = {k: v for k, v in os.environ.items() if k != "KASM_NO_CACHE"}
    steps = gnu_build(EXAMPLE, work / "mult.bin", cpp=True)
    seed_run = [str(SEED_VMM), str(work / "mult.bin")]
    warm_env = dict(base_env, XDG_CACHE_HOME=str(work / "cache-warm"))
    cmd = [*kasm, "run", str(EXAMPLE)]

    # Same output from both pipelines, and a primed cache for the warm runs.
    for s in steps:
        sh(s)
    want = sh(seed_run).stdout
    got = subprocess.run(cmd, capture_output=True, env=warm_env)
    if got.returncode != 0 or got.stdout != want:
        raise RuntimeError(f"kasm run output differs from the C pipeline's: {got.stderr!r}")

    seed_t, cold_t, warm_t, help_t = [], [], [], []
    for i in range(repeat):
        t0 = time.perf_counter()
        for s in steps:
            subprocess.run(s, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(seed_run, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seed_t.append(time.perf_counter() - t0)
        cold_env = dict(base_env, XDG_CACHE_HOME=str(work / f"cache-cold-{i}"))
        cold_t.append(timed(cmd, cold_env))
        warm_t.append(timed(cmd, warm_env))
        help_t.append(timed([*kasm, "--help"], base_env))
    a, c, w, h = median(seed_t), median(cold_t), median(warm_t), median(help_t)
    what = "kasm run multiplication.S"
    rows = [
        Row("e2e_cold", f"{what}, first run (cold cache)", ms(c), f"{ms(a)} (as+ld+objcopy+C)",
            c / a, "<= 6x", c / a <= 6, {"ours_s": cold_t, "anchor_s": seed_t}),
        Row("e2e_warm", f"{what}, repeated (warm cache)", ms(w), f"{ms(a)} (as+ld+objcopy+C)",
            w / a, "<= 3x", w / a <= 3, {"ours_s": warm_t, "anchor_s": seed_t}),
        Row("help", "kasm --help", ms(h), "-", None, "< 150 ms", h < 0.150, {"ours_s": help_t}),
    ]
    return rows, {"seed_pipeline_s": a, "warm_env": warm_env}


def row_build(work: Path, repeat: int) -> Row:
    """`kasm build` of a small source, no cache, against cpp+as+ld+objcopy on the same source
    (both write a flat image and an ELF)."""
    src = work / BUILD_EXAMPLE.name
    shutil.copyfile(BUILD_EXAMPLE, src)
    steps = gnu_build(src, work / "gnu-hctest.bin", cpp=True)
    cmd = [*kasm_cmd(), "build", str(src)]
    env = dict(os.environ, KASM_NO_CACHE="1")
    for s in steps:
        sh(s)
    sh(cmd, env=env)
    if src.with_suffix(".bin").read_bytes() != (work / "gnu-hctest.bin").read_bytes():
        raise RuntimeError("kasm build and GNU made different flat images of hctest.S")
    ours, gnu = [], []
    for _ in range(repeat):  # interleaved, so drifting machine load hits both alike
        t0 = time.perf_counter()
        for s in steps:
            subprocess.run(s, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gnu.append(time.perf_counter() - t0)
        ours.append(timed(cmd, env))
    o, a = median(ours), median(gnu)
    return Row("build_small", "kasm build hctest.S (no cache) vs cpp+as+ld+objcopy", ms(o),
               f"{ms(a)} (GNU)", o / a, "<= 3x", o / a <= 3,
               {"ours_s": ours, "anchor_s": gnu})


def rows_scaling(work: Path, sizes: tuple[int, int], repeat: int) -> list[Row]:
    from kasm.build import build_source

    build_source(".code32\nnop\n", "warmup.s")  # keystone import and first use: not scaling
    small, big = sizes
    ours: dict[int, float] = {}
    gnu: dict[int, float] = {}
    same: dict[int, bool] = {}
    for n in (small // 10, small, big):
        src = work / f"gen{n}.s"
        text = generate(n)
        src.write_text(text)
        ts, tg = [], []
        flat = b""
        for _ in range(repeat if n < big else max(1, repeat // 2)):
            t0 = time.perf_counter()
            flat = build_source(src.read_text(), str(src)).image.flat()
            ts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for s in gnu_build(src, work / f"gen{n}.bin", cpp=False):
                subprocess.run(s, check=True, stdout=subprocess.DEVNULL)
            tg.append(time.perf_counter() - t0)
        ours[n], gnu[n] = median(ts), median(tg)
        same[n] = flat == (work / f"gen{n}.bin").read_bytes()
    growth = ours[big] / ours[small]
    values = {"kasm_s": ours, "gnu_s": gnu, "identical_output": same}
    k = lambda n: f"{n // 1000}k" if n >= 1000 else str(n)  # noqa: E731
    return [
        Row("scale_growth", f"kasm build time {k(big)}/{k(small)} lines",
            f"{ours[big]:.3f}/{ours[small]:.3f} s", f"GNU {gnu[big] / gnu[small]:.1f}x",
            growth, f"<= 12x (linear {big // small}x)", growth <= 12, values),
        Row("scale_vs_gnu", f"build {k(big)} lines (kasm vs as+ld+objcopy)", f"{ours[big]:.3f} s",
            f"{gnu[big]:.3f} s (GNU)", ours[big] / gnu[big], "<= 3x", ours[big] / gnu[big] <= 3,
            values, "" if all(same.values()) else "flat images differ from GNU's"),
    ]


def rows_qemu(work: Path, repeat: int) -> list[Row]:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        note = "skipped: qemu-system-x86_64 is not installed"
        return [Row("qemu_warm", "kasm run (warm) vs QEMU microvm", "-", "-", None,
                    "< 1.0x", None, note=note),
                Row("qemu_cold", "kasm run (cold) vs QEMU microvm", "-", "-", None,
                    "<= 1.5x", None, note=note)]
    src = work / "mbhello.S"
    src.write_text(MULTIBOOT_SOURCE)
    s_src = work / "mbhello.s"
    s_src.write_text(MULTIBOOT_SOURCE)
    elf = work / "mbhello.elf"
    sh(["as", "--32", str(s_src), "-o", str(work / "mbhello.o")])
    sh(["ld", "-m", "elf_i386", "-N", "-Ttext", "0x100000", "-e", "_start",
        "--no-warn-rwx-segments", str(work / "mbhello.o"), "-o", str(elf)])
    qcmd = [qemu, "-accel", "kvm", "-M", "microvm", "-nographic", "-nodefaults",
            "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", str(elf)]
    kasm = kasm_cmd()
    base_env = {k: v for k, v in os.environ.items() if k != "KASM_NO_CACHE"}
    warm_env = dict(base_env, XDG_CACHE_HOME=str(work / "cache-qemu"))
    cmd = [*kasm, "run", str(src)]
    subprocess.run(cmd, check=True, capture_output=True, env=warm_env)
    q, cold, warm = [], [], []
    for i in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run(qcmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        q.append(time.perf_counter() - t0)
        if p.returncode != 1 or b"Hello, KVM!" not in p.stdout:  # debug-exit 0 → status 1
            raise RuntimeError(f"QEMU guest: rc {p.returncode}, {p.stdout[-200:]!r}")
        cold.append(timed(cmd, dict(base_env, XDG_CACHE_HOME=str(work / f"cache-qc-{i}"))))
        warm.append(timed(cmd, warm_env))
    a, c, w = median(q), median(cold), median(warm)
    values = {"qemu_s": q, "cold_s": cold, "warm_s": warm}
    return [Row("qemu_warm", "kasm run (warm) vs QEMU microvm", ms(w), f"{ms(a)} (QEMU)",
                w / a, "< 1.0x", w / a < 1.0, values),
            Row("qemu_cold", "kasm run (cold) vs QEMU microvm", ms(c), f"{ms(a)} (QEMU)",
                c / a, "<= 1.5x", c / a <= 1.5, values)]


def warm_path_profile(env: dict[str, str]) -> dict[str, object]:
    """Where a cache-hit `kasm run` spends its imports, and whether heavy modules stayed out."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "kasm", "run", str(EXAMPLE)],
                       capture_output=True, text=True, env=env)
    cumulative: dict[str, int] = {}
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(2)) == 1:  # top-level imports only
            cumulative[m.group(3)] = int(m.group(1))
    loaded = set(re.findall(r"\|\s*(\S+)$", p.stderr, re.M))
    top = sorted(cumulative.items(), key=lambda kv: -kv[1])[:8]
    return {
        "heavy_imports_on_hit": sorted(m for m in ("keystone", "pcpp", "lief") if m in loaded),
        "top_level_imports_ms": {k: round(v / 1e3, 1) for k, v in top},
    }


# --- output -----------------------------------------------------------------------------------
def table(rows: list[Row]) -> str:
    head = ("figure", "ours", "anchor", "ratio", "target", "result")
    body = [(r.figure, r.ours, r.anchor, "-" if r.ratio is None else f"{r.ratio:.2f}x",
             r.target, r.verdict + (f" ({r.note})" if r.note else "")) for r in rows]
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(len(head) - 1)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths), "-" * 6)]
    lines += [fmt.format(*b) for b in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check it works (CI)")
    ap.add_argument("--json", type=Path, default=BENCH / "results.json", help="results file")
    args = ap.parse_args(argv)
    if args.smoke:
        exits, e2e_n, sizes, rep, q_n = 2_000, 2, (100, 1_000), 1, 1
    else:
        exits, e2e_n, sizes, rep, q_n = 100_000, 11, (10_000, 100_000), 3, 7

    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores; kernel {info['kernel']}; "
          f"KVM: {info['kvm']}; Python {info['python']}" + ("  [smoke run]" if args.smoke else ""))
    build_seed_vmm()
    # Bytecode for every module, as an installed package has: with PYTHONDONTWRITEBYTECODE set
    # (as on these machines) an editable install would otherwise compile at every start.
    for package in ("kasm", "vmm"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="kasm-bench-") as tmp:
        work = Path(tmp)
        rows.append(row_exit_cost(work, exits, 5 if not args.smoke else 1))
        rows += rows_smp(work, exits, 5 if not args.smoke else 1)
        e2e_rows, e2e = rows_end_to_end(work, e2e_n)
        rows += e2e_rows
        rows.append(row_build(work, e2e_n))
        rows += rows_scaling(work, sizes, rep)
        rows += rows_qemu(work, q_n)
        rows += rows_backends(work, exits, 2_000 if args.smoke else 100_000,
                              1 if args.smoke else 3, e2e["warm_env"])  # type: ignore[arg-type]
        rows += rows_trace(work, 1_000 if args.smoke else 100_000)
        rows += rows_interrupts(e2e["warm_env"], 0.3 if args.smoke else 2.0,  # type: ignore[arg-type]
                                1 if args.smoke else 3)
        profile = warm_path_profile(e2e["warm_env"])  # type: ignore[arg-type]
    print(table(rows))
    heavy = profile["heavy_imports_on_hit"] or "none"
    print(f"warm-path imports (ms, cumulative): {profile['top_level_imports_ms']}; "
          f"keystone/pcpp/lief imported on a cache hit: {heavy}")
    result = {
        "machine": info,
        "smoke": args.smoke,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": [asdict(r) | {"verdict": r.verdict} for r in rows],
        "warm_path": profile,
        "table": table(rows),
    }
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
