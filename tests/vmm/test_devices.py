"""UART registers and input, and guests waiting for input under a timeout."""

from __future__ import annotations

import io
import os
import time

from vmm import BootMode, Machine, RunEnd, VmmError, run_flat


def test_uart_echo_with_lsr_polling(backend: str, asm) -> None:
    """Poll LSR.DR, read RBR, echo upper-cased until input runs dry, then report via THR."""
    src = """
.code16
    mov dx, 0x3fd
1:  in al, dx
    test al, 1
    jz 2f
    mov dx, 0x3f8
    in al, dx
    sub al, 32
    out dx, al
    mov dx, 0x3fd
    jmp 1b
2:  test al, 0x60
    jz 3f
    mov dx, 0x3f8
    mov al, '!'
    out dx, al
3:  hlt
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out, input=io.BytesIO(b"kvm"))
    assert out.getvalue() == b"KVM!"
    assert r.end is RunEnd.HLT


def test_uart_latches_and_dlab(backend: str, asm) -> None:
    src = """
.code16
    mov dx, 0x3ff
    mov al, 0x5a
    out dx, al          # scratch
    mov dx, 0x3fb
    mov al, 0x80
    out dx, al          # LCR.DLAB = 1
    mov dx, 0x3f8
    mov al, 0x0c
    out dx, al          # DLL = 12 (9600 baud), not transmitted
    mov dx, 0x3fb
    mov al, 0x03
    out dx, al          # 8N1, DLAB = 0
    mov dx, 0x3ff
    in al, dx
    mov dx, 0x3f8
    out dx, al          # prints 'Z'
    mov dx, 0x3fa
    in al, dx           # IIR: no interrupt pending
    add al, '0'
    mov dx, 0x3f8
    out dx, al          # prints '1'
    hlt
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out, strict=True)
    assert out.getvalue() == b"Z1"
    assert r.end is RunEnd.HLT


def test_rep_insb_from_uart(backend: str, asm) -> None:
    src = """
.code16
    cld
    mov di, 0x3000
    mov cx, 4
    mov dx, 0x3f8
    rep insb
    mov si, 0x3000
    mov cx, 4
    rep outsb
    hlt
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out, input=io.BytesIO(b"abcd"))
    assert out.getvalue() == b"abcd" and r.end is RunEnd.HLT
    # KVM reads the four bytes ahead in one exit; OUTS exits once a byte; then HLT
    assert r.stats.total_exits == 1 + 4 + 1


def test_rep_insb_going_down_reads_ahead_to_the_start_of_the_page(backend: str) -> None:
    # std; mov di,0x3003; mov cx,4; mov dx,0x3f8; rep insb (stores at 3003..3000);
    # cld; mov si,0x3000; mov cx,4; rep outsb; hlt
    code = bytes.fromhex("fd" "bf0330" "b90400" "baf803" "f36c" "fc" "be0030" "b90400" "f36e"
                         "f4")
    out = io.BytesIO()
    r = run_flat(code, output=out, input=io.BytesIO(b"abcd"))
    assert out.getvalue() == b"dcba" and r.end is RunEnd.HLT
    assert r.stats.total_exits == 2 + 4 + 1  # 3 bytes to the start of the page, then 1


def test_getchar_on_a_silent_pipe_still_times_out(backend: str, asm) -> None:
    src = """
.code16
    mov al, 4
    mov dx, 0x500
    out dx, al
    hlt
"""
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb", buffering=0) as source:
            t0 = time.monotonic()
            r = run_flat(asm(src), input=source, timeout=0.5, output=io.BytesIO())
            assert r.end is RunEnd.TIMEOUT and time.monotonic() - t0 < 1.5
    finally:
        os.close(write_end)


def test_failed_setup_leaves_no_fds(backend: str) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for bad in (1000, 4097 << 10, 1 << 50):
        try:
            Machine(mem_size=bad, output=io.BytesIO())
        except VmmError as e:
            assert "\n" not in str(e)
        else:
            raise AssertionError(f"mem_size {bad} accepted")
    assert len(os.listdir("/proc/self/fd")) == before


def test_protected16_width(backend: str) -> None:
    """A 16-bit code segment in protected mode passes BX, not EBX."""
    from vmm.cpu import Segment

    with Machine(output=(out := io.BytesIO())) as m:
        # mov ebx, 0x12345; mov al, 2; mov dx, 0x500; out dx, al; hlt  (16-bit encoding)
        m.load_flat(bytes.fromhex("66bb45230100" "b002" "ba0005" "ee" "f4"))
        from vmm.modes import boot_state

        regs, sregs = boot_state(BootMode.PROTECTED, m.memory, 0x1000)
        sregs.cs = Segment(base=0, limit=0xFFFF, selector=0x08, type=0xB, present=1, s=1)
        m.vcpu.set_sregs(sregs)
        m.vcpu.set_regs(regs)
        from vmm.runloop import run

        r = run(m.vcpu, m.bus, m.memory, timeout=5)
        m.output.flush()
    assert r.end is RunEnd.HLT
    assert out.getvalue() == str(0x12345 & 0xFFFF).encode()
