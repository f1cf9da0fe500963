"""gpx-convert's command line."""

from __future__ import annotations

import argparse
import json
import os
import sys

from gpxconvert.errors import ConvertError
from gpxconvert.evaluation import evaluate
from gpxconvert.mapping import Converter


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="gpx-convert", description="Write the uWSGI ini (with gpx) equivalent to a Gunicorn config file.")
    parser.add_argument("config", help="the Gunicorn config file (a .py file; file:PATH and python:MODULE as in "
                                       "Gunicorn)")
    app = parser.add_mutually_exclusive_group()
    app.add_argument("--app", metavar="MODULE:CALLABLE", help="the WSGI app, as on Gunicorn's command line")
    app.add_argument("--wsgi-file", metavar="PATH", help="the WSGI app as a file")
    parser.add_argument("--plugin-dir", metavar="DIR", help="the directory of gpx_plugin.so (plugins-dir)")
    parser.add_argument("--json", action="store_true", help="print what the config evaluated to, as JSON")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate(args.config)
        if args.json:
            sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
            return 0
        if report.get("output"):
            sys.stderr.write(report["output"])
        converter = Converter(report, args, os.environ)
        ini = converter.render()
    except ConvertError as exc:
        print(f"gpx-convert: {exc}", file=sys.stderr)
        return 1
    for line in converter.flags:
        print(line, file=sys.stderr)
    sys.stdout.write(ini)
    return 0

