"""gpxconvert (tools/gpx-convert): a Gunicorn config file to the uWSGI ini that serves the same app with gpx.

    tools/gpx-convert CONFIG.py [--app MODULE:CALLABLE | --wsgi-file PATH] [--plugin-dir DIR] [--json]

Teams moving from Gunicorn + gunicorn-prometheus-exporter to uWSGI + gpx
point this at their Gunicorn config file; the ini goes to stdout.

The config file is read the way Gunicorn 23 reads it: it is Python, so it is
executed, in a separate python3 process, as a fresh module with a stand-in
`gunicorn_prometheus_exporter` package first on sys.path (every hook, worker
class and manager the exporter's guide imports resolves to a marked stub, so
the real package is not needed). That process reports, as JSON, the Gunicorn
settings the config defines (checked as Gunicorn checks them) and what it did
to os.environ: each `os.environ.setdefault(VAR, value)`, each assignment and
each removal. Settings the config leaves out take Gunicorn's defaults, some of
which come from the environment as in Gunicorn ($PORT, $WEB_CONCURRENCY).

The mapping is the one docs/migration.md describes: bind -> http-socket,
workers -> processes, the worker class -> uWSGI's mode (processes, threads,
gevent, tornado), timeout -> harakiri, and so on; the exporter's variables
become gpx options inside `if-not-env` blocks, so that, as with setdefault, a
variable set when uWSGI starts wins over the config's value, and gpx's
default applies when neither is there. Every setting the config names is
accounted for by a comment: `; NAME = VALUE -> ...` where it went, or
`; not mapped: NAME = VALUE: why` when uWSGI has no equivalent.

A config is Python, and a value it computes from the machine or the
environment (`multiprocessing.cpu_count() * 2 + 1`, `os.environ.get(...)`, a
branch on a variable, a conditional `os.environ[...] = ...`) would be frozen
by converting it once. The config is therefore run again with the CPU count
faked and with each variable it reads set to other values; what follows them
is written in uWSGI's run-time form where uWSGI has one (`%k` placeholder
math, `if-env` blocks, `$(VAR)`), or frozen, and either way marked with a
`; (!)` comment and one line on stderr.

The ini starts as a service does (`strict`, `die-on-term`, `need-app`) and
loads Python and the loop engines as plugins only where uWSGI lacks them, so
that it starts with Debian's uWSGI 2.0.21 and PyPI's 2.0.31 alike.

The first address is written so that $GPX_APP_BIND moves it when uWSGI starts
($GPX_APP_BIND_2, ... the next ones), without editing the file.

Options:
  --app MODULE:CALLABLE  the WSGI app, as on Gunicorn's command line (`module =`)
  --wsgi-file PATH       the WSGI app as a file (`wsgi-file =`)
  --plugin-dir DIR       where gpx_plugin.so is, if not installed (`plugins-dir =`)
  --json                 print what the config evaluated to instead of the ini

Exit status: 0 with the ini on stdout; 1 with one line on stderr when the
config cannot be evaluated or holds a value Gunicorn would refuse; 2 for bad
arguments. Python 3.11 standard library only.

The modules, in the order a conversion runs through them:
  cli            the command line
  evaluation     what the config evaluates to (runner, then variation)
  runner         the evaluating process: child/evaluate_config.py, with the
                 stand-in exporter package of child/stub first on its sys.path
  variation      which values followed the CPU count or a variable, and how
  settings       Gunicorn 23's settings, their kinds and defaults
  exporter       the exporter's variables and hooks, and gpx's options for them
  mapping        each setting and variable to uWSGI's and gpx's options
  ini            the ini's lines and the run-time forms of dependent values
  uwsgi_values   addresses, escaping, the access log format, the worker model
"""

from gpxconvert.cli import main
from gpxconvert.errors import ConvertError
from gpxconvert.exporter import GPX_VARIABLES
from gpxconvert.runner import STUB_INIT
from gpxconvert.settings import HOOK_ARITY, SETTINGS, defaults

__all__ = ["GPX_VARIABLES", "HOOK_ARITY", "SETTINGS", "STUB_INIT", "ConvertError", "defaults", "main"]
