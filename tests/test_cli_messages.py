"""What kasm says about its command line, its output files and options that do nothing:
exact text, one line, a documented exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HELLO = '#include <hypercall.h>\n.code16\n_start:\n    hc_print "hi"\n    hlt\n'
NO_NEWLINE = '#include <hypercall.h>\n.code16\n_start:\n    hc_print "abc"\n    hlt\n'


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "KASM_NO_CACHE"}
    e["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return e


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "t.S").write_text(HELLO)
    return tmp_path


def kasm(*args: str, cwd: Path, env: dict[str, str],
         **kw: object) -> subprocess.CompletedProcess:
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "kasm", *args], stderr=subprocess.PIPE,
                          text=True, cwd=cwd, env=env, timeout=60, stdin=subprocess.DEVNULL,
                          **kw)  # type: ignore[call-overload]


def sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    kasm_cmd = f"'{sys.executable}' -m kasm"
    return subprocess.run(["bash", "-c", command.replace("kasm ", kasm_cmd + " ", 1)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def usage_error(r: subprocess.CompletedProcess) -> str:
    """The last line of a usage error (typer's `Error: ...`), once its exit code is checked."""
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    return r.stderr.strip().splitlines()[-1]


# --- -o ----------------------------------------------------------------------------------------
def test_empty_output_name_is_a_usage_error(work, env):
    r = kasm("build", "-o", "", "t.S", cwd=work, env=env)
    assert usage_error(r) == "Error: Invalid value for '-o': '' is not a file name"


@pytest.mark.parametrize("output", [".", "./", "sub", "sub/"])
def test_output_naming_a_directory_writes_the_sources_name_in_it(output, work, env):
    (work / "sub").mkdir()
    r = kasm("build", "-o", output, "t.S", cwd=work, env=env)
    assert (r.returncode, r.stderr) == (0, "")
    where = work / output
    assert (where / "t.bin").read_bytes()[:1] and (where / "t.elf").exists()


def test_output_directory_that_does_not_exist_is_one_line_and_exit_1(work, env):
    r = kasm("build", "-o", "missing/", "t.S", cwd=work, env=env)
    assert (r.returncode, r.stderr) == (
        1, "kasm: error: cannot write missing/t.bin: No such file or directory\n")


def test_output_to_the_root_directory_is_not_a_traceback(tmp_path, env):
    name = f"kasm-test-{os.getpid()}"
    (tmp_path / f"{name}.S").write_text(HELLO)
    r = kasm("build", "-o", "/", f"{name}.S", cwd=tmp_path, env=env)
    written = [Path(f"/{name}.bin"), Path(f"/{name}.elf")]
    for p in written:
        p.unlink(missing_ok=True)
    if r.returncode:  # not root: / is not writable
        assert r.stderr == f"kasm: error: cannot write /{name}.bin: Permission denied\n"
    else:
        assert r.stderr == ""


def test_output_that_cannot_be_written_names_the_file(work, env):
    r = kasm("build", "-o", "/dev/full", "t.S", cwd=work, env=env)
    assert (r.returncode, r.stderr) == (
        1, "kasm: error: cannot write /dev/full: No space left on device\n")


# --- help, version -------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--help"], ["-h"], ["run", "--help"], ["run", "-h"],
                                  ["build", "--help"], ["build", "-h"], ["--version"]])
def test_help_that_cannot_be_written_is_one_line_and_exit_1(args, work, env):
    with open("/dev/full", "w") as full:
        r = kasm(*args, cwd=work, env=env, stdout=full)
    assert (r.returncode, r.stderr) == (
        1, "kasm: error: cannot write to stdout: No space left on device\n")


@pytest.mark.parametrize("command", [[], ["run"], ["build"]])
def test_dash_h_is_help(command, work, env):
    short = kasm(*command, "-h", cwd=work, env=env)
    assert short.returncode == 0
    assert short.stdout == kasm(*command, "--help", cwd=work, env=env).stdout
    assert short.stdout.startswith(f"Usage: kasm {' '.join(command)}".rstrip() + " [OPTIONS]")


def test_version(work, env):
    from importlib.metadata import version

    r = kasm("--version", cwd=work, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"kasm {version('kasm')}\n", "")


def test_top_level_help_shows_whole_command_descriptions(work, env):
    out = kasm("--help", cwd=work, env=env).stdout
    assert "..." not in out.split("Commands:")[1]
    assert "build   Assemble and link FILE into FILE.bin and FILE.elf." in out
    assert "run     Build FILE (or take a .bin/.elf image) and boot it." in out
    assert "disasm  Disassemble an .elf or .bin image (no binutils needed)." in out


