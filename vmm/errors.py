"""Exceptions for failures we expect: each carries one line a user can act on."""

from __future__ import annotations


class VmmError(Exception):
    """Base of every error the VMM raises on purpose (never a bare traceback for these)."""


class KvmUnavailable(VmmError):
    """/dev/kvm is missing or not accessible: nothing can run, and the message says how to fix."""


class EmulatorUnavailable(VmmError):
    """The emulator backend cannot run: the unicorn package is missing or not a usable version."""


class KvmApiError(VmmError):
    """KVM answered but cannot do what we need (API version, capability, failed ioctl)."""


class GuestMemoryError(VmmError):
    """A guest-physical address or range that is not inside guest RAM."""

    def __init__(self, message: str, address: int | None = None) -> None:
        super().__init__(message)
        self.address = address


class ImageError(VmmError):
    """A guest image that cannot be loaded (does not fit, bad ELF, wrong machine)."""


class CpuCountError(VmmError):
    """A number of vCPUs the backend cannot run (less than 1, or more than it allows)."""
