"""gdb's commands while the guest is stopped (vmm/gdb/session.py, registers.py, linear.py,
target.py), on the scripted fake vCPU: replies, errors, and what reaches the vCPU."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from fake_vcpu import FakeVcpu

from vmm.cpu import CpuMode
from vmm.gdb import target
from vmm.gdb.session import Detach, Kill, NoAck, Resume, Session
from vmm.memory import GuestMemory
from vmm.modes import boot_state
from vmm.vocabulary import BootMode

ENTRY = 0x1000


@pytest.fixture
def memory() -> Iterator[GuestMemory]:
    with GuestMemory(2 << 20) as m:
        yield m


def session_in(mode: BootMode, memory: GuestMemory,
               exec_file: str | None = None) -> tuple[Session, FakeVcpu]:
    regs, sregs = boot_state(mode, memory, ENTRY)
    vcpu = FakeVcpu([], sregs)
    vcpu.set_regs(regs)
    mode_now = {BootMode.REAL: CpuMode.REAL, BootMode.LONG: CpuMode.LONG}.get(
        mode, CpuMode.PROTECTED)
    return Session(vcpu, memory, target.description_for(mode_now), exec_file), vcpu


def register(session: Session, reply: bytes, name: str) -> bytes:
    """One register's hex out of a 'g' reply."""
    offset = 0
    for reg in session.description.registers:
        if reg.name == name:
            return reply[offset : offset + 2 * reg.size]
        offset += 2 * reg.size
    raise KeyError(name)


