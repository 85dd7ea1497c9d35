"""The GDB stub over a real socket, driven byte by byte (no gdb): acks and no-ack mode, stops,
Ctrl-C, kill, detach, a dropped connection and bad packets, on the toy vCPU."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from toy_cpu import ToyBackend

import vmm
from vmm.gdb import target
from vmm.gdb.connection import GdbError, GdbServer
from vmm.gdb.packets import ACK, Packet, PacketReader, checksum, frame
from vmm.gdb.stub import GdbStub, exit_packet
from vmm.outcome import RunResult
from vmm.runloop import VcpuEnd
from vmm.vocabulary import BootMode, RunEnd

# Real mode at 0x1000; each line one instruction, with its address.
HELLO = bytes.fromhex(
    "ba0005"  # 1000 mov $0x500, %dx
    "b001"  # 1003 mov $1, %al
    "bb4100"  # 1005 mov $'A', %bx
    "ee"  # 1008 out %al, (%dx)       prints A
    "fec0"  # 1009 inc %al
    "90"  # 100b nop
    "b000"  # 100c mov $0, %al
    "bb0300"  # 100e mov $3, %bx
    "ee"  # 1011 out %al, (%dx)       HC_EXIT 3
)
SPIN = bytes.fromhex("90" "ebfe")  # 1000 nop; 1001 jmp 1001
CRASH = bytes.fromhex("90" "0f0b")  # nop; ud2 (the toy cannot: an emulation failure)


class Client:
    """gdb's side of the socket, as a test writes it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = PacketReader()
        self.events: list[object] = []
        self.acking = True

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_event(self) -> object:
        while not self.events:
            data = self.sock.recv(4096)
            if not data:
                return None
            self.events += self.reader.feed(data)
        return self.events.pop(0)

    def reply(self) -> bytes | None:
        """The next packet's payload (acking it while acks are on); None at end of stream."""
        while True:
            event = self.next_event()
            if event is None:
                return None
            if type(event) is Packet:
                if self.acking:
                    self.send_raw(b"+")
                return event.payload

    def ask(self, payload: bytes) -> bytes | None:
        self.send_raw(frame(payload))
        return self.reply()

    def closed(self) -> bool:
        """True when the stub closed its end (after any packets still in flight)."""
        while self.reply() is not None:
            pass
        return True


class StubRun:
    """A toy guest under a stub, its run on a thread of its own."""

    def __init__(self, code: bytes, mode: BootMode = BootMode.REAL,
                 timeout: float | None = None) -> None:
        self.output = io.BytesIO()
        self.log: list[str] = []
        self.stub = GdbStub.listen(0, log=self.log.append)
        self.machine = vmm.Machine(backend=ToyBackend, output=self.output)
        self.machine.load_flat(code, 0x1000)
        self.result: RunResult | None = None
        self.thread = threading.Thread(target=self._run, args=(mode, timeout), daemon=True)
        self.thread.start()

    def _run(self, mode: BootMode, timeout: float | None) -> None:
        self.result = self.machine.run(0x1000, mode, monitor=self.stub, timeout=timeout)

    def connect(self) -> Client:
        self.client = Client(self.stub.port)
        return self.client

    def finished(self) -> RunResult:
        """The result, once gdb has gone (as gdb goes when the guest is gone)."""
        if getattr(self, "client", None) is not None:
            self.client.sock.close()
        self.thread.join(10)
        assert not self.thread.is_alive()
        self.machine.close()
        assert self.result is not None
        return self.result


@pytest.fixture
def hello() -> Iterator[StubRun]:
    run = StubRun(HELLO)
    yield run
    run.stub.server.close()


def pc_of(client: Client) -> int:
    return int.from_bytes(bytes.fromhex(client.ask(b"p8").decode()), "little")


def test_every_packet_is_acked_until_no_ack_mode(hello: StubRun) -> None:
    gdb = hello.connect()
    gdb.send_raw(b"+" + frame(b"qSupported:swbreak+"))
    assert gdb.next_event() == ACK  # the packet's ack comes before the reply
    assert b"QStartNoAckMode+" in gdb.reply()
    assert gdb.ask(b"QStartNoAckMode") == b"OK"
    gdb.acking = False
    gdb.send_raw(frame(b"?"))
    data = gdb.sock.recv(100)
    assert data == frame(b"S05")  # no '+' before it any more
    assert gdb.ask(b"k") is None
    result = hello.finished()
    assert result.end is RunEnd.KILLED and result.exit_code == 137


