# Build, lint and test every package of the monorepo.
#
#   make run          build + install the wheels, then run circusd on examples/circus.ini
#   make test         system deps, wheels, lint, then every test suite (what CI runs)
#   make test-stress  every test suite again, with a CPU hog on each core
#   make lint         ruff check + mypy --strict
#   make bench        build + install, then bench/run.py
#   make bench-check  the same, exiting non-zero when one of our numbers misses its target
#   make clean        remove the virtualenv and everything the build left behind
#
# Tests run against the *installed wheels*, never against src/: a module, entry
# point or data file that the wheel forgets makes the tests fail, as it would
# for a user. See the `test` recipe for how that is kept true.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stamp: rebuilt only when requirements-dev.txt changes, so reruns are fast.
VENV_STAMP := $(VENV)/.dev-requirements.stamp
WHEELS := build/wheels
RESULTS := build/test-results

# A package is buildable once it has a src/ dir; packages that only hold a
# pyproject.toml and a README (filled in by later issues) are skipped.
PACKAGES := $(patsubst %/src/,%,$(sort $(wildcard packages/*/src/)))
# Everything ruff looks at; only dirs that exist (ruff warns on missing paths).
LINT_PATHS := $(wildcard $(addsuffix /src,$(PACKAGES)) $(addsuffix /tests,$(PACKAGES)) \
                         integration-tests bench examples tools)

# Debian packages the test suites use, as `command:package` pairs; a command
# written `python:MODULE` is a module $(PYTHON) must import.
#   sshd, ssh-keygen: circus-ctl's --ssh tunnel is tested through a real sshd.
#   ip, unshare:      socket tests run in a network namespace of their own, with
#                     a dummy interface (SO_BINDTODEVICE, the `interface` option).
#   ensurepip:        `python3 -m venv` (the .venv, and the peers' throwaway venvs).
#   chromium, chromedriver: circus-web's real-browser tests (selenium drives them);
#                     circus-web's wheel build runs npm (uPlot, fetched and checked).
#   docker-compose:   `docker-compose config` validates docker-compose.yml (no
#                     container engine is needed, or run).
#   systemd-analyze:  `systemd-analyze verify` checks examples/systemd/*.service.
#   tc:               the namespace tests delay a veth link with netem (iproute2).
# Later issues add e.g. `redis-server:redis-server` (redis observer plugin).
SYSTEM_DEPS := /usr/sbin/sshd:openssh-server ssh-keygen:openssh-client \
               ip:iproute2 tc:iproute2 unshare:util-linux python:ensurepip:python3-venv \
               redis-server:redis-server node:nodejs npm:npm \
               chromium:chromium chromedriver:chromium-driver \
               docker-compose:docker-compose systemd-analyze:systemd

# Never let the source tree leak onto sys.path: no cwd / script dir entry
# (3.11+, ignored by 3.10), and no user-site packages.
TEST_ENV := PYTHONSAFEPATH=1 PYTHONNOUSERSITE=1

.PHONY: help venv system-deps wheels install run lint test test-stress suites bench \
        bench-check bench-deps clean

help:
	@echo "targets: run test test-stress lint bench bench-check install clean"
	@echo "packages with src/: $(notdir $(PACKAGES))"

# --------------------------------------------------------------------------
# virtualenv

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt $(wildcard tools/pytest-circus-guards/*)
	@if [ ! -x $(BIN)/python ]; then \
	  if ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	    echo "$(PYTHON) cannot create virtualenvs; on Debian: apt-get install python3-venv" >&2; \
	    exit 1; \
	  fi; \
	  echo "creating $(VENV) with $$($(PYTHON) --version)"; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

# --------------------------------------------------------------------------
# system packages

# Idempotent: checks each SYSTEM_DEPS command and installs (as root, with apt)
# only what is missing, so later issues only have to add a name above.
system-deps:
	@missing=""; \
	for dep in $(SYSTEM_DEPS); do \
	  package="$${dep##*:}"; check="$${dep%:*}"; \
	  case "$$check" in \
	    python:*) $(PYTHON) -c "import $${check#python:}" >/dev/null 2>&1 \
	                || missing="$$missing $$package";; \
	    *) command -v "$$check" >/dev/null 2>&1 || missing="$$missing $$package";; \
	  esac; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	  echo "missing system packages:$$missing (apt-get install$$missing)" >&2; \
	  exit 1; \
	fi

# --------------------------------------------------------------------------
# wheels

# Real wheels, rebuilt from scratch each time. setuptools' in-tree build/lib
# and egg-info are removed first: a stale copy of a deleted module there would
# otherwise end up in the new wheel and hide the deletion.
wheels: $(VENV_STAMP)
	@rm -rf $(WHEELS) && mkdir -p $(WHEELS)
	@for pkg in $(PACKAGES); do \
	  echo "building wheel: $$pkg"; \
	  rm -rf "$$pkg/build" "$$pkg"/src/*.egg-info; \
	  $(BIN)/python -m build --wheel --outdir $(WHEELS) "$$pkg" > build/wheel-build.log 2>&1 \
	    || { cat build/wheel-build.log >&2; echo "wheel build failed: $$pkg" >&2; exit 1; }; \
	  rm -rf "$$pkg/build" "$$pkg"/src/*.egg-info; \
	done

# --force-reinstall --no-deps replaces whatever is installed (a same-version
# rebuild included, removing files the new wheel no longer has); the second,
# ordinary install then resolves the runtime dependencies.
install: wheels
	@test -n "$(PACKAGES)" || { echo "no package has a src/ dir yet" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps $(WHEELS)/*.whl
	$(BIN)/python -m pip install --quiet $(WHEELS)/*.whl

# --------------------------------------------------------------------------
# run, bench

# circusd in the foreground; Ctrl-C stops it and its watchers. The config
# resolves its relative paths (working_dir, logs/worker.log) against its own
# directory, so this works from any cwd.
run: install
	exec $(BIN)/circusd examples/circus.ini

bench: install bench-deps
	$(BIN)/python bench/run.py

# Speed is checked here, not in the test suites: our row of every target the
# run measured must meet it (see "make bench-check" in README.md).
bench-check: install bench-deps
	$(BIN)/python bench/run.py --check

# Tools only the bench uses (matplotlib for the soak plots): kept out of
# requirements-dev.txt so that `make test` and CI never install them.
bench-deps: $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt

# --------------------------------------------------------------------------
# lint

# mypy runs once per package (each has its own tests/ package); MYPYPATH=src
# plus --explicit-package-bases maps src/circus/x.py to circus.x, which keeps
# working once several packages contribute to the `circus` namespace.
# Tests are checked too, relaxed by the [[tool.mypy.overrides]] in pyproject.toml.
lint: $(VENV_STAMP)
	@failed=""; \
	echo "ruff check $(LINT_PATHS)"; \
	$(BIN)/ruff check --output-format=concise $(LINT_PATHS) || failed="$$failed ruff"; \
	for pkg in $(PACKAGES); do \
	  targets=$$(cd "$$pkg" && for d in src/*/; do case "$$d" in *.egg-info/) ;; *) printf '%s ' "$${d%/}";; esac; done); \
	  [ -n "$$(find "$$pkg/tests" -name '*.py' 2>/dev/null | head -n 1)" ] && targets="$$targets tests"; \
	  echo "mypy $$pkg: $$targets"; \
	  (cd "$$pkg" && MYPYPATH=src ../../$(BIN)/mypy --config-file ../../pyproject.toml \
	      --cache-dir ../../.mypy_cache/$$(basename "$$pkg") --explicit-package-bases $$targets) \
	  || failed="$$failed mypy:$$pkg"; \
	done; \
	echo "mypy tools"; \
	(cd tools/pytest-circus-guards && ../../$(BIN)/mypy --config-file ../../pyproject.toml \
	  --cache-dir ../../.mypy_cache/tools circus_test_guards.py) || failed="$$failed mypy:tools"; \
	echo "mypy integration-tests"; \
	(cd integration-tests && ../$(BIN)/mypy --config-file ../pyproject.toml \
	  --cache-dir ../.mypy_cache/integration-tests .) \
	  || failed="$$failed mypy:integration-tests"; \
	if [ -n "$$failed" ]; then echo "lint failed:$$failed" >&2; exit 1; fi

