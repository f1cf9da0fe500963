# Build script read by `uwsgi --build-plugin .`: the uwsgi binary that runs it
# passes its own build flags, so the plugin matches the binary that loads it.
import os

NAME = 'gpx'


def _fnv1a64(text):
    h = 14695981039346656037
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


CFLAGS = ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter',
          '-Wno-missing-field-initializers']
_flags = os.environ.get('UWSGI_PLUGINS_BUILDER_CFLAGS')
if _flags:
    CFLAGS.append('-DGPX_UWSGI_CFLAGS_FNV=0x%016xULL' % _fnv1a64(_flags))
# Fields that appeared during 2.0.x: test the header this binary embeds.
_header = '.uwsgi_plugins_builder/uwsgi.h'
if os.path.exists(_header):
    with open(_header) as f:
        if 'max_requests_delta' in f.read():
            CFLAGS.append('-DGPX_HAS_MAX_REQUESTS_DELTA')
LDFLAGS = []
LIBS = ['-lmicrohttpd', '-lhiredis', '-ljansson', '-lpthread', '-lz', '-lgnutls', '-lcrypt']
GCC_LIST = [
    'plugin/gpx_plugin',
    'plugin/gpx_request',
    'plugin/gpx_metrics',
    'plugin/gpx_lifecycle',
    'plugin/gpx_uwsgi_metrics',
    'plugin/gpx_exceptions',
    'plugin/gpx_appfold',
    'src/gpx_appmetrics',
    'src/gpx_appstore',
    'src/gpx_auth',
    'src/gpx_buf',
    'src/gpx_catalog',
    'src/gpx_config',
    'src/gpx_error_names',
    'src/gpx_exposition',
    'src/gpx_fleet',
    'src/gpx_gzip',
    'src/gpx_http',
    'src/gpx_negotiate',
    'src/gpx_names',
    'src/gpx_netstat',
    'src/gpx_pcfile',
    'src/gpx_procstat',
    'src/gpx_redis',
    'src/gpx_restart',
    'src/gpx_scoreboard',
    'src/gpx_snapshot',
    'src/gpx_thread',
    'src/gpx_tls',
    'src/gpx_uwsgi_metrics',
]
