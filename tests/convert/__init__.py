"""Unit tests of tools/gpxconvert: the mapping of Gunicorn settings and
exporter variables to uWSGI and gpx options, without uWSGI. Seconds:

    .venv/bin/python -m pytest tests/convert -q

tests/integration/test_convert.py starts what the converter writes."""
