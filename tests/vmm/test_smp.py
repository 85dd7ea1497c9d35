"""Several vCPUs over scripted fakes: how a run of N vCPUs starts, ends, reports and counts,
without /dev/kvm (tests/vmm/test_smp_kvm.py runs real guests)."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
from fake_vcpu import FakeBackend, FakeVcpu

from vmm import BootMode, CpuCountError, ExitCode, ImageError, Machine, RunEnd, VmmError
from vmm import exits as ex
from vmm.backend import VmBackend
from vmm.device import Device
from vmm.devices.hypercall import HC_CPU_ID, HC_EXIT, HC_PUTCHAR, HC_WRITE
from vmm.stats import STATS_KEYS, VCPU_STATS_KEYS

HC_PORT = 0x500


def hypercall(number: int, **regs: int) -> tuple[dict[str, int], ex.IoOut]:
    return regs, ex.IoOut(HC_PORT, 1, bytes([number]))


def machine(*scripts: list, **options: object) -> tuple[Machine, io.BytesIO, FakeBackend]:
    out = io.BytesIO()
    backend = FakeBackend([list(s) for s in scripts])
    m = Machine(1 << 20, backend=lambda memory: backend, output=out, cpus=len(scripts),
                **options)  # type: ignore[arg-type]
    return m, out, backend


def spin(vcpu: FakeVcpu) -> ex.Exit:
    """A guest that never exits by itself: blocks until the vCPU is asked to stop."""
    return vcpu.wait_for_stop()


def test_the_run_ends_cleanly_when_every_vcpu_has_halted() -> None:
    m, out, _ = machine([hypercall(HC_PUTCHAR, rbx=ord("a"))], [],
                        [hypercall(HC_PUTCHAR, rbx=ord("c")), hypercall(HC_PUTCHAR, rbx=10)])
    with m:
        r = m.run()
    assert (r.end, r.exit_code, r.fault) == (RunEnd.HLT, 0, None)
    assert sorted(out.getvalue()) == sorted(b"ac\n")
    s = r.stats
    assert (s.cpus, s.total_exits, s.exits_by_reason, s.exits_by_port) == (
        3, 6, {"io": 3, "hlt": 3}, {HC_PORT: 3})
    assert [(v.id, v.total_exits, v.end) for v in s.vcpus] == [
        (0, 2, "hlt"), (1, 1, "hlt"), (2, 3, "hlt")]
    assert s.guest_wall_s > 0 and s.backend == "fake"


def test_hc_exit_on_one_vcpu_stops_the_others_at_once() -> None:
    m, _, _ = machine([spin], [hypercall(HC_EXIT, rbx=7)])
    t0 = time.perf_counter()
    with m:
        r = m.run(timeout=30)
    assert time.perf_counter() - t0 < 5  # not the timeout
    assert (r.end, r.status, r.exit_code, r.fault) == (RunEnd.HC_EXIT, 7, 7, None)
    assert [v.end for v in r.stats.vcpus] == ["stopped", "hc_exit"]
    assert r.stats.vcpus[0].exits_by_reason == {"intr": 1}


def test_nothing_is_printed_after_the_hc_exit_that_ended_the_run() -> None:
    def print_once_stopped(vcpu: FakeVcpu) -> ex.Exit:
        vcpu.wait_for_stop()  # the exit below reaches the VMM after vCPU 0's HC_EXIT
        vcpu.regs.rbx = ord("!")
        return ex.IoOut(HC_PORT, 1, bytes([HC_PUTCHAR]))

    m, out, _ = machine([hypercall(HC_PUTCHAR, rbx=ord("x")), hypercall(HC_EXIT, rbx=0)],
                        [print_once_stopped])
    with m:
        r = m.run(timeout=30)
    assert r.end is RunEnd.HC_EXIT and out.getvalue() == b"x"
    assert [v.end for v in r.stats.vcpus] == ["hc_exit", "stopped"]


def test_a_fault_on_one_vcpu_stops_all_and_names_that_vcpu() -> None:
    m, _, _ = machine([spin], [({"rip": 0x1234}, ex.SHUTDOWN)])
    with m:
        r = m.run(timeout=30)
    assert (r.end, r.exit_code) == (RunEnd.SHUTDOWN, ExitCode.GUEST_FAULT)
    assert r.fault.startswith("guest fault on vCPU 1: triple fault")
    assert "CS:IP 0000:1234" in r.fault and "rip" in r.register_dump and r.rip == 0x1234
    assert [v.end for v in r.stats.vcpus] == ["stopped", "shutdown"]


def test_timeout_stops_every_vcpu_and_says_where_each_was() -> None:
    def spin_at(rip: int) -> Callable[[FakeVcpu], ex.Exit]:
        def step(vcpu: FakeVcpu) -> ex.Exit:
            vcpu.regs.rip = rip
            return spin(vcpu)
        return step

    m, _, _ = machine([spin_at(0x1111)], [spin_at(0x2222)])
    with m:
        r = m.run(timeout=0.05)
    assert (r.end, r.exit_code) == (RunEnd.TIMEOUT, ExitCode.TIMEOUT)
    assert r.fault == ("timeout: the guest ran past 0.05 s; it was at CS:IP 0000:1111 (vCPU 0),"
                       " CS:IP 0000:2222 (vCPU 1)")
    assert [v.end for v in r.stats.vcpus] == ["timeout", "timeout"]


def test_ctrl_c_stops_every_vcpu_while_all_of_them_spin() -> None:
    def ctrl_c(vcpu: FakeVcpu) -> ex.Exit:
        os.kill(os.getpid(), signal.SIGINT)  # to the process, as a terminal sends it
        return vcpu.wait_for_stop()

    m, _, _ = machine([ctrl_c], [spin])
    with m:
        r = m.run(timeout=30)
    assert (r.end, r.exit_code) == (RunEnd.INTERRUPTED, ExitCode.INTERRUPTED)
    assert r.fault.startswith("interrupted: stopped by Ctrl-C at ") and "(vCPU 1)" in r.fault


def test_devices_see_one_access_at_a_time() -> None:
    class Slow(Device):
        def __init__(self) -> None:
            self.inside = self.most = 0
            self.lock = threading.Lock()

        def io_write(self, offset: int, data: bytes, cpu: object) -> None:
            with self.lock:
                self.inside += 1
                self.most = max(self.most, self.inside)
            time.sleep(0.001)  # lets the other vCPU's thread run, GIL and all
            with self.lock:
                self.inside -= 1

        def io_read(self, offset: int, size: int) -> bytes:
            return bytes(size)

    script = [ex.IoOut(0x600, 1, b"\0")] * 30
    m, _, _ = machine(script, script)
    device = Slow()
    m.bus.register(device, 0x600, 1)
    with m:
        r = m.run(timeout=30)
    assert r.end is RunEnd.HLT and r.stats.exits_by_port == {0x600: 60}
    assert device.most == 1


def test_one_hc_write_is_never_torn_by_another_vcpu() -> None:
    line = [hypercall(HC_WRITE, rbx=0x2000, rcx=0x3000)]
    m, out, _ = machine(line, [hypercall(HC_WRITE, rbx=0x8000, rcx=0x3000)])
    with m:
        assert m.memory is not None
        m.memory.write(0x2000, b"a" * 0x3000)
        m.memory.write(0x8000, b"b" * 0x3000)
        r = m.run(timeout=30)
    assert r.end is RunEnd.HLT
    assert out.getvalue() in (b"a" * 0x3000 + b"b" * 0x3000, b"b" * 0x3000 + b"a" * 0x3000)


def test_hc_cpu_id_gives_each_vcpu_its_id_and_the_number_of_vcpus() -> None:
    script = [hypercall(HC_CPU_ID, rax=0x1234_5678_9ABC_DEF0, rbx=0xFFFF_FFFF_FFFF_FFFF)]
    m, _, backend = machine(script, script, script)
    with m:
        m.run(mode=BootMode.PROTECTED)
    for vcpu in backend.vcpus:  # 32-bit code: EAX and EBX, the bits above them stay
        assert vcpu.writes == [("rax", 0x1234_5678_0000_0000 | vcpu.index),
                               ("rbx", 0xFFFF_FFFF_0000_0003)]


@pytest.mark.parametrize(("mode", "stacks"), [
    (BootMode.REAL, [0xFFFE, 0xBFFE, 0x7FFE, 0x3FFE]),
    (BootMode.PROTECTED, [0, 0x10000, 0x20000, 0x30000]),
    (BootMode.LONG, [0, 0x10000, 0x20000, 0x30000]),
])
def test_every_vcpu_starts_at_the_entry_with_a_stack_of_its_own(mode, stacks) -> None:
    m, _, backend = machine([], [], [], [])
    with m:
        m.run(0x1000, mode)
        top = m.layout.stack_top
    rsps = [v.regs.rsp for v in backend.vcpus]
    assert rsps == (stacks if mode is BootMode.REAL else [top - s for s in stacks])
    assert {v.regs.rip for v in backend.vcpus} == {0x1000}
    assert len({repr(v.sregs) for v in backend.vcpus}) == 1  # the same mode and tables


def test_real_mode_stacks_split_64_kib_among_any_number_of_vcpus() -> None:
    m, _, backend = machine([], [], [])
    with m:
        m.run()
    assert [v.regs.rsp for v in backend.vcpus] == [0xFFFE, 0xFFFE - 0x5550, 0xFFFE - 0xAAA0]


def test_stacks_that_do_not_fit_below_the_system_area_are_refused() -> None:
    m, _, _ = machine(*[[]] * 16)  # 16 x 64 KiB of stack in 1 MiB of RAM, with the image
    with m, pytest.raises(ImageError, match="16 vCPUs need 16 x 64 KiB of stack"):
        m.load_flat(b"\xf4" * 0x1000)
        m.run(mode=BootMode.PROTECTED)


def test_vcpu_counts_the_backend_cannot_run_are_refused() -> None:
    class OneOnly(VmBackend):  # says nothing about vCPUs: the interface's default, one
        name = "one"

        def close(self) -> None:
            pass

    with pytest.raises(CpuCountError, match="^0: a guest needs at least one vCPU$"):
        Machine(1 << 20, backend=lambda memory: FakeBackend([[]]), cpus=0)
    with pytest.raises(CpuCountError, match="^3: the fake backend runs at most 2 vCPUs$"):
        Machine(1 << 20, backend=lambda memory: FakeBackend([[], []]), cpus=3)
    with pytest.raises(CpuCountError, match="^2: the one backend runs one vCPU only$"):
        Machine(1 << 20, backend=lambda memory: OneOnly(), cpus=2)


def test_more_vcpus_than_the_backend_recommends_is_a_warning() -> None:
    heard: list[str] = []
    backend = FakeBackend([[]] * 3, recommended_vcpus=2)
    with Machine(1 << 20, backend=lambda memory: backend, cpus=3, warn=heard.append,
                 output=io.BytesIO()) as m:
        assert m.run().end is RunEnd.HLT
    assert heard == ["3 vCPUs, but fake recommends at most 2 on this host: they will share "
                     "host CPUs (and spinning vCPUs slow the others down)"]


def test_an_error_inside_a_vcpu_thread_stops_the_run_and_reaches_the_caller() -> None:
    def broken(vcpu: FakeVcpu) -> ex.Exit:
        raise VmmError("kvm: KVM_RUN failed")

    m, _, backend = machine([spin], [broken])
    with m, pytest.raises(VmmError, match="KVM_RUN failed"):
        m.run(timeout=30)
    assert backend.vcpus[0].runs == 1  # stopped, not left spinning


def test_statistics_keep_the_totals_keys_and_add_each_vcpu() -> None:
    m, _, _ = machine([hypercall(HC_EXIT, rbx=3)], [spin])
    with m:
        r = m.run(timeout=30)
    d = r.stats.to_dict()
    assert tuple(d) == STATS_KEYS and d["cpus"] == 2 and d["end"] == "hc_exit"
    assert [tuple(v) for v in d["vcpus"]] == [VCPU_STATS_KEYS] * 2
    assert d["vcpus"][0] == {"id": 0, "total_exits": 1, "exits_by_reason": {"io": 1},
                             "exits_by_port": {"0x500": 1}, "end": "hc_exit"}
    assert d["vcpus"][1]["end"] == "stopped"
    text = r.stats.format_text()
    assert "cpus: 2\n" in text
    assert text.endswith("vCPU 0: end hc_exit, exits 1 (io 1), by port 0x500 1\n"
                         "vCPU 1: end stopped, exits 1 (intr 1)")


def test_one_vcpu_runs_on_the_calling_thread_and_reports_as_before() -> None:
    seen: list[str] = []

    def where_am_i(vcpu: FakeVcpu) -> ex.Exit:
        seen.append(threading.current_thread().name)
        return ex.HLT

    m, _, _ = machine([where_am_i])
    with m:
        r = m.run()
    assert seen == [threading.main_thread().name]
    assert "cpus:" not in r.stats.format_text() and r.stats.vcpus == []
    d = r.stats.to_dict()
    assert d["cpus"] == 1 and d["vcpus"] == [{"id": 0, "total_exits": 1, "exits_by_reason":
                                              {"hlt": 1}, "exits_by_port": {}, "end": "hlt"}]
