"""Shared pytest configuration: Qt runs offscreen unless a test session sets a display."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
