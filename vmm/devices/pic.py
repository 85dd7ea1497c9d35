"""The two 8259A interrupt controllers of a PC: the master at ports 0x20-0x21 and the slave at
0xa0-0xa1, cascaded on the master's IRQ2, so IRQ lines 0-15 reach the CPU as vectors.

Each chip keeps its request (IRR), in-service (ISR) and mask (IMR) registers and is programmed
as the datasheet says: ICW1-ICW4 to initialize (vector base, cascade, auto-EOI, special fully
nested mode), OCW1 to mask, OCW2 for (specific, rotating) EOIs and priorities, OCW3 to read IRR
or ISR, to poll and for the special mask mode. Lines are edge-triggered unless ICW1 asks for
level triggering (LTIM; there is no ELCR at 0x4d0). At boot both chips are as a PC BIOS leaves
them: vectors 0x08-0x0f and 0x70-0x77, every line masked. No threads here: the interrupt
controller (vmm.interrupts) calls in from the vCPU's thread.
"""

from __future__ import annotations

from vmm.device import Action, CpuView, Device

MASTER_PORT = 0x20
SLAVE_PORT = 0xA0
CASCADE_IRQ = 2
BIOS_MASTER_BASE = 0x08
BIOS_SLAVE_BASE = 0x70
ALL_MASKED = 0xFF

ICW1 = 0x10  # a command-port write with this bit starts initialization
ICW1_IC4 = 0x01  # ICW4 follows
ICW1_SNGL = 0x02  # single chip: no ICW3
ICW1_LTIM = 0x08  # level-triggered lines
ICW4_AEOI = 0x02
ICW4_SFNM = 0x10
OCW3 = 0x08  # a command-port write with this bit (and not ICW1) is OCW3
OCW3_POLL = 0x04
OCW3_READ = 0x02  # with OCW3_RIS: read ISR, else IRR
OCW3_RIS = 0x01
OCW3_ESMM = 0x40  # with OCW3_SMM: special mask mode on, else off
OCW3_SMM = 0x20
POLL_READY = 0x80

# init_step values: where the next data-port write goes
READY, WANT_ICW2, WANT_ICW3, WANT_ICW4 = 0, 2, 3, 4


class Pic8259:
    """One 8259A. IRQs are its lines 0-7; `requested()` is the line it would hand the CPU."""

    def __init__(self, vector_base: int, is_master: bool) -> None:
        self.is_master = is_master
        self.vector_base = vector_base
        self.irr = 0
        self.isr = 0
        self.imr = ALL_MASKED
        self.levels = 0  # what each input line is at now
        self.level_triggered = False
        self.lowest = 7  # the line with the lowest priority (rotation moves it)
        self.auto_eoi = False
        self.rotate_on_auto_eoi = False
        self.special_fully_nested = False
        self.special_mask = False
        self.read_isr = False
        self.poll = False
        self.init_step = READY
        self.expect_icw4 = False
        self.single = False

    # --- input lines ----------------------------------------------------------------------
    def set_line(self, line: int, level: bool) -> None:
        """An input line goes to `level`: edge-triggered, a rising edge requests it."""
        bit = 1 << line
        if level:
            if self.level_triggered or not self.levels & bit:
                self.irr |= bit
            self.levels |= bit
        else:
            self.levels &= ~bit
            if self.level_triggered:
                self.irr &= ~bit

    # --- priorities -------------------------------------------------------------------------
    def _by_priority(self, bits: int) -> int | None:
        """The line with the highest priority among `bits`."""
        for rank in range(8):
            line = (self.lowest + 1 + rank) & 7
            if bits >> line & 1:
                return line
        return None

    def _rank(self, line: int) -> int:
        return (line - self.lowest - 1) & 7

    def requested(self) -> int | None:
        """The unmasked requested line that the in-service ones do not block, if any."""
        if self.init_step != READY:
            return None  # half-programmed: it does not know its vectors yet
        line = self._by_priority(self.irr & ~self.imr)
        if line is None:
            return None
        in_service = self.isr & ~self.imr if self.special_mask else self.isr
        if self.is_master and self.special_fully_nested:
            in_service &= ~(1 << CASCADE_IRQ)  # the slave nests its own priorities
        busy = self._by_priority(in_service)
        if busy is not None and self._rank(busy) <= self._rank(line):
            return None
        return line

    def acknowledge(self, line: int) -> None:
        """The CPU's INTA for `line`: it goes in service (unless auto-EOI)."""
        bit = 1 << line
        if not self.level_triggered:
            self.irr &= ~bit
        if self.auto_eoi:
            if self.rotate_on_auto_eoi:
                self.lowest = line
        else:
            self.isr |= bit

    # --- ports --------------------------------------------------------------------------------
    def write_command(self, value: int) -> None:
        if value & ICW1:
            self._start_init(value)
        elif value & OCW3:
            if value & OCW3_POLL:
                self.poll = True
            if value & OCW3_READ:
                self.read_isr = bool(value & OCW3_RIS)
            if value & OCW3_ESMM:
                self.special_mask = bool(value & OCW3_SMM)
        else:
            self._ocw2(value)

    def _start_init(self, value: int) -> None:
        self.irr = self.isr = 0
        self.imr = 0
        self.lowest = 7
        self.read_isr = self.poll = self.special_mask = False
        self.auto_eoi = self.rotate_on_auto_eoi = self.special_fully_nested = False
        self.level_triggered = bool(value & ICW1_LTIM)
        if self.level_triggered:
            self.irr = self.levels
        self.single = bool(value & ICW1_SNGL)
        self.expect_icw4 = bool(value & ICW1_IC4)
        self.init_step = WANT_ICW2

    def _ocw2(self, value: int) -> None:
        command, line = value >> 5, value & 7
        if command in (0b001, 0b101):  # non-specific EOI (and rotate)
            served = self._by_priority(self.isr)
            if served is not None:
                self.isr &= ~(1 << served)
                if command == 0b101:
                    self.lowest = served
        elif command in (0b011, 0b111):  # specific EOI (and rotate)
            self.isr &= ~(1 << line)
            if command == 0b111:
                self.lowest = line
        elif command == 0b110:  # set priority: `line` becomes the lowest
            self.lowest = line
        elif command in (0b100, 0b000):  # rotate in auto-EOI mode: set / clear
            self.rotate_on_auto_eoi = command == 0b100

    def write_data(self, value: int) -> None:
        step = self.init_step
        if step == READY:
            self.imr = value  # OCW1
        elif step == WANT_ICW2:
            self.vector_base = value & 0xF8
            self.init_step = (READY if self.single and not self.expect_icw4 else
                              WANT_ICW4 if self.single else WANT_ICW3)
        elif step == WANT_ICW3:  # which line has the slave / the slave's id: fixed here
            self.init_step = WANT_ICW4 if self.expect_icw4 else READY
        else:
            self.auto_eoi = bool(value & ICW4_AEOI)
            self.special_fully_nested = bool(value & ICW4_SFNM)
            self.init_step = READY

    def read(self, offset: int) -> int:
        if self.poll:
            self.poll = False
            line = self.requested()
            if line is None:
                return 0
            self.acknowledge(line)
            return POLL_READY | line
        if offset:
            return self.imr
        return self.isr if self.read_isr else self.irr