# --------------------------------------------------------------------------
# test

# Each suite runs from its own directory with pytest's default import mode.
# That puts tests/ (or, if tests/ is a package, the package dir) on sys.path,
# never src/, and TEST_ENV keeps the cwd off it, so `import circus` can only
# find the installed wheel in site-packages. integration-tests/test_packaging.py
# asserts exactly that.
#
# Every package with a src/ dir must have tests: one without test files fails,
# and so does pytest's exit code 5 ("no tests collected"). Every suite runs even
# after one fails; the last line adds up all suites from their JUnit XML. Each
# suite's pytest config sets a per-test timeout (pytest-timeout).
test: system-deps install lint
	@$(MAKE) --no-print-directory suites

# The suites alone, against what is installed (test and test-stress run it).
suites:
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@failed=""; \
	for dir in $(PACKAGES) integration-tests; do \
	  testdir="$$dir"; [ "$$dir" = integration-tests ] || testdir="$$dir/tests"; \
	  if [ -z "$$(find "$$testdir" -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | head -n 1)" ]; then \
	    echo "$$dir: has source but no tests ($$testdir/test_*.py)" >&2; \
	    failed="$$failed $$dir"; continue; \
	  fi; \
	  echo "== $$dir"; \
	  name=$$(basename "$$dir"); \
	  rc=0; \
	  if [ "$$dir" = integration-tests ]; then \
	    (cd "$$dir" && $(TEST_ENV) ../$(BIN)/python -m pytest -q -p no:cacheprovider \
	        --junitxml=../$(RESULTS)/$$name.xml .) || rc=$$?; \
	  else \
	    (cd "$$dir" && $(TEST_ENV) ../../$(BIN)/python -m pytest -q -p no:cacheprovider \
	        --junitxml=../../$(RESULTS)/$$name.xml tests) || rc=$$?; \
	  fi; \
	  if [ $$rc -eq 5 ]; then echo "$$dir: test files present but no tests collected" >&2; fi; \
	  if [ $$rc -ne 0 ]; then failed="$$failed $$dir"; fi; \
	done; \
	if ls $(RESULTS)/*.xml >/dev/null 2>&1; then $(BIN)/python -c "$$SUMMARY_PY" $(RESULTS)/*.xml; fi; \
	if [ -n "$$failed" ]; then echo "failed suites:$$failed" >&2; exit 1; fi

# Every suite on a machine with no core to spare: one busy-looping process per
# core (nice 0, as the tests) for the whole run. The suites run as a background
# job of this non-interactive shell, which starts them with SIGINT ignored, as
# `make test &` does. The hogs are killed by pid however the run ends; they
# are the venv's python, the interpreter itself (a pyenv shim would put a
# shell in between, and killing that would leave the hog running).
test-stress: system-deps install
	@hogs=""; \
	trap 'kill $$hogs 2>/dev/null || true' EXIT; \
	cores=$$(nproc); \
	for _ in $$(seq "$$cores"); do \
	  $(BIN)/python -c 'while True: pass' & hogs="$$hogs $$!"; \
	done; \
	echo "test-stress: $$cores CPU hogs (pids$$hogs)"; \
	started=$$(date +%s); \
	rc=0; \
	CIRCUS_CHAOS_STATUS_P99_MS=$${CIRCUS_CHAOS_STATUS_P99_MS:-100} \
	  $(MAKE) --no-print-directory suites & wait $$! || rc=$$?; \
	echo "test-stress: $$(( $$(date +%s) - started )) s under load, exit $$rc"; \
	exit $$rc

# Adds up the JUnit XML of every suite into one closing line.
define SUMMARY_PY
import sys
import xml.etree.ElementTree as ET

totals = dict(tests=0, failures=0, errors=0, skipped=0)
for path in sys.argv[1:]:
    root = ET.parse(path).getroot()
    for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
failed = totals["failures"] + totals["errors"]
print(f"total: {passed} passed, {failed} failed, {totals['skipped']} skipped")
endef
export SUMMARY_PY

# --------------------------------------------------------------------------
# clean

clean:
	rm -rf $(VENV) build packages/*/build packages/*/dist packages/*/src/*.egg-info
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.git -prune -o \
	  \( -name __pycache__ -o -name .pytest_cache -o -name .mypy_cache \
	     -o -name .ruff_cache -o -name .hypothesis \) -type d -prune -exec rm -rf {} +
