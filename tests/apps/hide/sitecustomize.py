"""Makes the modules named in HIDE_MODULES (comma-separated) fail to import, as if not installed.

Tests put this directory on PYTHONPATH to start Gunicorn without an optional library.
"""

import os
import sys

HIDDEN = {name for name in os.environ.get("HIDE_MODULES", "").split(",") if name}


class _Hide:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".", 1)[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hide)
