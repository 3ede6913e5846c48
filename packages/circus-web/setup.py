"""Build hook: put the pinned uPlot release inside the wheel.

The minified chart library is never committed. ``build_py`` fetches the
tarball with ``npm pack``, checks it against the pinned npm integrity hash
(sha512, the registry's own ``dist.integrity``), and copies the two dist
files and the licence into ``circus/web/static/vendor/`` of the build.
A mismatch, or no npm, fails the build with one line saying so.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# To upgrade: change both lines (`npm view uplot@X dist.integrity`), rebuild.
UPLOT = "uplot@1.6.32"
UPLOT_INTEGRITY = ("sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+"
                   "jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==")
# tarball member -> file name in static/vendor/
VENDORED = {
    "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "package/dist/uPlot.min.css": "uPlot.min.css",
    "package/LICENSE": "uPlot.LICENSE.txt",
}


def fetch_uplot(dest: Path) -> None:
    """Fetch, verify and unpack the vendored files into ``dest``."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("circus-web build: npm is needed to fetch " + UPLOT)
    with tempfile.TemporaryDirectory(prefix="circus-web-npm-") as tmp:
        out = subprocess.run([npm, "pack", UPLOT, "--silent", "--pack-destination", tmp],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"circus-web build: npm pack {UPLOT} failed: {out.stderr.strip()}")
        tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
        algo, _, expected = UPLOT_INTEGRITY.partition("-")
        digest = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
        if digest != expected:
            raise SystemExit(f"circus-web build: {tarball.name} does not match the pinned "
                             f"integrity {UPLOT_INTEGRITY}")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            for member, name in VENDORED.items():
                source = tar.extractfile(member)
                if source is None:
                    raise SystemExit(f"circus-web build: {member} missing from {tarball.name}")
                (dest / name).write_bytes(source.read())


class BuildWithVendor(build_py):
    """``build_py`` plus the vendored uPlot files."""

    def run(self) -> None:
        super().run()
        fetch_uplot(Path(self.build_lib) / "circus" / "web" / "static" / "vendor")


setup(cmdclass={"build_py": BuildWithVendor})
