"""What runs in the process that evaluates a config: evaluate_config.py, run
as a script, and the stand-in exporter package under stub/. Neither imports
gpxconvert."""
