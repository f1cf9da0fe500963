"""Mule 1 of test_modes: writes every message it receives to $MODES_DIR/mule."""

import os

import uwsgi

OUT = os.path.join(os.environ["MODES_DIR"], "mule")

while True:
    message = uwsgi.mule_get_msg()
    with open(OUT, "ab") as f:
        f.write(message + b"\n")
