"""Shared test setup: deterministic environment before textual is imported."""

import os

for _var in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_COLOR_SYSTEM", "FORCE_COLOR"):
    os.environ.pop(_var, None)
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
