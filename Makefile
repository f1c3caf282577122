# examday: `make demo` and `make test` set themselves up on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup system clean bench

$(STAMP): pyproject.toml
	@bash scripts/system-packages.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m compileall -q simulator  # bytecode as a wheel install has it (read even under PYTHONDONTWRITEBYTECODE)
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m simulator demo

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