def test_the_descriptions_give_gdb_its_core_registers_in_its_order() -> None:
    for description, first, arch in ((target.REAL, "eax", "i8086"),
                                      (target.PROTECTED, "eax", "i386"),
                                      (target.LONG, "rax", "i386:x86-64")):
        root = ET.fromstring(description.xml)
        assert root.find("architecture").text == arch
        core = root.find("feature[@name='org.gnu.gdb.i386.core']")
        names = [r.get("name") for r in core.findall("reg")]
        assert names[0] == first and "st7" in names and names[-1] in ("fop", "gs_base")
        system = root.find("feature[@name='org.kasm.vmm.x86.system']")
        assert [r.get("name") for r in system.findall("reg")] == [
            "cr0", "cr2", "cr3", "cr4", "efer"]
    assert [r.name for r in target.PROTECTED.registers[:10]] == [
        "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"]
    assert [r.name for r in target.LONG.registers[:8]] == [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"]


def test_each_mode_has_the_description_that_fits_it() -> None:
    assert target.description_for(CpuMode.REAL) is target.REAL
    assert target.description_for(CpuMode.PROTECTED16) is target.REAL
    assert target.description_for(CpuMode.PROTECTED) is target.PROTECTED
    assert target.description_for(CpuMode.COMPAT) is target.PROTECTED
    assert target.description_for(CpuMode.LONG) is target.LONG


def test_the_description_is_read_in_pieces(memory: GuestMemory) -> None:
    session, _ = session_in(BootMode.LONG, memory)
    xml = session.description.xml
    first = session.handle(b"qXfer:features:read:target.xml:0,100")
    assert first == b"m" + xml[:0x100]
    rest = session.handle(b"qXfer:features:read:target.xml:100,ffff")
    assert rest == b"l" + xml[0x100:]
    assert session.handle(b"qXfer:features:read:other.xml:0,100") == b"E00"


def test_qsupported_says_what_the_stub_does(memory: GuestMemory) -> None:
    session, _ = session_in(BootMode.REAL, memory)
    reply = session.handle(b"qSupported:multiprocess+;swbreak+;xmlRegisters=i386")
    assert set(reply.split(b";")) == {b"PacketSize=4000", b"qXfer:features:read+",
                                      b"QStartNoAckMode+", b"swbreak+", b"hwbreak+",
                                      b"vContSupported+"}
    session, _ = session_in(BootMode.REAL, memory, exec_file="/tmp/p.elf")
    assert b"qXfer:exec-file:read+" in session.handle(b"qSupported")
    assert session.handle(b"qXfer:exec-file:read::0,fff") == b"l/tmp/p.elf"


@pytest.mark.parametrize("packet", [b"vMustReplyEmpty", b"qTStatus", b"Z2,1000,4", b"!",
                                    b"bc", b"qRcmd,7265736574", b"vFile:open:2f,0,0", b"\xff",
                                    b"vRun;", b"QNonStop:1", b"qXfer:libraries:read::0,10"])
def test_unsupported_packets_get_the_empty_reply(memory: GuestMemory, packet: bytes) -> None:
    session, _ = session_in(BootMode.REAL, memory)
    assert session.handle(packet) == b""


@pytest.mark.parametrize("packet", [b"mzz,4", b"m1000", b"M1000,2:abc", b"M1000,3:abcd",
                                    b"Pzz=00", b"P8", b"G00", b"p", b"vCont;x", b"Z0,zz,1",
                                    b"vCont;r1000"])
def test_malformed_packets_get_an_error_reply(memory: GuestMemory, packet: bytes) -> None:
    session, _ = session_in(BootMode.REAL, memory)
    assert session.handle(packet)[:1] == b"E"


def test_the_thread_queries_name_one_thread(memory: GuestMemory) -> None:
    session, _ = session_in(BootMode.REAL, memory)
    assert [session.handle(p) for p in (b"qfThreadInfo", b"qsThreadInfo", b"qC", b"Hg0",
                                        b"Hc-1", b"T1", b"qAttached", b"qSymbol::")] == [
        b"m1", b"l", b"QC1", b"OK", b"OK", b"OK", b"0", b"OK"]
    assert session.handle(b"?") == b"S05"
    assert session.stop_reply(5, "swbreak") == b"T05thread:1;swbreak:;"
    assert session.handle(b"?") == b"T05thread:1;swbreak:;"


def test_real_mode_registers_show_the_linear_pc_and_no_fpu(memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.REAL, memory)
    vcpu.sregs.cs.selector, vcpu.sregs.cs.base = 0x100, 0x1000
    vcpu.regs.rip, vcpu.regs.rax = 0x23, 0x1234_5678_9ABC_DEF0
    reply = session.handle(b"g")
    assert register(session, reply, "eip") == (0x1023).to_bytes(4, "little").hex().encode()
    assert register(session, reply, "eax") == b"f0debc9a"  # the low half
    assert register(session, reply, "cs") == b"00010000"
    assert register(session, reply, "esp") == (0xFFFE).to_bytes(4, "little").hex().encode()
    assert register(session, reply, "st0") == b"xx" * 10
    assert register(session, reply, "cr0") == b"10000000"
    n = target.REAL.number["eip"]
    assert session.handle(b"p%x" % n) == b"23100000"
    assert session.handle(b"p%x" % len(target.REAL.registers)) == b"E16"


def test_writing_the_pc_in_real_mode_sets_ip_from_the_linear_address(
        memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.REAL, memory)
    vcpu.sregs.cs.selector, vcpu.sregs.cs.base = 0x100, 0x1000
    n = target.REAL.number["eip"]
    assert session.handle(b"P%x=%s" % (n, (0x1050).to_bytes(4, "little").hex().encode())) == b"OK"
    assert vcpu.regs.rip == 0x50


def test_segment_registers_are_written_in_real_mode_only(memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.REAL, memory)
    assert session.handle(b"P%x=00020000" % target.REAL.number["ds"]) == b"OK"
    assert (vcpu.sregs.ds.selector, vcpu.sregs.ds.base) == (0x200, 0x2000)
    session, vcpu = session_in(BootMode.PROTECTED, memory)
    number = target.PROTECTED.number["ds"]
    assert session.handle(b"P%x=10000000" % number) == b"OK"  # the same selector: nothing
    assert session.handle(b"P%x=18000000" % number) == b"E16"
    assert vcpu.sregs.ds.selector == 0x10


def test_a_32_bit_layout_writes_the_low_halves_of_64_bit_registers(
        memory: GuestMemory) -> None:
    """gdb connected in protected mode; the guest has gone to long mode since."""
    _, long_vcpu = session_in(BootMode.LONG, memory)
    session = Session(long_vcpu, memory, target.PROTECTED)
    long_vcpu.regs.rbx = 0xAAAA_BBBB_CCCC_DDDD
    assert session.handle(b"P%x=11223344" % target.PROTECTED.number["ebx"]) == b"OK"
    assert long_vcpu.regs.rbx == 0xAAAA_BBBB_4433_2211


def test_g_writes_what_changed_and_ignores_the_fpu(memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.LONG, memory)
    reply = bytearray(session.handle(b"g").replace(b"x", b"0"))
    offset = 2 * sum(r.size for r in target.LONG.registers[:target.LONG.number["rcx"]])
    reply[offset : offset + 16] = (0x42).to_bytes(8, "little").hex().encode()
    assert session.handle(b"G" + bytes(reply)) == b"OK"
    assert vcpu.regs.rcx == 0x42 and vcpu.regs.rip == ENTRY and vcpu.sregs.cs.selector == 8
    flags = target.LONG.number["eflags"]
    assert session.handle(b"P%x=00020000" % flags) == b"OK"
    assert vcpu.regs.rflags == 0x202  # bit 1 is always set
    assert session.handle(b"P%x=%s" % (target.LONG.number["st0"], b"00" * 10)) == b"E16"


def test_control_registers_and_segment_bases_can_be_written(memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.LONG, memory)
    assert session.handle(b"P%x=%s" % (target.LONG.number["cr2"],
                                       (0xDEAD000).to_bytes(8, "little").hex().encode())) == b"OK"
    assert session.handle(b"P%x=%s" % (target.LONG.number["gs_base"],
                                       (0x5000).to_bytes(8, "little").hex().encode())) == b"OK"
    assert vcpu.sregs.cr2 == 0xDEAD000 and vcpu.sregs.gs.base == 0x5000


def test_memory_is_read_and_written_at_linear_addresses(memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.LONG, memory)
    # the boot tables map 2 MiB pages; make linear 4 MiB (PD entry 2) physical 0, and
    # linear 6 MiB (PD entry 3) not present
    pd = vcpu.sregs.cr3 + 0x2000
    memory.write_u64(pd + 2 * 8, 0x0 | 0x83)
    memory.write_u64(pd + 3 * 8, 0)
    memory.write(0x20, b"kasm")
    assert session.handle(b"m400020,4") == b"kasm".hex().encode()
    assert session.handle(b"M400020,2:4142") == b"OK" and memory.read(0x20, 2) == b"AB"
    assert session.handle(b"X400022,2:}\x03}]") == b"OK" and memory.read(0x22, 2) == b"#}"
    assert session.handle(b"X400022,0:") == b"OK"
    assert session.handle(b"m600000,4") == b"E14"
    assert session.handle(b"M600000,1:00") == b"E14"


def test_a_read_that_runs_off_the_end_of_ram_returns_what_there_is(
        memory: GuestMemory) -> None:
    session, _ = session_in(BootMode.REAL, memory)
    memory.write(memory.size - 2, b"\x01\x02")
    assert session.handle(b"m%x,10" % (memory.size - 2)) == b"0102"
    assert session.handle(b"m%x,10" % memory.size) == b"E14"
    assert session.handle(b"M%x,4:01020304" % (memory.size - 2)) == b"E14"
    assert memory.read(memory.size - 2, 2) == b"\x01\x02"  # all or nothing


def test_breakpoints_become_guest_debug_breakpoints(memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.REAL, memory)
    assert session.handle(b"Z0,1003,1") == b"OK"
    assert session.handle(b"Z1,1007,1") == b"OK"
    assert vcpu.debug == (False, (0x1003, 0x1007))
    assert session.breakpoints == {0x1003: "swbreak", 0x1007: "hwbreak"}
    assert session.handle(b"z0,1003,1") == b"OK"
    assert vcpu.debug == (False, (0x1007,))


def test_a_breakpoint_the_backend_refuses_is_an_error(memory: GuestMemory) -> None:
    session, vcpu = session_in(BootMode.REAL, memory)

    def four_at_most(single_step: bool = False, breakpoints: tuple[int, ...] = ()) -> None:
        if len(breakpoints) > 4:
            raise ValueError("at most 4 breakpoints")

    vcpu.set_guest_debug = four_at_most  # type: ignore[method-assign]
    for address in range(4):
        assert session.handle(b"Z0,%x,1" % address) == b"OK"
    assert session.handle(b"Z0,10,1") == b"E28"
    assert sorted(session.breakpoints) == [0, 1, 2, 3]


@pytest.mark.parametrize(("packet", "outcome"), [
    (b"c", Resume()), (b"s", Resume(step=True)), (b"c1010", Resume(pc=0x1010)),
    (b"C05;1010", Resume(pc=0x1010)), (b"S0b", Resume(step=True)),
    (b"vCont;c", Resume()), (b"vCont;s:1;c", Resume(step=True)),
    (b"vCont;s:2;c", Resume()), (b"vCont;r1000,1008:1;c", Resume(range=(0x1000, 0x1008))),
    (b"vCont;t:1;c", Resume()), (b"vCont;C02:p1.1", Resume()),
    (b"k", Kill()), (b"vKill;1", Kill(b"OK")), (b"D", Detach()), (b"D;1", Detach()),
    (b"QStartNoAckMode", NoAck()),
])
def test_commands_that_end_the_stop(memory: GuestMemory, packet: bytes, outcome: object) -> None:
    session, _ = session_in(BootMode.REAL, memory)
    assert session.handle(packet) == outcome
    assert session.handle(b"vCont?") == b"vCont;c;C;s;S;r"
