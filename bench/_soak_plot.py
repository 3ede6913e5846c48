"""Small PNG plots of the soak curves (matplotlib, a bench-only requirement).

matplotlib comes from requirements-bench.txt, which ``make bench`` installs
into .venv: no package of the project depends on it, and the test suites do
not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot(path: Path, title: str, xlabel: str, x: Sequence[float],
         panels: Sequence[tuple[str, Sequence[float]]]) -> Path:
    """Write one PNG of stacked panels sharing ``x``; returns ``path``.

    Args:
        path: where the PNG goes (its directory is created).
        title: the figure's title (put the figures in it: the PNG stands alone).
        xlabel: the label of the shared x axis.
        x: the x values.
        panels: (y label, y values) per panel, top to bottom.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to the file
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(7.0, 1.9 * len(panels) + 0.8),
                             squeeze=False)
    for ax, (label, y) in zip(axes[:, 0], panels, strict=True):
        ax.plot(x, y, linewidth=1.0)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        low, high = min(y, default=0.0), max(y, default=0.0)
        pad = max(1.0, 0.1 * (high - low))  # a flat line stays readable, not zoomed to noise
        ax.set_ylim(low - pad, high + pad)
    axes[-1, 0].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


__all__ = ["plot"]
