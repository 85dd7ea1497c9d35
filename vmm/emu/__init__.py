"""The emulator backend: unicorn (QEMU's TCG as a library) behind vmm.backend's interface.

Imported only when the emulator is chosen: loading libunicorn costs ~30 ms that a KVM run does
not pay.
"""
