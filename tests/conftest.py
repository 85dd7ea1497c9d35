"""Shared fixtures: real /dev/kvm, the emulator and GNU binutils; under CI=true a missing
prerequisite fails the run.

The whole session (subprocesses included) uses a temporary kasm build cache: the suite must
never write into the user's ~/.cache/kasm.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile

import pytest

TEST_CACHE_HOME = tempfile.mkdtemp(prefix="kasm-test-cache-")
os.environ["XDG_CACHE_HOME"] = TEST_CACHE_HOME


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(TEST_CACHE_HOME, ignore_errors=True)


BACKENDS = ("kvm", "emu")


def require(condition: bool, reason: str) -> None:
    """Skip locally with a reason; under CI a missing prerequisite is a failure, not a skip."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kvm_device() -> str:
    path = "/dev/kvm"
    require(os.path.exists(path), f"{path} not found: this machine has no KVM")
    require(os.access(path, os.R_OK | os.W_OK), f"no permission to open {path}")
    return path


@pytest.fixture(scope="session")
def binutils() -> None:
    missing = [t for t in ("as", "ld", "objcopy") if shutil.which(t) is None]
    require(not missing, f"GNU binutils missing ({', '.join(missing)}): needed as the oracle")


@pytest.fixture(scope="session")
def c_compiler() -> None:
    """gcc and cpp, for the benchmark's C anchor (bench/seed_vmm.c)."""
    missing = [t for t in ("gcc", "cpp") if shutil.which(t) is None]
    require(not missing, f"{', '.join(missing)} missing: the benchmark's C anchor needs them")


@pytest.fixture(scope="session")
def gdb() -> str:
    """Debian's gdb, which the GDB stub's tests drive in batch mode."""
    path = shutil.which("gdb")
    require(path is not None, "gdb is not installed (apt install gdb)")
    return path


@pytest.fixture(scope="session")
def runs_guests() -> str:
    """Guests can run here, on the backend "auto" picks: KVM where /dev/kvm works, else the
    emulator. For tests of kasm and vmm that are not about a backend (the backend-specific ones
    take `backend`, which under CI=true insists on /dev/kvm)."""
    from vmm.kvm.probe import kvm_usable

    if kvm_usable():
        return "kvm"
    require(importlib.util.find_spec("unicorn") is not None,
            "neither /dev/kvm nor the unicorn package: nothing can run a guest")
    return "emu"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test once per backend. In-process, "auto" (the default backend of Machine,
    run_flat and run_elf) picks this one; a test that starts a process passes `--backend`.
    "kvm" needs /dev/kvm; "emu" runs anywhere."""
    name: str = request.param
    if name == "kvm":
        request.getfixturevalue("kvm_device")
    else:
        require(importlib.util.find_spec("unicorn") is not None,
                "the unicorn package is not installed (pip install -e .)")
    import vmm.kvm.probe

    monkeypatch.setattr(vmm.kvm.probe, "kvm_usable", lambda path="": name == "kvm")
    return name