class PicPair:
    """Master and slave, cascaded on IRQ2: IRQ lines 0-15 in, one vector out per INTA."""

    def __init__(self) -> None:
        self.master = Pic8259(BIOS_MASTER_BASE, is_master=True)
        self.slave = Pic8259(BIOS_SLAVE_BASE, is_master=False)

    def set_irq(self, irq: int, level: bool) -> None:
        if irq < 8:
            self.master.set_line(irq, level)
        else:
            self.slave.set_line(irq - 8, level)
            self._cascade()

    def _cascade(self) -> None:
        """The slave's INT output drives the master's IRQ2: a request makes an edge."""
        if self.slave.requested() is not None:
            self.master.set_line(CASCADE_IRQ, True)
            self.master.set_line(CASCADE_IRQ, False)

    def requested(self) -> bool:
        """Whether the master would interrupt the CPU now."""
        return self.master.requested() is not None

    def acknowledge(self) -> tuple[int, int] | None:
        """INTA: (IRQ line, vector) of the request the CPU takes now, or None."""
        line = self.master.requested()
        if line is None:
            return None
        self.master.acknowledge(line)
        if line != CASCADE_IRQ:
            return line, self.master.vector_base + line
        slave_line = self.slave.requested()
        if slave_line is None:  # the request went away: the slave answers with IRQ15
            return 15, self.slave.vector_base + 7
        self.slave.acknowledge(slave_line)
        self._cascade()
        return 8 + slave_line, self.slave.vector_base + slave_line

    def reaches_cpu(self, irq: int) -> bool:
        """Whether a request on line `irq` would be passed on (both chips set up, unmasked)."""
        master = self.master
        if master.init_step != READY:
            return False
        if irq < 8:
            return not master.imr >> irq & 1
        slave = self.slave
        return (slave.init_step == READY and not slave.imr >> (irq - 8) & 1
                and not master.imr >> CASCADE_IRQ & 1)

    def write(self, chip: Pic8259, offset: int, value: int) -> None:
        if offset:
            chip.write_data(value)
        else:
            chip.write_command(value)
        if chip is self.slave:
            self._cascade()

    def read(self, chip: Pic8259, offset: int) -> int:
        value = chip.read(offset)
        if chip is self.slave:
            self._cascade()
        return value


class PicPorts(Device):
    """One chip's two ports on the bus (command/status, data/mask)."""

    def __init__(self, pair: PicPair, chip: Pic8259) -> None:
        self._pair = pair
        self._chip = chip

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        for i, value in enumerate(data):
            self._pair.write(self._chip, (offset + i) & 1, value)
        return None

    def io_read(self, offset: int, size: int) -> bytes:
        return bytes(self._pair.read(self._chip, (offset + i) & 1) for i in range(size))
