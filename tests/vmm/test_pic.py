"""The 8259A pair as a guest programs it: initialization, masks, priorities, EOIs, the cascade,
polling, auto-EOI, the special mask mode and level triggering (no vCPU needed)."""

from __future__ import annotations

from vmm.devices.pic import PicPair


class Cpu:  # io_write's CpuView: the PIC never looks at it
    pass


def init(pics: PicPair, master_base: int = 0x20, slave_base: int = 0x28, icw1: int = 0x11,
         icw4: int = 0x01, masks: tuple[int, int] = (0x00, 0x00)) -> None:
    """The usual sequence: ICW1-ICW4 on both chips, then OCW1."""
    for chip, base, icw3 in ((pics.master, master_base, 0x04), (pics.slave, slave_base, 0x02)):
        pics.write(chip, 0, icw1)
        pics.write(chip, 1, base)
        pics.write(chip, 1, icw3)
        pics.write(chip, 1, icw4)
    pics.write(pics.master, 1, masks[0])
    pics.write(pics.slave, 1, masks[1])


def pulse(pics: PicPair, irq: int) -> None:
    pics.set_irq(irq, True)
    pics.set_irq(irq, False)


def eoi(pics: PicPair, chip: str = "master", value: int = 0x20) -> None:
    pics.write(getattr(pics, chip), 0, value)


def test_at_boot_every_line_is_masked_at_the_bios_vectors() -> None:
    pics = PicPair()
    pulse(pics, 0)
    assert not pics.requested()
    assert (pics.master.vector_base, pics.slave.vector_base) == (0x08, 0x70)
    pics.write(pics.master, 1, 0xFE)  # only unmasking, as under a BIOS
    assert pics.acknowledge() == (0, 0x08)


def test_an_edge_is_requested_once_and_delivered_at_the_programmed_vector() -> None:
    pics = PicPair()
    init(pics)
    pics.set_irq(0, True)
    pics.set_irq(0, True)  # still high: no second edge
    assert pics.requested()
    assert pics.acknowledge() == (0, 0x20)
    assert not pics.requested()  # in service, the request bit cleared
    assert pics.master.isr == 1 and pics.master.irr == 0


def test_initialization_clears_requests_and_in_service_and_unmasks() -> None:
    pics = PicPair()
    pics.write(pics.master, 1, 0)
    pulse(pics, 3)
    pics.acknowledge()
    pulse(pics, 3)
    init(pics, masks=(0xFF, 0xFF))
    assert (pics.master.irr, pics.master.isr) == (0, 0)
    pics.write(pics.master, 0, 0x11)
    assert pics.master.imr == 0 and not pics.requested()  # half-programmed: no delivery


def test_the_in_service_line_blocks_itself_and_lower_priorities_until_eoi() -> None:
    pics = PicPair()
    init(pics)
    pulse(pics, 1)
    assert pics.acknowledge() == (1, 0x21)
    pulse(pics, 3)
    pulse(pics, 1)
    assert not pics.requested()  # 1 in service blocks 1 and 3
    pulse(pics, 0)
    assert pics.acknowledge() == (0, 0x20)  # 0 has the higher priority: it nests
    eoi(pics)  # non-specific: ends the highest in service, 0
    assert pics.master.isr == 0b10
    eoi(pics)
    assert pics.acknowledge() == (1, 0x21)
    eoi(pics)
    assert pics.acknowledge() == (3, 0x23)


def test_specific_eoi_ends_the_named_line() -> None:
    pics = PicPair()
    init(pics)
    pulse(pics, 5)
    pics.acknowledge()
    eoi(pics, value=0x60 | 4)  # specific EOI for a line not in service: no effect
    assert pics.master.isr == 1 << 5
    eoi(pics, value=0x60 | 5)
    assert pics.master.isr == 0


def test_masked_requests_wait_in_irr_until_unmasked() -> None:
    pics = PicPair()
    init(pics, masks=(0xFF, 0xFF))
    pulse(pics, 4)
    assert not pics.requested() and pics.master.irr == 1 << 4
    assert not pics.reaches_cpu(4)
    pics.write(pics.master, 1, 0xEF)
    assert pics.reaches_cpu(4) and pics.acknowledge() == (4, 0x24)


