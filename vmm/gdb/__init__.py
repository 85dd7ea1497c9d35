"""A GDB remote stub for vmm: `gdb -ex 'target remote :1234'` debugs the guest.

vmm.gdb.stub.GdbStub is a vmm.monitor.Monitor; vmm.gdb.option holds what a command line needs
(the default port, parsing `--gdb[=PORT]`) without loading the stub.
"""
