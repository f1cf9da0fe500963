# Not from the guide: a Gunicorn config whose values come from the machine it
# runs on, as teams write them (Gunicorn's docs suggest 2 x CPUs + 1 workers).
# tools/gpx-convert must not freeze the converting machine's count into the ini.
import multiprocessing
import os

bind = "127.0.0.1:8000"
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "gthread"
threads = os.cpu_count()
max_requests = 1000
max_requests_jitter = 40