def test_a_bad_checksum_is_answered_with_a_request_to_resend(hello: StubRun) -> None:
    gdb = hello.connect()
    gdb.send_raw(b"$g#00")
    assert gdb.sock.recv(1) == b"-"
    assert gdb.ask(b"?") == b"S05"  # and the connection goes on
    gdb.send_raw(b"$k#6b")
    assert hello.finished().end is RunEnd.KILLED


def test_a_resend_request_gets_the_last_reply_again(hello: StubRun) -> None:
    gdb = hello.connect()
    gdb.acking = False
    gdb.send_raw(frame(b"?"))
    assert gdb.reply() == b"S05"
    gdb.send_raw(b"-")
    assert gdb.reply() == b"S05"
    gdb.send_raw(b"+" + frame(b"k"))
    hello.finished()


@pytest.mark.parametrize(("garbage", "message"), [
    (b"hello\n", "gdb sent bytes that are not a gdb packet: b'hello\\n': the guest was "
                 "stopped at CS:IP 0000:1000"),
    (b"$g#zz", "gdb sent a packet checksum that is not hex: b'zz': the guest was stopped at "
               "CS:IP 0000:1000"),
])
def test_a_bad_packet_ends_the_run_with_a_message(hello: StubRun, garbage: bytes,
                                                  message: str) -> None:
    gdb = hello.connect()
    gdb.send_raw(garbage)
    assert gdb.closed()
    result = hello.finished()
    assert (result.end, result.exit_code) == (RunEnd.KILLED, 137)
    assert result.fault.splitlines()[0] == message


def test_a_bad_checksum_in_no_ack_mode_ends_the_run(hello: StubRun) -> None:
    gdb = hello.connect()
    assert gdb.ask(b"QStartNoAckMode") == b"OK"
    gdb.send_raw(b"$g#00")
    assert gdb.closed()
    result = hello.finished()
    assert result.fault.startswith("gdb sent a packet with a bad checksum (acks are off")


def test_a_dropped_connection_ends_the_run(hello: StubRun) -> None:
    gdb = hello.connect()
    assert gdb.ask(b"?") == b"S05"
    gdb.sock.close()
    result = hello.finished()
    assert result.end is RunEnd.KILLED
    assert result.fault.splitlines()[0] == ("gdb closed the connection: the guest was stopped at "
                            "CS:IP 0000:1000")


def test_a_connection_dropped_while_the_guest_runs_ends_the_run() -> None:
    run = StubRun(SPIN)
    gdb = run.connect()
    gdb.send_raw(frame(b"c"))
    assert gdb.next_event() is not None  # the ack
    time.sleep(0.2)
    gdb.sock.close()
    result = run.finished()
    assert result.end is RunEnd.KILLED
    assert result.fault.splitlines()[0] == ("gdb closed the connection: the guest was stopped at "
                            "CS:IP 0000:1001")


def test_stepping_reports_each_instruction_and_output_keeps_flowing(hello: StubRun) -> None:
    gdb = hello.connect()
    pcs = []
    for _ in range(5):
        assert gdb.ask(b"vCont;s:1") == b"T05thread:1;"
        pcs.append(pc_of(gdb))
    assert pcs == [0x1003, 0x1005, 0x1008, 0x1009, 0x100B]
    assert hello.output.getvalue() == b"A"  # the OUT at 0x1008 printed it at once
    assert gdb.ask(b"c") == b"W03"  # HC_EXIT 3
    assert gdb.closed()
    assert hello.finished().exit_code == 3


