# kimi - build, test, demo and benchmark from a fresh machine.
#
#   make demo    stream a Kimi answer (the local server when no MOONSHOT_API_KEY)
#   make test    C unit tests under ASan/UBSan, then pytest
#   make bench   benchmarks against openai-python, a stdlib loop, curl, aiohttp, ...
#
# Each target installs what it needs: Debian packages (apt-get, as root),
# a .venv, and the extension built in place.

PYTHON ?= python3
# What the tests need from PyPI: pytest; openai-python as a real client of
# kimi.testing; nbclient and ipykernel to run a notebook as Jupyter does.
TEST_PIP := pytest setuptools wheel openai nbclient ipykernel
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := libcurl4-openssl-dev libcjson-dev pkg-config gcc make \
	python3-dev python3-venv openssl
CC ?= cc
CFLAGS_TEST := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
	-fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined -Iext/core
CORE_SRC := $(wildcard ext/core/*.c)
CORE_LIBS = $$(pkg-config --cflags --libs libcurl libcjson) -lpthread
CORE_HDR := $(wildcard ext/core/*.h)
C_TESTS := $(patsubst ext/tests/%.c,ext/tests/bin/%,$(wildcard ext/tests/test_*.c))
BUILT := $(VENV)/.built

.PHONY: all deps venv build test ctest pytest test-asan demo bench valgrind fuzz clean

all: build

# What the build needs from the system: a C compiler, pkg-config, libcurl,
# cJSON and the Python headers; the TLS tests make certificates with the
# openssl command.
PYTHON_H := $(shell $(PYTHON) -c "import os, sysconfig; \
	print(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))")

deps:
	@if ! command -v pkg-config >/dev/null 2>&1 \
	    || ! pkg-config --exists libcurl libcjson \
	    || ! command -v $(CC) >/dev/null 2>&1 \
	    || ! command -v openssl >/dev/null 2>&1 \
	    || [ ! -f "$(PYTHON_H)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(APT_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "kimi needs a C compiler, pkg-config, libcurl, cJSON and the"; \
	    echo "Python headers. Run:"; \
	    echo "    sudo apt-get install $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi

$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null \
	    && $(PYTHON) -m venv $(VENV); \
	  else echo "run: sudo apt-get install python3-venv"; exit 1; fi; }
	@$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	@$(PY) -m pip install -q $(TEST_PIP)

venv: $(PY)

# The extension is built in place; a .pth file puts the repo on the venv's
# path so `$(PY) -m kimi` works from any directory.
$(BUILT): $(PY) $(wildcard ext/core/*) $(wildcard ext/python/*) setup.py | deps
	@$(PY) setup.py -q build_ext --inplace
	@echo "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/kimi-dev.pth"
	@touch $@

build: deps $(BUILT)

ext/tests/bin/%: ext/tests/%.c $(CORE_SRC) $(CORE_HDR) ext/tests/check.h | deps
	@mkdir -p ext/tests/bin
	$(CC) $(CFLAGS_TEST) $< $(CORE_SRC) $(CORE_LIBS) -o $@

ctest: deps $(C_TESTS)
	@for t in $(C_TESTS); do \
	  KIMI_VECTORS=$(CURDIR)/tests/vectors ./$$t || exit 1; \
	done

# A venv made before a test dependency was added gets it here.
pytest: build
	@$(PY) -c "import importlib.util as u, sys; \
	  sys.exit(any(u.find_spec(m) is None for m in ('nbclient', 'ipykernel', 'openai')))" \
	  || $(PY) -m pip install -q $(TEST_PIP)
	$(PY) -m pytest -q tests

test: ctest pytest

demo: build
	@$(PY) -m kimi demo

# Benchmark-only contenders go into the venv here, not into the test venv; the
# concurrency scenarios need nginx and its echo module (as root, through apt-get).
BENCH_PIP := openai aiohttp httpx litellm
NGINX_ECHO := /usr/lib/nginx/modules/ngx_http_echo_module.so
bench: build
	@$(PY) -c "import importlib.util as u, sys; \
	  sys.exit(any(u.find_spec(m) is None for m in '$(BENCH_PIP)'.split()))" \
	  || $(PY) -m pip install -q $(BENCH_PIP)
	@if [ ! -x /usr/sbin/nginx ] || [ ! -f $(NGINX_ECHO) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nginx libnginx-mod-http-echo"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq nginx libnginx-mod-http-echo >/dev/null; \
	  else \
	    echo "the concurrency benchmarks need nginx with its echo module:"; \
	    echo "    sudo apt-get install nginx libnginx-mod-http-echo"; \
	  fi; \
	fi
	$(PY) -m benchmarks

# The pytest suite against the extension built with ASan and UBSan.
ASAN_RT = $$($(CC) -print-file-name=libasan.so):$$($(CC) -print-file-name=libubsan.so)
test-asan: build
	@rm -rf build/asan && mkdir -p build/asan && cp -r kimi build/asan/ \
	  && rm -f build/asan/kimi/*.so
	@KIMI_SANITIZE=1 $(PY) setup.py -q build_ext --force \
	  --build-lib build/asan --build-temp build/asan-tmp
	cd build/asan && LD_PRELOAD=$(ASAN_RT) ASAN_OPTIONS=detect_leaks=0 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 PYTHONPATH=. \
	  $(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider $(CURDIR)/tests

# The C tests once more without sanitizers, under valgrind's memcheck.
valgrind: deps
	@mkdir -p ext/tests/bin/vg
	@for src in $(wildcard ext/tests/test_*.c); do \
	  b=ext/tests/bin/vg/$$(basename $$src .c); \
	  $(CC) -std=c11 -D_GNU_SOURCE -g -O1 -Iext/core $$src $(CORE_SRC) \
	    $(CORE_LIBS) -o $$b || exit 1; \
	  KIMI_VECTORS=$(CURDIR)/tests/vectors valgrind -q --error-exitcode=1 \
	    --leak-check=full ./$$b >/dev/null || exit 1; \
	done; echo "valgrind: clean"

# libFuzzer targets, each run for FUZZ_SECONDS from the corpus it built in
# earlier runs (ext/tests/bin/corpus/NAME).  clang and its libFuzzer
# runtime are installed when missing (as root, through apt-get; Debian
# ships the runtime as libclang-rt-N-dev for clang N).
FUZZ_SECONDS ?= 60
FUZZ_PROBE = printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\
	{ (void)d; (void)n; return 0; }\n' | clang -fsanitize=fuzzer -x c - \
	-o /dev/null >/dev/null 2>&1
fuzz: deps
	@if ! $(FUZZ_PROBE); then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing clang and its libFuzzer runtime"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq clang >/dev/null || exit 1; \
	    v=$$(clang -dumpversion | cut -d. -f1); \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      libclang-rt-$$v-dev >/dev/null 2>&1 || true; \
	  fi; \
	  if ! $(FUZZ_PROBE); then \
	    echo "make fuzz needs clang with libFuzzer. Run:"; \
	    echo "    sudo apt-get install clang libclang-rt-14-dev"; \
	    exit 1; \
	  fi; \
	fi
	@mkdir -p ext/tests/bin
	@for f in $(wildcard ext/tests/fuzz_*.c); do \
	  name=$$(basename $$f .c); b=ext/tests/bin/$$name; \
	  mkdir -p ext/tests/bin/corpus/$$name; \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Iext/core $$f \
	    $(CORE_SRC) $(CORE_LIBS) -o $$b || exit 1; \
	  echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
	  ./$$b ext/tests/bin/corpus/$$name -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix=ext/tests/bin/$$name- 2>ext/tests/bin/$$name.log \
	    || { tail -n 60 ext/tests/bin/$$name.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" \
	    ext/tests/bin/$$name.log; \
	done

clean:
	rm -rf build ext/tests/bin kimi/*.so $(BUILT)