@pytest.mark.parametrize("command", ["run", "build"])
def test_help_placeholders_are_plain_words(command, work, env):
    out = kasm(command, "--help", cwd=work, env=env).stdout
    assert out.startswith(f"Usage: kasm {command} [OPTIONS] FILE\n")
    assert "<" not in out and "{" not in out
    for placeholder in ("--base ADDR", "-I, --include DIR", "-D, --define NAME[=VALUE]"):
        assert placeholder in out
    if command == "run":
        for placeholder in ("--mem SIZE", "--mode MODE", "--timeout SECONDS",
                            "--stats-json FILE"):
            assert placeholder in out
    else:
        assert "-o, --output FILE" in out


# --- option values ---------------------------------------------------------------------------
def test_memory_size_error_echoes_what_was_typed(work, env):
    r = kasm("run", "--mem", "100G", "t.S", cwd=work, env=env)
    assert usage_error(r) == ("Error: Invalid value for '--mem': memory size '100G': must be "
                              "between 64 KiB and 64 GiB")
    r = kasm("run", "--mem", "65537", "t.S", cwd=work, env=env)
    assert usage_error(r) == ("Error: Invalid value for '--mem': memory size '65537': must be a "
                              "multiple of 4 KiB")


@pytest.mark.parametrize("command", [["run"], ["build"], ["disasm"]])
@pytest.mark.parametrize(("base", "message"), [
    ("zz", "'zz' is not an address (use e.g. 0x1000)"), ("-1", "'-1' is out of range")])
def test_a_bad_base_is_a_usage_error_naming_the_option(command, base, message, work, env):
    target = "t.bin" if command == ["disasm"] else "t.S"
    (work / "t.bin").write_bytes(b"\xf4")
    r = kasm(*command, "--base", base, target, cwd=work, env=env)
    assert usage_error(r) == f"Error: Invalid value for '--base': {message}"


def test_an_empty_image_is_refused_before_it_runs(work, env):
    (work / "empty.bin").write_bytes(b"")
    r = kasm("run", "empty.bin", cwd=work, env=env)
    assert (r.returncode, r.stderr) == (
        3, "kasm: error: empty.bin: an empty image: nothing to run\n")
    r = subprocess.run([sys.executable, "-m", "vmm", "empty.bin"], capture_output=True,
                       text=True, cwd=work, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stderr) == (
        3, "vmm: error: empty.bin: an empty image: nothing to run\n")


def test_a_stats_file_that_cannot_be_written_is_exit_3(work, env, kvm_device):
    r = kasm("run", "--stats-json", "/dev/full", "t.S", cwd=work, env=env)
    assert (r.returncode, r.stderr) == (
        3, "kasm: error: cannot write /dev/full: No space left on device\n")


@pytest.mark.parametrize("args", [["--help"], ["-h"]])
def test_vmm_help_that_cannot_be_written_is_one_line_and_exit_1(args, work, env):
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "vmm", *args], stdout=full,
                           stderr=subprocess.PIPE, text=True, cwd=work, env=env, timeout=60)
    assert (r.returncode, r.stderr) == (
        1, "vmm: error: cannot write to stdout: No space left on device\n")


