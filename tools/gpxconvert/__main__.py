"""python3 -m gpxconvert: the same as tools/gpx-convert."""

import sys

from gpxconvert.cli import main

sys.exit(main())
