"""Where a checkpoint came from: package version, code commit, command line.

Every checkpoint's manifest records this, so a result can be traced to the code
that trained it. The commit is read with git from the directory the `mtrl_ray`
package was imported from (an editable install in a clone: that clone's HEAD and
whether its tree had uncommitted changes); an installed wheel or an image without
git records `None`.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def code_version() -> dict[str, Any]:
    """{"package_version", "git_commit", "git_dirty"} of the running code (cached)."""
    try:
        version = metadata.version("mtrl-ray")
    except metadata.PackageNotFoundError:
        version = None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "package_version": version,
        "git_commit": commit,
        "git_dirty": None if commit is None or status is None else bool(status),
    }


def collect(command: list[str] | None = None) -> dict[str, Any]:
    """Provenance of a run started by `command` (default: this process's argv)."""
    argv = sys.argv if command is None else command
    return {**code_version(), "command": " ".join(argv)}


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(PACKAGE_DIR), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()
