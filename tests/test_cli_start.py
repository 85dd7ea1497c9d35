"""`kasm run FILE` and `kasm build FILE` start without typer (kasm.entry) yet behave exactly
like the full CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def kasm(args: list[str], env: dict[str, str], python_flags: tuple[str, ...] = ()):  # noqa: ANN201
    return subprocess.run([sys.executable, *python_flags, "-m", "kasm", *args], cwd=ROOT,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
                          timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")}


CASES = {
    "hello": ".code16\n_start:\n hc_puts $msg\n hc_exit $3\nmsg: .asciz \"hi\\n\"\n",
    "source_error": ".code16\n_start:\n movx %ax, %bx\n",
    "guest_fault": ".code16\n_start:\n mov $0x99, %ax\n out %ax, $0x500\n hlt\n",
    "warning": ".code16\n_start:\n .warning \"careful\"\n hlt\n",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plain_run_matches_the_full_command_line(case, runs_guests, tmp_path, env):
    src = tmp_path / f"{case}.S"
    src.write_text("#include <hypercall.h>\n" + CASES[case])
    plain = kasm(["run", str(src)], env)
    full = kasm(["run", "--timeout", "10", "--mem", "2M", str(src)], env)  # through typer
    assert (plain.returncode, plain.stdout, plain.stderr) == (
        full.returncode, full.stdout, full.stderr)
    assert "Traceback" not in plain.stderr


def test_plain_run_of_a_missing_file_matches_the_full_command_line(env):
    plain = kasm(["run", "no/such.S"], env)
    full = kasm(["run", "--timeout", "10", "no/such.S"], env)
    assert (plain.returncode, plain.stderr) == (full.returncode, full.stderr) == (
        1, "kasm: error: no/such.S: no such file\n")


def test_cached_plain_run_imports_no_cli_framework_assembler_or_elf_library(runs_guests, env):
    example = str(ROOT / "examples" / "hello.S")
    assert kasm(["run", example], env).returncode == 0  # fills the cache
    r = kasm(["run", example], env, ("-X", "importtime"))
    assert r.returncode == 0 and r.stdout == "Hello, KVM!\n"
    loaded = set(re.findall(r"\|\s*(\S+)$", r.stderr, re.M))
    heavy = {"typer", "keystone", "pcpp", "lief", "dataclasses", "typing"}
    assert heavy & loaded == set()


@pytest.mark.parametrize("case", sorted(CASES))
def test_plain_build_matches_the_full_command_line(case, tmp_path, env):
    src = tmp_path / f"{case}.S"
    src.write_text("#include <hypercall.h>\n" + CASES[case])
    plain = kasm(["build", str(src)], env)
    files = [p.read_bytes() if p.exists() else None for p in
             (src.with_suffix(".bin"), src.with_suffix(".elf"))]
    for p in (src.with_suffix(".bin"), src.with_suffix(".elf")):
        p.unlink(missing_ok=True)
    full = kasm(["build", "--base", "0x1000", str(src)], env)  # through typer
    assert (plain.returncode, plain.stdout, plain.stderr) == (
        full.returncode, full.stdout, full.stderr)
    assert files == [p.read_bytes() if p.exists() else None for p in
                     (src.with_suffix(".bin"), src.with_suffix(".elf"))]


def test_plain_build_from_stdin_without_output_is_the_full_usage_error(env):
    def build(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kasm", "build", *args], cwd=ROOT,
                              capture_output=True, text=True, input=".code16\nhlt\n",
                              env=env, timeout=60)

    plain, full = build("-"), build("--base", "0x1000", "-")
    assert plain.returncode == full.returncode == 2
    assert plain.stderr == full.stderr


def test_first_build_imports_no_cli_framework_or_elf_library(tmp_path, env):
    src = tmp_path / "hello.S"
    src.write_text("#include <hypercall.h>\n" + CASES["hello"])
    r = kasm(["build", str(src)], dict(env, KASM_NO_CACHE="1"), ("-X", "importtime"))
    assert r.returncode == 0
    loaded = set(re.findall(r"\|\s*(\S+)$", r.stderr, re.M))
    assert {"typer", "lief"} & loaded == set()


@pytest.mark.parametrize("args", [["run"], ["run", "--help"], ["run", "--bogus", "x.S"],
                                  ["--help"], ["build", "--bogus", "x.S"]])
def test_other_command_lines_go_through_the_full_cli(args, env):
    r = kasm(args, env)
    assert "Traceback" not in r.stderr
    assert "Usage: kasm" in r.stdout + r.stderr


def test_kasm_build_loads_no_vmm_machinery(tmp_path, env):
    """kasm shares vmm's vocabulary (modes, exit codes) but needs none of the VMM to build."""
    src = tmp_path / "t.S"
    src.write_text(".code16\n_start: hlt\n")
    r = kasm(["build", str(src)], env, ("-X", "importtime"))
    assert r.returncode == 0, r.stderr
    loaded = set(re.findall(r"\|\s*(\S+)$", r.stderr, re.M))
    vmm_modules = {m for m in loaded if m.startswith("vmm")}
    assert vmm_modules <= {"vmm", "vmm.lazy", "vmm.values", "vmm.vocabulary", "vmm.terminal"}
    assert not {"cffi", "_cffi_backend"} & loaded
