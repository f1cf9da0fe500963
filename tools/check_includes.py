#!/usr/bin/env python3
"""Checks that the dependencies of src/ run one way.

Builds the include graph of src/*.h and src/*.c (the quoted includes) by
module (gpx_foo.h, gpx_foo.c, and gpx_foo_none.c, which stands in for
gpx_foo.c in a build without its library, are one module, gpx_foo) and
fails, one line per finding, when:

  - a module includes a module of a higher layer (LAYERS below),
  - modules include each other, directly or in a loop (even in one layer),
  - a module of src/ is in no layer (a new module is placed on purpose; a
    storage, gpx_storage_<name>, is placed by its name, beside gpx_storage),
  - src/ includes what is not src/'s: uwsgi.h or plugin/ (src/ is plain C
    that the unit tests link alone).

    tools/check_includes.py              check src/ (what `make lint` runs)
    tools/check_includes.py --graph      print the layers and what each module includes
    tools/check_includes.py --self-test  check the checker on trees made to fail
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

# The layers of src/, lowest first. A module may include modules of its own
# layer (without a loop) and of the layers below, never above. plugin/ (the
# uWSGI glue) sits above all of them.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Memory, text, hashing, logging, files: what every module may use.
    ("base", ("gpx_buf", "gpx_format", "gpx_text", "metrics.pb-c", "gpx_hash", "gpx_index", "gpx_inline", "gpx_log",
              "gpx_file", "gpx_thread", "gpx_deadline", "gpx_traceparent")),
    # Formats, parsers and facts of one kind each, knowing no storage.
    ("parts", ("gpx_catalog", "gpx_native_table", "gpx_error_names", "gpx_config", "gpx_names", "gpx_pcfile",
               "gpx_gzip", "gpx_negotiate", "gpx_netstat", "gpx_procstat", "gpx_restart", "gpx_auth", "gpx_tls",
               "gpx_apphealth", "gpx_headers", "gpx_ratelimit", "gpx_sentinel", "gpx_readiness")),
    # The endpoint moves bytes: it knows formats, compression and
    # credentials, and nothing of metrics (its caller renders and ends pages).
    ("endpoint", ("gpx_http", "gpx_reload")),
    # Where counts live: the scoreboard and its file, the exemplars, Redis, the app's store.
    ("storage", ("gpx_scoreboard", "gpx_exemplar", "gpx_snapshot", "gpx_layout", "gpx_boardfile", "gpx_redis",
                 "gpx_appstore")),
    # Pages made from what is stored.
    ("rendering", ("gpx_exposition", "gpx_uwsgi_metrics", "gpx_profile_uwsgi", "gpx_fleet", "gpx_appmerge",
                   "gpx_apprender", "gpx_appmetrics", "gpx_protobuf")),
    # What the master keeps: the storage behind its seam (gpx_storage, and
    # each gpx_storage_<name>, placed here by its name), and its care of the
    # app's directory.
    ("keeping", ("gpx_storage", "gpx_appdir")),
]

# Each storage is one module gpx_storage_<name> (src/gpx_storage.h): in the
# layer of the seam, so that adding one needs no line here.
STORAGE_PREFIX = "gpx_storage_"

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)
SYSTEM_UWSGI = re.compile(r'^\s*#\s*include\s*[<"]uwsgi\.h[">]', re.MULTILINE)


def module_of(path: Path) -> str:
    stem = path.stem
    return stem[: -len("_none")] if stem.endswith("_none") else stem


def read_graph(src: Path) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """{module: {included module: ["file:line", ...]}} and what src/ may not include."""
    graph: dict[str, dict[str, list[str]]] = {}
    foreign: list[str] = []
    for path in sorted([*src.glob("*.c"), *src.glob("*.h")]):
        text = path.read_text()
        mod = module_of(path)
        graph.setdefault(mod, {})
        for m in SYSTEM_UWSGI.finditer(text):
            foreign.append(f"{path}:{text.count(chr(10), 0, m.start()) + 1}: src/ includes uwsgi.h (only plugin/ may)")
        for m in INCLUDE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            target = m.group(1)
            where = f"{path}:{line}"
            if "/" in target or not (src / target).is_file():
                foreign.append(f"{where}: src/ includes \"{target}\", which is not a header of src/")
                continue
            other = module_of(Path(target))
            if other != mod:
                graph[mod].setdefault(other, []).append(where)
    return graph, foreign


def layer_index(graph: dict[str, dict[str, list[str]]]) -> dict[str, tuple[int, str]]:
    """{module: (level, layer name)} for the modules of LAYERS and the storages of `graph`."""
    index: dict[str, tuple[int, str]] = {}
    for level, (name, modules) in enumerate(LAYERS):
        for mod in modules:
            index[mod] = (level, name)
    for mod in graph:
        if mod.startswith(STORAGE_PREFIX):
            index[mod] = index["gpx_storage"]
    return index


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The loops of the graph: one per strongly connected component of more
    than one module (Tarjan), as a path that closes on its first module."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(mod: str) -> None:
        order[mod] = low[mod] = len(order)
        stack.append(mod)
        on_stack.add(mod)
        for other in sorted(graph.get(mod, {})):
            if other not in order:
                visit(other)
                low[mod] = min(low[mod], low[other])
            elif other in on_stack:
                low[mod] = min(low[mod], order[other])
        if low[mod] == order[mod]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == mod:
                    break
            if len(component) > 1:
                found.append(loop_through(graph, set(component)))

    for mod in sorted(graph):
        if mod not in order:
            visit(mod)
    return found


def loop_through(graph: dict[str, dict[str, list[str]]], component: set[str]) -> list[str]:
    """A loop within the component, from its first module back to it."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        mod = queue.pop(0)
        for other in sorted(graph[mod]):
            if other == start:
                return [*paths[mod], start]
            if other in component and other not in paths:
                paths[other] = [*paths[mod], other]
                queue.append(other)
    return [start, start]


