# Build script of the gpx plugin, read by uWSGI's uwsgiconfig.py in two ways:
#
#   uwsgi --build-plugin <gpx source>   gpx_plugin.so, built with the flags of
#                                       the uwsgi binary that runs it
#   UWSGI_EMBED_PLUGINS="gpx=<gpx source>" pip install uwsgi
#                                       gpx compiled into the uwsgi binary
#
# uwsgiconfig.py exec()s this file from its own working directory, without
# __file__. Environment: GPX_TLS and GPX_BCRYPT (auto, yes or no; default
# auto) turn the endpoint's TLS (GnuTLS) and basic auth (bcrypt from
# libcrypt, with GnuTLS's HMAC) on when their headers are found, on or fail,
# or off. GPX_OUT_OF_LINE=yes builds the request path's helpers out of line
# (a test's build, not for use).
import glob
import os
import re
import shlex
import subprocess
import sys

NAME = 'gpx'


def _source_dir():
    # The function of uwsgiconfig.py that exec()s this file (build_plugin or
    # build_uwsgi) holds the plugin's directory in its local `path`.
    if '__file__' in globals():
        return os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_locals.get('path')
        if isinstance(path, str) and os.path.isfile(os.path.join(path, 'uwsgiplugin.py')):
            return os.path.abspath(path)
        frame = frame.f_back
    raise SystemExit('gpx: cannot tell where gpx\'s source is (no `path` in uwsgiconfig.py\'s build function)')


