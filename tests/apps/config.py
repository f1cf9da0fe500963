"""The test app's settings module; the guide's Development Setup watches it for reloads."""

GREETING = b"hello "
