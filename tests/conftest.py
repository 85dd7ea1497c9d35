"""Shared fixtures: real /dev/kvm and GNU binutils; under CI=true their absence fails the run.

The whole session (subprocesses included) uses a temporary kasm build cache: the suite must
never write into the user's ~/.cache/kasm.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

TEST_CACHE_HOME = tempfile.mkdtemp(prefix="kasm-test-cache-")
os.environ["XDG_CACHE_HOME"] = TEST_CACHE_HOME


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(TEST_CACHE_HOME, ignore_errors=True)


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
