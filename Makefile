# Everything a fresh machine needs, in two commands: `make dashboard` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: dashboard test venv browser bench mutation screenshots

# Bytecode is written as each module is first imported, not ahead of time: pip compiles every installed file,
# one at a time (about 75 s here), and `compileall -j 0` (about 26 s on 2 cores) compiles the many files of
# torch and Ray that nothing here imports. So the commands below must be free to write it, even where the
# environment says otherwise (without it, every process would compile torch again).
unexport PYTHONDONTWRITEBYTECODE

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# Debian's Chromium for the browser test (Playwright cannot download its own browser here)
browser:
	@command -v chromium >/dev/null && [ -d /usr/share/fonts/truetype/noto ] || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium fonts-noto-color-emoji)

dashboard: venv
	$(VENV)/bin/streamlit run dashboard.py

test: venv browser
	$(PY) -m pytest -q

# mutation testing of config, store, losses and sampling (README, "Mutation testing"); one torch thread, as a
# forked child of a process that already ran OpenMP code hangs in its next parallel region
mutation: venv
	$(PY) -m pip install -q -r requirements-mutation.txt
	OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run
	$(VENV)/bin/mutmut results

bench: venv
	$(PY) benchmarks/bench_train.py

# the README's screenshots, taken anew from a fresh run store (scripts/screenshots.py; about 5 minutes on 2 cores)
screenshots: venv browser
	$(PY) scripts/screenshots.py