def test_continue_stops_at_a_breakpoint_and_leaves_it_again(hello: StubRun) -> None:
    gdb = hello.connect()
    assert gdb.ask(b"Z0,1009,1") == b"OK"
    assert gdb.ask(b"vCont;c") == b"T05thread:1;swbreak:;"
    assert pc_of(gdb) == 0x1009
    # resuming from the breakpoint does not stop at it again (the stub steps off it first)
    assert gdb.ask(b"Z1,100e,1") == b"OK"
    assert gdb.ask(b"c") == b"T05thread:1;hwbreak:;"
    assert pc_of(gdb) == 0x100E
    assert gdb.ask(b"c") == b"W03"
    assert hello.finished().end is RunEnd.HC_EXIT


def test_range_stepping_stops_when_the_pc_leaves_the_range(hello: StubRun) -> None:
    gdb = hello.connect()
    assert gdb.ask(b"vCont;r1000,1008") == b"T05thread:1;"
    assert pc_of(gdb) == 0x1008
    # the range's last instruction is an OUT: its I/O exit is its step
    assert gdb.ask(b"vCont;r1008,1009") == b"T05thread:1;"
    assert pc_of(gdb) == 0x1009 and hello.output.getvalue() == b"A"
    assert gdb.ask(b"Z0,100b,1") == b"OK"
    assert gdb.ask(b"vCont;r1009,1011") == b"T05thread:1;swbreak:;"  # a breakpoint inside
    assert pc_of(gdb) == 0x100B
    gdb.send_raw(frame(b"k"))
    hello.finished()


def test_continue_at_an_address(hello: StubRun) -> None:
    gdb = hello.connect()
    assert gdb.ask(b"s") == b"T05thread:1;"  # DX = 0x500
    assert gdb.ask(b"c100c") == b"W03"  # on past the first HC_PUTCHAR
    hello.finished()
    assert hello.output.getvalue() == b""


def test_ctrl_c_stops_a_running_guest_with_sigint() -> None:
    run = StubRun(SPIN)
    gdb = run.connect()
    gdb.send_raw(frame(b"c"))
    time.sleep(0.3)
    gdb.send_raw(b"\x03")
    assert gdb.reply() == b"T02thread:1;"
    assert pc_of(gdb) == 0x1001
    assert gdb.ask(b"?") == b"T02thread:1;"
    gdb.send_raw(frame(b"c"))  # runs again: Ctrl-C is not stuck
    time.sleep(0.3)
    gdb.send_raw(b"\x03")
    assert gdb.reply() == b"T02thread:1;"
    assert gdb.ask(b"vKill;1") == b"OK"
    result = run.finished()
    assert result.fault.splitlines()[0] == "gdb killed the guest at CS:IP 0000:1001"


def test_a_ctrl_c_while_stopped_changes_nothing(hello: StubRun) -> None:
    gdb = hello.connect()
    gdb.send_raw(b"\x03")
    assert gdb.ask(b"s") == b"T05thread:1;"
    assert gdb.ask(b"c") == b"W03"
    hello.finished()


def test_a_guest_fault_stops_as_sigsegv_before_the_run_ends() -> None:
    run = StubRun(CRASH)
    gdb = run.connect()
    assert gdb.ask(b"c") == b"T0bthread:1;"
    assert pc_of(gdb) == 0x1001
    assert gdb.ask(b"c") == b"X0b"
    result = run.finished()
    assert result.end is RunEnd.INTERNAL_ERROR


@pytest.mark.parametrize("packet", [b"k", b"D"])
def test_kill_or_detach_after_a_fault_stop_ends_the_run_as_the_fault(packet: bytes) -> None:
    run = StubRun(CRASH)
    gdb = run.connect()
    assert gdb.ask(b"c") == b"T0bthread:1;"
    gdb.send_raw(frame(packet))
    result = run.finished()
    assert result.end is RunEnd.INTERNAL_ERROR and result.fault.startswith("guest fault: ")


def test_detach_lets_the_guest_run_on_without_the_stub(hello: StubRun) -> None:
    gdb = hello.connect()
    assert gdb.ask(b"Z0,100c,1") == b"OK"
    assert gdb.ask(b"D") == b"OK"
    assert gdb.closed()
    result = hello.finished()
    assert result.end is RunEnd.HC_EXIT and hello.output.getvalue() == b"A"
    assert hello.machine.vcpu.debug == (False, ())
    assert hello.log[-1] == "gdb detached: the guest runs on to its end"