def _fnv1a64(text):
    h = 14695981039346656037
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def _compiles(code, flags=()):
    """Whether the C compiler accepts `code` (syntax only: nothing written)."""
    cc = shlex.split(os.environ.get('CC') or 'cc')
    cmd = cc + shlex.split(os.environ.get('CPPFLAGS', '')) + shlex.split(os.environ.get('CFLAGS', '')) + list(flags) + [
        '-Werror=implicit-function-declaration', '-fsyntax-only', '-x', 'c', '-']
    try:
        return subprocess.run(cmd, input=code.encode(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def _pkg_config(package, what):
    try:
        out = subprocess.run(['pkg-config', what, package], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    return shlex.split(out.stdout.decode()) if out.returncode == 0 else None


def _choice(variable):
    value = os.environ.get(variable, 'auto').strip().lower() or 'auto'
    if value not in ('auto', 'yes', 'no'):
        raise SystemExit('gpx: %s=%s: expected auto, yes or no' % (variable, value))
    return value


_source = _source_dir()
with open(os.path.join(_source, 'VERSION')) as f:
    VERSION = f.read().strip()
if not re.match(r'^[0-9][0-9A-Za-z.+~-]*$', VERSION):
    raise SystemExit('gpx: VERSION holds %r: expected a version such as 1.2.3' % VERSION)

CFLAGS = ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter',
          '-Wno-missing-field-initializers', '-DGPX_VERSION="\\"%s\\""' % VERSION]
LDFLAGS = []
LIBS = ['-lmicrohttpd', '-lhiredis', '-ljansson', '-lprotobuf-c', '-lpthread', '-lz', '-lm']

# `uwsgi --build-plugin` unpacks the binary's uwsgi.h into
# .uwsgi_plugins_builder/ and passes the binary's build flags: the plugin
# records their hash and checks it when loaded. Compiled into the binary
# (embedded), gpx is part of it: there is nothing to check, and uwsgi.h is
# the source tree's.
if os.path.isdir('.uwsgi_plugins_builder') and os.environ.get('UWSGI_PLUGINS_BUILDER_CFLAGS'):
    CFLAGS.append('-DGPX_UWSGI_CFLAGS_FNV=0x%016xULL' % _fnv1a64(os.environ['UWSGI_PLUGINS_BUILDER_CFLAGS']))
    _header = '.uwsgi_plugins_builder/uwsgi.h'
    _route = 'gpx_plugin.so for the uwsgi binary that builds it'
else:
    _header = 'uwsgi.h'
    _route = 'compiled into the uwsgi binary'
# Fields that appeared during 2.0.x: test the header gpx is compiled against.
_delta = False
if os.path.exists(_header):
    with open(_header) as f:
        _delta = 'max_requests_delta' in f.read()
if _delta:
    CFLAGS.append('-DGPX_HAS_MAX_REQUESTS_DELTA')

# TLS for the endpoint: gpx reads and checks the PEM files with GnuTLS
# (libmicrohttpd serves with its own GnuTLS).
_tls = _choice('GPX_TLS')
_tls_flags = _pkg_config('gnutls', '--cflags') or []
_have_tls = _tls != 'no' and _compiles('#include <gnutls/gnutls.h>\n', _tls_flags)
if _tls == 'yes' and not _have_tls:
    raise SystemExit('gpx: GPX_TLS=yes but GnuTLS\'s headers are missing (Debian: libgnutls28-dev)')
# Basic auth: bcrypt from libxcrypt's crypt_rn(), and GnuTLS's HMAC and
# random numbers for the cache of accepted credentials.
_bcrypt = _choice('GPX_BCRYPT')
_have_crypt = _compiles('#include <crypt.h>\nvoid f(struct crypt_data *d) { (void)crypt_rn("", "", d, 1); }\n')
if _bcrypt == 'yes' and not _have_crypt:
    raise SystemExit('gpx: GPX_BCRYPT=yes but libcrypt\'s crypt.h with crypt_rn() is missing (Debian: libcrypt-dev)')
if _bcrypt == 'yes' and not _have_tls:
    raise SystemExit('gpx: GPX_BCRYPT=yes but basic auth needs GnuTLS too, and %s' % (
        'GPX_TLS=no leaves it out' if _tls == 'no' else 'GnuTLS\'s headers are missing (Debian: libgnutls28-dev)'))
_have_bcrypt = _bcrypt != 'no' and _have_crypt and _have_tls

# GPX_OUT_OF_LINE=yes: the request path's inline helpers kept out of line
# (src/gpx_inline.h), for the test of how the hook's instructions are counted.
if os.environ.get('GPX_OUT_OF_LINE', 'no').strip().lower() == 'yes':
    CFLAGS.append('-DGPX_OUT_OF_LINE')

if _have_tls:
    CFLAGS += ['-DGPX_HAVE_TLS'] + _tls_flags
    LIBS.append('-lgnutls')
if _have_bcrypt:
    CFLAGS.append('-DGPX_HAVE_BCRYPT')
    LIBS.append('-lcrypt')
print('gpx %s, %s: TLS %s, basic auth (bcrypt) %s, max-requests-delta %s' % (
    VERSION, _route, 'yes' if _have_tls else 'no', 'yes' if _have_bcrypt else 'no', 'yes' if _delta else 'no'))

GCC_LIST = [
    'plugin/gpx_plugin',
    'plugin/gpx_request',
    'plugin/gpx_metrics',
    'plugin/gpx_lifecycle',
    'plugin/gpx_uwsgi_metrics',
    'plugin/gpx_exceptions',
    'plugin/gpx_appfold',
    'plugin/gpx_profile',
    'plugin/gpx_readyz',
    'src/gpx_appdir',
    'src/gpx_apphealth',
    'src/gpx_appmerge',
    'src/gpx_appmetrics',
    'src/gpx_apprender',
    'src/gpx_appstore',
    'src/gpx_auth' if _have_bcrypt else 'src/gpx_auth_none',
    'src/gpx_boardfile',
    'src/gpx_buf',
    'src/gpx_catalog',
    'src/gpx_native_table',
    'src/gpx_config',
    'src/gpx_deadline',
    'src/gpx_error_names',
    'src/gpx_exemplar',
    'src/gpx_exposition',
    'src/gpx_file',
    'src/gpx_fleet',
    'src/gpx_gzip',
    'src/gpx_headers',
    'src/gpx_http',
    'src/gpx_index',
    'src/gpx_log',
    'src/gpx_negotiate',
    'src/gpx_names',
    'src/gpx_netstat',
    'src/gpx_pcfile',
    'src/gpx_procstat',
    'src/gpx_profile_uwsgi',
    'src/gpx_readiness',
    'src/gpx_protobuf',
    'src/metrics.pb-c',
    'src/gpx_redis',
    'src/gpx_ratelimit',
    'src/gpx_reload',
    'src/gpx_restart',
    'src/gpx_scoreboard',
    'src/gpx_layout',
    'src/gpx_sentinel',
    'src/gpx_snapshot',
    'src/gpx_storage',
    'src/gpx_thread',
    'src/gpx_traceparent',
    'src/gpx_tls' if _have_tls else 'src/gpx_tls_none',
    'src/gpx_uwsgi_metrics',
]
# Every storage (src/gpx_storage_<name>.c, chosen in src/gpx_storage.c): a
# new one needs no line here.
GCC_LIST += sorted('src/' + os.path.basename(f)[:-2]
                   for f in glob.glob(os.path.join(_source, 'src', 'gpx_storage_*.c')))
