"""No source text makes kasm traceback, crash or hang: it builds, or it reports SourceError.

Every input is built in a worker process (tests/support/source_fuzz.py), so a keystone
segfault or a hang fails the test with the input instead of killing pytest. Three strategies:
random punctuation-rich text, mutations of the real sources (examples/ and tests/asm/), and
random instruction/directive programs. CI runs a few hundred derandomized examples; for a
long search run `python tests/support/source_fuzz.py --count 20000` (or set
SOURCE_FUZZ_EXAMPLES for this test).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import source_fuzz as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("SOURCE_FUZZ_EXAMPLES", "100"))
TIMEOUT = 15.0  # seconds for one build; the slowest fuzz input takes well under one
SOURCES = sf.corpus()
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def worker():
    w = sf.Worker()
    yield w
    w.close()


def assert_clean(worker: sf.Worker, text: str) -> None:
    answer = worker.check(text, TIMEOUT)
    if answer["status"] == "crash":
        # keystone state persists across inputs in one worker: judge the input on its own
        answer = sf.Worker(worker.cwd).check_once(text, TIMEOUT)
    assert answer["status"] in ("ok", "error"), (
        f"{answer['status']}: {answer['detail']}\n{answer.get('traceback', '')}\n"
        f"input: {text!r}")


def test_corpus_is_there():
    assert len(SOURCES) >= 40


@FUZZ
@given(st.text(alphabet=sf.ALPHABET, max_size=300))
def test_random_punctuation_text(worker, text):
    assert_clean(worker, text)


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(0, len(SOURCES) - 1))
def test_mutated_real_sources(worker, rng, index):
    assert_clean(worker, sf.mutate(rng, SOURCES[index]))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_random_instruction_programs(worker, rng):
    assert_clean(worker, sf.random_program(rng))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_plausible_instruction_programs(worker, rng):
    assert_clean(worker, sf.plausible_program(rng))


HOSTILE = [
    "hlt\n.byte " + "(" * 5000 + "1" + ")" * 5000,  # deep nesting
    "hlt\n.byte " + "-" * 5000 + "1",
    "hlt\n.long " + "+".join(["1"] * 3000),
    ".code16\n_start: hlt\n" + "".join(f".equ s{i}, s{i + 1}+1\n" for i in range(3000))
    + ".equ s3000, 1\n.byte s0\n",  # a symbol chain thousands deep
    "hlt\n.macro m a\n\\a\n.endm\nm\nm ,\n",  # a macro line that substitutes to nothing
    "hlt\n#define\n",  # pcpp raises on these
    '#include "loop.h"\nhlt\n',  # recursive #include
    '.include "self.inc"\nhlt\n',
    'hlt\n.include "' + "a" * 5000 + '"\n',  # file name too long for the file system
    'hlt\n.error "\\377"\n',  # a message that is not UTF-8
    "hlt\n.rept 1000000\n.rept 1000000\nnop\n.endr\n.endr\n",
    "hlt\n.macro m\nm\nm\n.endm\nm\n",
    "#define A0 x x\n" + "".join(f"#define A{i} A{i - 1} A{i - 1}\n" for i in range(1, 40))
    + "hlt\n.byte A39\n",  # a #define bomb
    ".code16\n_start: hlt\n" + ".rept 1000\n" * 3 + "nop\n" + ".endr\n" * 3,  # 10**9 nops
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_sources(worker, text):
    assert_clean(worker, text)


def test_irp_opened_in_a_macro_reads_on_past_its_end():
    """GNU as reads a .irp's body on past the end of the macro that opened it (found by
    fuzzing: kasm popped that macro's expansion once per .irp value, an IndexError)."""
    from kasm.build import build_source

    src = (".macro pushall regs:vararg\n    .irp r, \\regs\n    push \\r\n.endm\n"
           ".code16\n    pushall %ax, %bx\n    .endr\n    hlt\n")
    assert build_source(src, "irp.S").image.sections[0].data == bytes.fromhex("5053f4")


def _cli_sample() -> list[str]:
    rng = random.Random(1)
    return HOSTILE[:6] + [sf.random_source(rng, SOURCES) for _ in range(6)]


@pytest.mark.parametrize("index", range(len(_cli_sample())))
def test_cli_on_fuzz_inputs_exits_cleanly(worker, index, tmp_path):
    text = _cli_sample()[index]
    answer = worker.check(text, TIMEOUT)
    src = tmp_path / "fuzz.S"
    src.write_text(text, errors="surrogateescape")
    for name, content in sf.INCLUDES.items():
        (tmp_path / name).write_text(content)
    r = subprocess.run([sys.executable, "-m", "kasm", "build", "fuzz.S", "-o", "out.bin"],
                       capture_output=True, text=True, errors="replace", cwd=tmp_path,
                       timeout=60, env={**os.environ, "KASM_NO_CACHE": "1"})
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode == (1 if answer["status"] == "error" else 0), r.stderr
    if r.returncode == 1:
        assert r.stderr.startswith("fuzz.S:"), r.stderr
        assert ": error: " in r.stderr.splitlines()[0]


def test_worker_reports_crash_and_hang(tmp_path):
    """The harness itself: a dead or silent worker is a finding, not a pytest crash."""
    w = sf.Worker(tmp_path)
    try:
        w.proc = subprocess.Popen([sys.executable, "-c", "import os; os.abort()"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert w.check("hlt", 5)["status"] == "crash"
        w.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert w.check("hlt", 0.5)["status"] == "hang"
        assert w.check("hlt", TIMEOUT)["status"] == "ok"  # a fresh worker again
    finally:
        w.close()
    assert Path(tmp_path).is_dir()