def test_a_stop_from_outside_while_gdb_holds_the_guest_closes_the_connection() -> None:
    run = StubRun(HELLO, timeout=1.0)
    gdb = run.connect()
    assert gdb.ask(b"?") == b"S05"
    assert gdb.closed()  # the watchdog, while gdb looks at the stopped guest
    result = run.finished()
    assert result.end is RunEnd.TIMEOUT
    assert result.fault.splitlines()[0] == ("timeout: the guest ran past 1 s; it was at "
                                            "CS:IP 0000:1000")


def test_a_stop_before_gdb_comes_ends_the_run() -> None:
    run = StubRun(HELLO)
    deadline = time.monotonic() + 10
    while run.machine._control is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.machine._control.stop(RunEnd.INTERRUPTED)
    result = run.finished()
    assert result.end is RunEnd.INTERRUPTED and run.machine.vcpu.executed == 0
    assert run.log[0].startswith("waiting for gdb on 127.0.0.1:")


def test_the_guest_waits_for_gdb_before_its_first_instruction(hello: StubRun) -> None:
    time.sleep(0.3)
    assert hello.machine.vcpu.executed == 0 and hello.thread.is_alive()
    gdb = hello.connect()
    gdb.send_raw(frame(b"k"))
    hello.finished()


def test_a_mode_switch_is_told_to_gdb_once() -> None:
    run = StubRun(bytes.fromhex("90" "90" "90"))
    gdb = run.connect()
    assert gdb.ask(b"s") == b"T05thread:1;"
    sregs = run.machine.vcpu.sregs
    sregs.cr0 |= 1  # as if the guest had set CR0.PE and loaded a 32-bit CS
    sregs.cs.db = 1
    note = gdb.ask(b"s")
    assert note.startswith(b"O")
    assert bytes.fromhex(note[1:].decode()).decode() == (
        "kasm: the guest is in protected mode now; gdb keeps the i8086 registers it "
        "connected with; `set architecture i386` disassembles its code\n")
    assert gdb.reply() == b"T05thread:1;"
    assert gdb.ask(b"s") == b"T05thread:1;"  # told once
    gdb.send_raw(frame(b"k"))
    run.finished()


def test_the_stub_gives_gdb_the_description_of_the_boot_mode() -> None:
    run = StubRun(HELLO, BootMode.LONG)
    gdb = run.connect()
    xml = gdb.ask(b"qXfer:features:read:target.xml:0,3fff")
    assert xml[1:] == target.LONG.xml[:0x3FFF]
    gdb.send_raw(frame(b"k"))
    run.finished()


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(GdbError) as e:
            GdbServer(port)
    assert str(e.value) == f"cannot listen for gdb on 127.0.0.1:{port}: Address already in use"


def test_the_checksum_helper_matches_gdbs() -> None:
    assert frame(b"k") == b"$k#%02x" % checksum(b"k") == b"$k#6b"


@pytest.mark.parametrize(("end", "status", "packet"), [
    (RunEnd.HLT, 0, b"W00"), (RunEnd.HC_EXIT, 0x107, b"W07"), (RunEnd.SHUTDOWN, 0, b"X0b"),
    (RunEnd.BAD_HYPERCALL, 0, b"X0b"), (RunEnd.INTERRUPTED, 0, b"X02"),
    (RunEnd.TIMEOUT, 0, b"X0e"), (RunEnd.OUTPUT_CLOSED, 0, b"X0d"),
    (RunEnd.OUTPUT_FAILED, 0, b"W03"),
])
def test_gdb_hears_how_the_run_ended(end: RunEnd, status: int, packet: bytes) -> None:
    assert exit_packet(VcpuEnd(end, status)) == packet


@pytest.mark.parametrize(("vector", "packet"), [
    (0, b"X08"), (6, b"X04"), (3, b"X05"), (1, b"X05"), (13, b"X0b"), (14, b"X0b"),
    (16, b"X08"), (None, b"X0b"),
])
def test_an_exception_ends_with_the_signal_that_fits_it(vector: int | None,
                                                        packet: bytes) -> None:
    assert exit_packet(VcpuEnd(RunEnd.EXCEPTION, 0, "guest fault", vector)) == packet
