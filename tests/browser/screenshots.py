"""Regenerate the documentation's screenshots on purpose: ``python tests/browser/screenshots.py docs/``.

Runs the quickstart browser test with ``HPO_SCREENSHOTS`` set, so that it writes
``panel.png`` (light theme), ``panel-dark.png`` and ``dashboard.png`` into the given folder
instead of a temporary one. The tests alone never touch the tracked ``docs/*.png``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/browser/screenshots.py OUT_DIR   (e.g. docs/)", file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HPO_SCREENSHOTS": str(out)}
    cmd = [sys.executable, "-m", "pytest", str(HERE / "test_quickstart_browser.py"), "-m", "browser", "-q",
           "-p", "no:cacheprovider"]
    code = subprocess.call(cmd, env=env, cwd=HERE.parents[1])
    if code == 0:
        print("written:", *sorted(str(p) for p in out.glob("*.png")), sep="\n  ")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
