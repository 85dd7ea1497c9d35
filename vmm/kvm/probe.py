"""Whether a path is a usable KVM device: the rule of backend "auto", without cffi."""

from __future__ import annotations

import fcntl
import os

from vmm.vocabulary import DEFAULT_KVM_PATH

KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00); vmm.kvm._abi checks it


def kvm_usable(path: str = DEFAULT_KVM_PATH) -> bool:
    """Whether `path` opens and answers KVM_GET_API_VERSION."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) >= 0
    except OSError:
        return False
    finally:
        os.close(fd)
