# The two commands of the README: `make book` and `make test`. Everything else they need
# (a .venv with the pinned toolchain, Debian packages for the browser tests) is installed
# on first use by the targets below.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps
# Debian packages the tests use: Chromium for the browser tests.
# bubblewrap sandboxes graded student code; postgresql backs the optional shared gradebook.
APT_PACKAGES := chromium bubblewrap postgresql
PYTEST_ARGS ?=

.PHONY: help setup system-deps book test exercises grade bench clean

help:
	@echo "make book   build the HTML book into _build/html (strict: warnings fail)"
	@echo "make test   run the whole test suite"
	@echo "make setup  only create .venv with the pinned toolchain"

setup: $(STAMP)

# torch is installed alone first: the pinned CPU wheel is on disk on these machines, while
# resolving it together with the rest could pull the CUDA build from the registry.
$(STAMP): pyproject.toml requirements.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

# Debian packages (needs root, as on CI and these machines); skipped when all are present.
system-deps: $(SYSTEM_STAMP)
$(SYSTEM_STAMP): Makefile | $(STAMP)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	touch $@

# jupyter-cache keys a notebook on its code cells only: when the code or data the chapters
# import is newer than the cache, drop the cache and have Sphinx read every page again
# (--all; without it Sphinx rebuilds only the pages whose source changed, so the others
# would keep outputs of the old code). The book's own Sphinx extension (book/_ext) counts
# too: it changes every page it writes.
CACHE := _build/.jupyter_cache
EXECUTED := _build/.executed
book: $(STAMP)
	@all=; if [ -f $(EXECUTED) ] && [ -n "$$(find lstm_ref book/_scripts book/_ext data results -newer $(EXECUTED) -type f 2>/dev/null | head -1)" ]; then \
	  echo "lstm_ref/, book/_scripts/, book/_ext/, data/ or results/ changed: re-executing every chapter"; rm -rf $(CACHE); all=--all; fi; \
	echo "$(BIN)/jupyter-book build . --builder html -n -W --keep-going $$all"; \
	$(BIN)/jupyter-book build . --builder html -n -W --keep-going $$all
	@touch $(EXECUTED)

# MathJax served from the book's own _static, so the HTML renders its equations offline:
# npm installs the exact version in vendor/package-lock.json (checked against its hash) and
# its es5 build is copied to vendor/static/mathjax (gitignored), listed in _config.yml's
# html_static_path; without it the strict build fails. book and test both need it.
MATHJAX := vendor/static/mathjax/tex-mml-chtml.js
$(MATHJAX): vendor/package.json vendor/package-lock.json
	command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	cd vendor && npm ci --no-audit --no-fund --loglevel=error
	rm -rf vendor/static/mathjax && mkdir -p vendor/static
	cp -r vendor/node_modules/mathjax/es5 vendor/static/mathjax
	touch $@
book test: $(MATHJAX)

# pytest exits 5 when it collects no test; that is reported, not hidden as a failure.
test: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

# Regenerate exercises/ from solutions/ with nbgrader generate_assignment.
exercises: $(STAMP)
	$(BIN)/python scripts/make_exercises.py

# Autograde everything in submitted/, write feedback, export grades, print a score table.
grade: $(STAMP)
	$(BIN)/python -m grader grade $(GRADE_ARGS)

# Benchmark the NumPy, torch and fast paths against torch.nn.LSTM (prints ratios, writes JSON).
bench: $(STAMP)
	$(BIN)/python -m lstm_ref.bench $(BENCH_ARGS)

clean:
	rm -rf _build .pytest_cache
