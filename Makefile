# The README's commands. Each creates/updates .venv itself, so a fresh machine needs only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench bench-smoke fuzz forms clean

$(BIN)/kasm: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/kasm
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/kasm
	$(BIN)/kasm run examples/multiplication.S
	@echo
	@echo "kasm is installed in $(BIN)/. To type plain 'kasm': source $(BIN)/activate"
	@echo "(or install it for your user: pipx install .   or   pip install --user .)"

test: $(VENV)/.test-deps
	$(BIN)/ruff check kasm vmm tests bench tools
	$(BIN)/pytest -q

lint: $(VENV)/.test-deps
	$(BIN)/ruff check kasm vmm tests bench tools

SEED_VMM := bench/build/seed_vmm

$(SEED_VMM): bench/seed_vmm.c
	mkdir -p bench/build
	gcc -O2 -Wall -o $@ $<

bench: $(VENV)/.test-deps $(SEED_VMM)
	$(BIN)/python bench/run.py

bench-smoke: $(VENV)/.test-deps $(SEED_VMM)
	$(BIN)/python bench/run.py --smoke

fuzz: $(VENV)/.test-deps
	FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -s -p no:cacheprovider tests/vmm/test_fuzz.py \
		tests/vmm/test_differential.py
	FIDELITY_EXAMPLES=5000 $(BIN)/pytest -q -s -p no:cacheprovider \
		tests/kasm/test_fidelity_fuzz.py

# kasm/x86/verified_forms.txt: the forms kasm may hand keystone, verified against GNU as
# (needs binutils and capstone's Python package; ~10 minutes)
forms: $(VENV)/.test-deps
	$(BIN)/python tools/verify_forms.py

clean:
	rm -rf $(VENV) build *.egg-info bench/build
