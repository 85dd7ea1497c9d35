"""The suite leaves the user's files alone: its kasm build cache is a temporary directory
(tests/conftest.py), for the tests' own process and every kasm it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile


def test_the_build_cache_is_a_temporary_directory_for_the_whole_session():
    from kasm import cache

    home = os.environ["XDG_CACHE_HOME"]
    assert os.path.dirname(home) == tempfile.gettempdir()
    assert os.path.basename(home).startswith("kasm-test-cache-")
    assert cache.cache_dir() == os.path.join(home, "kasm")
    child = subprocess.run([sys.executable, "-c", "from kasm import cache; "
                            "print(cache.cache_dir())"], capture_output=True, text=True,
                           check=True)
    assert child.stdout.strip() == os.path.join(home, "kasm")
