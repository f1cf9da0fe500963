# gpx: build the plugin with each uWSGI binary, run the unit tests and linters.
#
#   make                 gpx_plugin.so for the `uwsgi` on PATH (build/system/)
#   make pypi            the same for PyPI's uwsgi in .venv (build/pypi/)
#   make install         copy build/system/gpx_plugin.so into that uwsgi's plugin directory
#   make unit            cmocka unit tests of src/ under AddressSanitizer and UBSan
#   make lint            clang-format check, cppcheck, and the layers of src/ (tools/check_includes.py)
#   make fuzz            libFuzzer targets of tests/fuzz, each for FUZZ_SECONDS (default 60)

UWSGI ?= uwsgi
PYPI_UWSGI ?= $(CURDIR)/.venv/bin/uwsgi
SOURCES := $(wildcard plugin/*.c plugin/*.h src/*.c src/*.h) uwsgiplugin.py VERSION
# Where the running uwsgi looks for plugins: its compiled-in UWSGI_PLUGIN_DIR.
PLUGIN_DIR ?= $(shell $(UWSGI) --cflags 2>/dev/null | sed -n 's/.*-DUWSGI_PLUGIN_DIR="\\"\([^\\]*\)\\"".*/\1/p')

.PHONY: all pypi install print-plugin-dir unit lint fuzz clean

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

FUZZ_SECONDS ?= 60

fuzz:
	$(MAKE) -C tests/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

lint:
	clang-format --dry-run --Werror src/*.c src/*.h plugin/*.c plugin/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
		--suppress=missingIncludeSystem --inline-suppr -I src src tests/unit tests/fuzz
	python3 tools/check_includes.py --self-test
	python3 tools/check_includes.py

clean:
	rm -rf build
	$(MAKE) -C tests/unit clean
	$(MAKE) -C tests/fuzz clean