def test_vmm_usage_errors_are_plain_text(work, env):
    r = subprocess.run([sys.executable, "-m", "vmm", "--bogus", "x"], capture_output=True,
                       text=True, cwd=work, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.splitlines()[-1].startswith("Error: No such option")
    assert "╭" not in r.stderr


@pytest.mark.parametrize(("define", "message"), [
    ("1BAD=3", "'1BAD' is not a macro name (a letter or _, then letters, digits or _)"),
    ("=3", "'=3' has no macro name (use NAME or NAME=VALUE)"),
    ("", "'' has no macro name (use NAME or NAME=VALUE)"),
    ("A-B", "'A-B' is not a macro name (a letter or _, then letters, digits or _)"),
])
@pytest.mark.parametrize("command", ["build", "run"])
def test_bad_define_is_a_usage_error_naming_the_option(command, define, message, work, env):
    r = kasm(command, "-D", define, "t.S", cwd=work, env=env)
    assert usage_error(r) == f"Error: Invalid value for '-D': {message}"


def test_good_defines_still_work(work, env, kvm_device):
    (work / "d.S").write_text("#include <hypercall.h>\n.code16\n_start:\n hc_putnum $(A+B_2)\n"
                              " hlt\n")
    r = kasm("run", "-D", "A=40", "-D", "B_2=2", "d.S", cwd=work, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "42", "")


# --- options that do nothing: warnings -------------------------------------------------------
@pytest.fixture
def images(work, env) -> Path:
    assert kasm("build", "t.S", cwd=work, env=env).returncode == 0
    return work


@pytest.mark.parametrize(("args", "warning"), [
    (["--base", "0x2000", "t.elf"],
     "kasm: warning: --base has no effect on an ELF image: it is loaded at its own addresses"),
    (["-D", "X=1", "t.elf"], "kasm: warning: -D has no effect on a .elf image: only sources "
                             "are built"),
    (["-I", "inc", "t.bin"], "kasm: warning: -I has no effect on a .bin image: only sources "
                             "are built"),
])
def test_options_that_do_nothing_for_an_image_are_warned_about(args, warning, images, env,
                                                                kvm_device):
    r = kasm("run", *args, cwd=images, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi", warning + "\n")


def test_define_for_a_source_that_is_not_preprocessed_is_warned_about(work, env, kvm_device):
    (work / "plain.s").write_text(".code16\n_start: hlt\n")
    r = kasm("run", "-D", "X=1", "plain.s", cwd=work, env=env)
    assert (r.returncode, r.stderr) == (
        0, "kasm: warning: -D has no effect on a .s file: only .S files are preprocessed\n")


@pytest.mark.parametrize(("source", "mode", "warning"), [
    ("t.S", "long", "--mode long runs 64-bit code, but t.S starts as 16-bit code (.code16 or "
                    "no .code directive)"),
    ("examples/protected/hello.S", "real", "--mode real runs 16-bit code, but "
     "examples/protected/hello.S starts as 32-bit code (.code32)"),
])
def test_a_mode_that_contradicts_the_source_is_warned_about(source, mode, warning, work, env,
                                                             kvm_device):
    cwd = work if source == "t.S" else ROOT
    r = kasm("run", "--mode", mode, "--timeout", "5", source, cwd=cwd, env=env)
    assert r.stderr.startswith(f"kasm: warning: {warning}\n")


def test_a_mode_that_agrees_with_the_source_is_not_warned_about(env, kvm_device):
    r = kasm("run", "--mode", "protected", "examples/protected/hello.S", cwd=ROOT, env=env)
    assert (r.returncode, r.stderr) == (0, "")


# --- after the run ---------------------------------------------------------------------------
def test_guest_output_lost_to_a_closed_stdout_is_warned_about(work, env, kvm_device):
    r = sh("kasm run t.S >&-", work, env)
    assert (r.returncode, r.stderr) == (
        0, "kasm: warning: stdout is closed: 2 bytes of guest output were discarded\n")
    (work / "quiet.S").write_text(".code16\n_start: hlt\n")
    r = sh("kasm run quiet.S >&-", work, env)
    assert (r.returncode, r.stderr) == (0, "")


def test_stats_start_on_their_own_line_when_they_share_the_guests_stream(work, env,
                                                                         kvm_device):
    (work / "n.S").write_text(NO_NEWLINE)
    r = sh("kasm run --stats n.S 2>&1", work, env)
    assert r.stdout.startswith("abc\nend: hlt\n")
    r = sh("kasm run --stats n.S", work, env)  # separate streams: nothing to separate
    assert r.stdout == "abc" and r.stderr.startswith("end: hlt\n")
    r = sh("kasm run --stats t.S 2>&1", work, env)  # hi, no newline either
    assert r.stdout.startswith("hi\nend: hlt\n")


def test_a_program_larger_than_memory_is_refused_before_it_is_cached(work, env):
    (work / "big.S").write_text(".code16\n_start: hlt\n.bss\n.skip 0x200000\n")
    r = kasm("run", "--mem", "1M", "big.S", cwd=work, env=env)
    assert (r.returncode, r.stderr) == (
        1, "kasm: error: big.S: the program needs memory up to 0x201001, but the guest has 1M "
           "(0x100000 bytes); use a larger --mem\n")
    assert not list((work / "cache").rglob("*.bin"))


def test_map_leaves_out_local_dot_l_labels(work, env):
    (work / "l.S").write_text(".code16\n_start:\n.Lloop: jmp .Lloop\nnamed: hlt\n")
    r = kasm("build", "--map", "l.S", cwd=work, env=env)
    assert r.returncode == 0
    assert "named" in r.stdout and ".Lloop" not in r.stdout
