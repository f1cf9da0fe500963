# gpx: build the plugin with each uWSGI binary, run the unit tests and linters.
#
#   make                 gpx_plugin.so for the `uwsgi` on PATH (build/system/)
#   make pypi            the same for PyPI's uwsgi in .venv (build/pypi/)
#   make install         copy build/system/gpx_plugin.so into that uwsgi's plugin directory
#   make unit            cmocka unit tests of src/ under AddressSanitizer and UBSan
#   make tsan            the unit tests of the master's threads (tests/unit/test_*_threads.c)
#                        under ThreadSanitizer
#   make lint            clang-format, cppcheck, the layers of src/ (tools/check_includes.py),
#                        ruff and shellcheck
#   make convert         the converter's mapping, without uWSGI (tests/convert, about a second)
#   make fuzz            libFuzzer targets of tests/fuzz, each for FUZZ_SECONDS (default 60)
#   make smoke           both builds, then the integration tests marked smoke against each
#   make check           lint, unit, tsan, convert and smoke: the developer's few minutes
#   make proto           src/metrics.pb-c.[ch] again from src/metrics.proto (protoc-c)
#   make native-table    src/gpx_native_table.c again (tools/gen_native_table.py)
#
# One job per core (JOBS, default: all of them): the test programs link src/
# compiled once per sanitizer set (tests/libgpx.mk), so the compilers run
# side by side; `make -j1 ...` for one at a time.

UWSGI ?= uwsgi
PYPI_UWSGI ?= $(CURDIR)/.venv/bin/uwsgi
VENV_PYTHON ?= $(CURDIR)/.venv/bin/python
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += -j$(JOBS)
SOURCES := $(wildcard plugin/*.c plugin/*.h src/*.c src/*.h) uwsgiplugin.py VERSION
# Where the running uwsgi looks for plugins: its compiled-in UWSGI_PLUGIN_DIR.
PLUGIN_DIR ?= $(shell $(UWSGI) --cflags 2>/dev/null | sed -n 's/.*-DUWSGI_PLUGIN_DIR="\\"\([^\\]*\)\\"".*/\1/p')

.PHONY: all pypi install print-plugin-dir unit tsan lint fuzz convert smoke check proto native-table clean

all: build/system/gpx_plugin.so

pypi: build/pypi/gpx_plugin.so

build/system/gpx_plugin.so: $(SOURCES)
	mkdir -p build/system
	cd build/system && $(UWSGI) --build-plugin $(CURDIR)

# PyPI's binary runs `python` to build plugins unless PYTHON says otherwise.
build/pypi/gpx_plugin.so: $(SOURCES)
	mkdir -p build/pypi
	cd build/pypi && PYTHON=python3 $(PYPI_UWSGI) --build-plugin $(CURDIR)

# PLUGIN: which build to install (build/pypi/gpx_plugin.so for PyPI's uwsgi).
PLUGIN ?= build/system/gpx_plugin.so

install: $(PLUGIN)
	@test -n "$(PLUGIN_DIR)" || { echo "cannot tell $(UWSGI)'s plugin directory; pass PLUGIN_DIR=..."; exit 1; }
	install -d $(DESTDIR)$(PLUGIN_DIR)
	install -m 0644 $(PLUGIN) $(DESTDIR)$(PLUGIN_DIR)/gpx_plugin.so
	@echo "installed $(DESTDIR)$(PLUGIN_DIR)/gpx_plugin.so"

print-plugin-dir:
	@echo $(PLUGIN_DIR)

unit:
	$(MAKE) -C tests/unit run

tsan:
	$(MAKE) -C tests/unit tsan

FUZZ_SECONDS ?= 60

fuzz:
	$(MAKE) -C tests/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

lint:
	clang-format --dry-run --Werror src/*.c src/*.h plugin/*.c plugin/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
		--suppress=missingIncludeSystem --inline-suppr -I src src tests/unit tests/fuzz
	python3 tools/check_includes.py --self-test
	python3 tools/check_includes.py
	$(CURDIR)/.venv/bin/ruff check tools tools/gpx-convert tests uwsgiplugin.py examples
	shellcheck scripts/* .ci/run

convert:
	$(VENV_PYTHON) -m pytest tests/convert -q -p no:cacheprovider

# A real uwsgi with gpx per build: requests sent, exact counts scraped.
smoke: build/system/gpx_plugin.so build/pypi/gpx_plugin.so
	$(VENV_PYTHON) -m pytest tests/integration -m smoke -q -p no:cacheprovider

check: lint unit tsan convert smoke

proto:
	cd src && protoc-c --c_out=. metrics.proto && clang-format -i metrics.pb-c.c metrics.pb-c.h

native-table:
	python3 tools/gen_native_table.py > src/gpx_native_table.c && clang-format -i src/gpx_native_table.c

clean:
	rm -rf build
	$(MAKE) -C tests/unit clean
	$(MAKE) -C tests/fuzz clean
