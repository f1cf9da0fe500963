"""How the after-request hook's instructions are counted, pinned.

tests/bench/instructions.py counts the hook whole: callgrind collects only
while the hook runs (--toggle-collect), so the profile's total is every
instruction between entering and leaving it, whatever the compiler inlined
into it and whatever it calls. Reading the hook's inclusive line of
callgrind_annotate instead misses the code inlined from the headers
(callgrind files it under entries of its own). A build with gpx's inline
helpers kept out of line (GPX_OUT_OF_LINE=yes) shows both: there the
inclusive line holds everything, and equals the whole count; the inlined
build's whole count is the same work less the calls' own instructions.
Slow: four runs under valgrind (about 10 s each) for the method, one for
the budget of the common path, three for the exemplar cases.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, build_plugin

INSTRUCTIONS = ROOT / "tests" / "bench" / "instructions.py"
REQUESTS = 200
# What a call of an out-of-line helper adds: the call and the return, the
# arguments' moves, a register saved and restored.
PER_CALL = 8


# The common path's budget with native histograms recorded
# (docs/benchmarks.md, section 2), counted whole.
BUDGET = 130
EXEMPLARS = ["--uwsgi-arg=--gpx-exemplars", "--uwsgi-arg=true"]
TRACEPARENT = ["--header", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]


def count(build, plugin, out, *more) -> dict:
    subprocess.run([sys.executable, str(INSTRUCTIONS), "--requests", str(REQUESTS), "--uwsgi", build.uwsgi,
                    "--plugin", str(plugin), "--json", str(out), *more], check=True, timeout=600)
    return json.loads(out.read_text())


@pytest.mark.slow
def test_whole_count_takes_in_the_inlined_code(build, tmp_path):
    code, output = build_plugin(build, tmp_path / "out_of_line", GPX_OUT_OF_LINE="yes")
    assert code == 0, output
    inlined = count(build, build.plugin, tmp_path / "inlined.json")
    out_of_line = count(build, tmp_path / "out_of_line" / "gpx_plugin.so", tmp_path / "out_of_line.json")
    for r in (inlined, out_of_line):
        assert r["hook_calls"] == REQUESTS  # one hook call per request sent, no more
    # Out of line, the hook's inclusive line holds everything it ran: the
    # whole count is that, to the instruction.
    assert out_of_line["calls_inside_per_request"] >= 5
    assert out_of_line["instructions"] == out_of_line["inclusive_line"]
    # Inlined, no call is left on the common path. Where the build has debug
    # information (Debian's uwsgi builds plugins with -g), callgrind files
    # the inlined lines under the headers' entries and the inclusive line
    # misses most of the hook; without it (PyPI's, no -g) everything is the
    # hook's own. The whole count is the same either way.
    assert inlined["calls_inside_per_request"] < 0.05
    cflags = subprocess.run([build.uwsgi, "--cflags"], capture_output=True, text=True, check=True).stdout.split()
    if "-g" in cflags:
        assert inlined["inclusive_line_per_request"] < inlined["per_request"] / 2
    else:
        assert inlined["inclusive_line"] == inlined["instructions"]
    # The same work either way: out of line costs the calls and nothing else.
    extra = out_of_line["per_request"] - inlined["per_request"]
    assert 0 < extra <= PER_CALL * out_of_line["calls_inside_per_request"]


@pytest.mark.slow
def test_common_path_within_budget(build, tmp_path):
    default = count(build, build.plugin, tmp_path / "default.json")
    assert default["hook_calls"] == REQUESTS
    assert default["per_request"] <= BUDGET


@pytest.mark.slow
def test_exemplars_cost_only_with_the_option_on(build, tmp_path):
    """The three exemplar cases, in the order of their work: off (the
    default: one test of a word the hook reads anyway), on without a
    traceparent header (the header looked up, not found), on with a valid
    one (found, parsed, the exemplar written). The exact counts are in
    docs/benchmarks.md; what is asserted here is their order and that each
    case took its path on every request."""
    off = count(build, build.plugin, tmp_path / "off.json")
    on_without = count(build, build.plugin, tmp_path / "on_without.json", *EXEMPLARS)
    on_with = count(build, build.plugin, tmp_path / "on_with.json", *EXEMPLARS, *TRACEPARENT)
    for r in (off, on_without, on_with):
        assert r["hook_calls"] == REQUESTS
    # Off: no call on the common path. On: gpx_note_exemplar (with its
    # scan of the request's variables) on every request; with a valid
    # header also the parse and the write (the out-of-line calls counted by
    # callgrind).
    assert off["calls_inside_per_request"] < 0.05
    assert on_without["calls_inside_per_request"] >= 1
    assert on_with["calls_inside_per_request"] > on_without["calls_inside_per_request"]
    assert off["per_request"] < on_without["per_request"] < on_with["per_request"]