def check(src: Path) -> list[str]:
    graph, problems = read_graph(src)
    layers = layer_index(graph)
    for mod in sorted(graph):
        if mod not in layers:
            problems.append(f"{src}/{mod}: in no layer of tools/check_includes.py's LAYERS: place it")
    for mod, includes in sorted(graph.items()):
        if mod not in layers:
            continue
        for other, places in sorted(includes.items()):
            if other in layers and layers[other][0] > layers[mod][0]:
                problems.append(f"{places[0]}: {mod} ({layers[mod][1]}) includes {other}, of a higher layer "
                                f"({layers[other][1]})")
    for loop in cycles(graph):
        where = ", ".join(graph[a][b][0] for a, b in zip(loop, loop[1:], strict=False))
        problems.append(f"modules include each other: {' -> '.join(loop)} ({where})")
    return problems


def print_graph(src: Path) -> None:
    graph, _ = read_graph(src)
    layers = layer_index(graph)
    for level, (name, _) in enumerate(LAYERS):
        print(f"{level + 1}. {name}")
        for mod in sorted(m for m, (at, _) in layers.items() if at == level):
            if mod in graph:
                print(f"     {mod}: {', '.join(sorted(graph[mod])) or '-'}")


def self_test() -> int:
    """The checker must fail on what it is there to catch, and pass a good tree."""
    cases = {
        "good": ({"gpx_buf.h": "", "gpx_buf.c": '#include "gpx_buf.h"\n',
                  "gpx_http.h": '#include "gpx_buf.h"\n', "gpx_tls.h": "", "gpx_tls_none.c": '#include "gpx_tls.h"\n'},
                 []),
        "upward": ({"gpx_http.c": '#include "gpx_exposition.h"\n', "gpx_exposition.h": ""},
                   ["gpx_http (endpoint) includes gpx_exposition, of a higher layer (rendering)"]),
        "each other": ({"gpx_appstore.h": '#include "gpx_redis.h"\n', "gpx_redis.c": '#include "gpx_appstore.h"\n',
                        "gpx_redis.h": ""},
                       ["modules include each other: gpx_appstore -> gpx_redis -> gpx_appstore"]),
        "loop": ({"gpx_names.h": '#include "gpx_pcfile.h"\n', "gpx_pcfile.h": '#include "gpx_gzip.h"\n',
                  "gpx_gzip.c": '#include "gpx_names.h"\n', "gpx_gzip.h": ""},
                 ["modules include each other: gpx_gzip -> gpx_names -> gpx_pcfile -> gpx_gzip"]),
        "unplaced": ({"gpx_new.c": ""}, ["gpx_new: in no layer"]),
        "a storage": ({"gpx_storage.h": '#include "gpx_buf.h"\n', "gpx_buf.h": "",
                       "gpx_storage_new.c": '#include "gpx_storage.h"\n#include "gpx_buf.h"\n'}, []),
        "a storage above": ({"gpx_storage_new.c": '#include "gpx_appdir.h"\n', "gpx_appdir.h": "",
                             "gpx_redis.c": '#include "gpx_storage_new.h"\n', "gpx_storage_new.h": ""},
                            ["gpx_redis (storage) includes gpx_storage_new, of a higher layer (keeping)"]),
        "foreign": ({"gpx_buf.c": '#include <uwsgi.h>\n#include "../plugin/gpx_glue.h"\n'},
                    ["src/ includes uwsgi.h", "src/ includes \"../plugin/gpx_glue.h\""]),
    }
    failed = 0
    for name, (files, expected) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            for file, text in files.items():
                (Path(tmp) / file).write_text(text)
            problems = check(Path(tmp))
        missing = [e for e in expected if not any(e in p for p in problems)]
        if missing or len(problems) != len(expected):
            print(f"self-test {name!r}: expected {expected}, got {problems}", file=sys.stderr)
            failed = 1
    return failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    ap.add_argument("--graph", action="store_true", help="print the layers and the include graph")
    ap.add_argument("--self-test", action="store_true", help="check the checker")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if args.graph:
        print_graph(args.src)
        return 0
    problems = check(args.src)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