def test_slave_lines_cascade_through_irq2() -> None:
    pics = PicPair()
    init(pics)
    pulse(pics, 12)
    assert pics.acknowledge() == (12, 0x2C)
    assert pics.master.isr == 1 << 2 and pics.slave.isr == 1 << 4
    pulse(pics, 9)
    assert not pics.requested()  # IRQ2 is in service at the master
    eoi(pics, "slave")
    eoi(pics, "master")
    assert pics.acknowledge() == (9, 0x29)
    pics.write(pics.master, 1, 1 << 2)  # the cascade masked: no slave line reaches the CPU
    assert not pics.reaches_cpu(9) and pics.reaches_cpu(0)


def test_reading_irr_isr_and_imr() -> None:
    pics = PicPair()
    init(pics, masks=(0x0F, 0))
    pulse(pics, 6)
    pulse(pics, 1)
    assert pics.read(pics.master, 0) == 0b100_0010  # IRR by default
    assert pics.read(pics.master, 1) == 0x0F
    pics.acknowledge()
    pics.write(pics.master, 0, 0x0B)  # OCW3: read ISR
    assert pics.read(pics.master, 0) == 1 << 6
    pics.write(pics.master, 0, 0x0A)  # OCW3: read IRR
    assert pics.read(pics.master, 0) == 0b10


def test_poll_mode_acknowledges_the_highest_request() -> None:
    pics = PicPair()
    init(pics)
    pulse(pics, 5)
    pics.write(pics.master, 0, 0x0C)  # OCW3: poll
    assert pics.read(pics.master, 0) == 0x80 | 5
    assert pics.master.isr == 1 << 5
    pics.write(pics.master, 0, 0x0C)
    assert pics.read(pics.master, 0) == 0  # nothing requested


def test_auto_eoi_leaves_nothing_in_service() -> None:
    pics = PicPair()
    init(pics, icw4=0x03)
    pulse(pics, 0)
    assert pics.acknowledge() == (0, 0x20)
    assert pics.master.isr == 0
    pulse(pics, 0)
    assert pics.acknowledge() == (0, 0x20)


def test_rotation_makes_the_served_line_the_lowest() -> None:
    pics = PicPair()
    init(pics)
    pulse(pics, 0)
    pics.acknowledge()
    eoi(pics, value=0xA0)  # rotate on non-specific EOI: line 0 is now the lowest
    pulse(pics, 0)
    pulse(pics, 5)
    assert pics.acknowledge() == (5, 0x25)
    eoi(pics, value=0xC0 | 7)  # set priority: 7 lowest, 0 highest again
    eoi(pics)
    pulse(pics, 5)
    assert pics.acknowledge() == (0, 0x20)


def test_special_mask_mode_lets_lower_priorities_in_while_one_is_masked() -> None:
    pics = PicPair()
    init(pics)
    pulse(pics, 1)
    pics.acknowledge()
    pulse(pics, 4)
    assert not pics.requested()
    pics.write(pics.master, 1, 1 << 1)  # mask the line in service...
    pics.write(pics.master, 0, 0x68)  # ...and turn the special mask mode on
    assert pics.acknowledge() == (4, 0x24)


def test_level_triggered_lines_stay_requested_while_high() -> None:
    pics = PicPair()
    init(pics, icw1=0x19)
    pics.set_irq(4, True)
    assert pics.acknowledge() == (4, 0x24)
    eoi(pics)
    assert pics.acknowledge() == (4, 0x24)  # still high: requested again after the EOI
    eoi(pics)
    pics.set_irq(4, False)
    assert not pics.requested()


def test_single_chip_initialization_without_icw3_or_icw4() -> None:
    pics = PicPair()
    pics.write(pics.master, 0, 0x12)  # ICW1: single, no ICW4
    pics.write(pics.master, 1, 0x40)  # ICW2, and done
    pics.write(pics.master, 1, 0xFE)  # OCW1
    pulse(pics, 0)
    assert pics.acknowledge() == (0, 0x40)
