"""``CriteriaPlayground``: move class probabilities by hand, watch the criteria.

Plain ipywidgets (sliders and an HTML view), so it renders in JupyterLab,
Notebook 7, VS Code and Colab without any front-end install, and tests can drive
it from Python through :meth:`CriteriaPlayground.set_probs` or the sliders.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from .criteria import CRITERIA, check_probs

__all__ = ["CriteriaPlayground"]

# The criteria under their display names ("least confidence", ...).
SHOWN = {name.replace("_", " "): fn for name, fn in CRITERIA.items()}


def _bar(label: str, value: float, maximum: float, colour: str) -> str:
    width = 0.0 if maximum <= 0 else 100.0 * min(value / maximum, 1.0)
    return (
        '<div style="display:flex;align-items:center;gap:6px;margin:2px 0">'
        f'<span style="width:9em;text-align:right">{html.escape(label)}</span>'
        '<span style="flex:0 0 12em;background:#eee;height:0.9em">'
        f'<span style="display:block;width:{width:.1f}%;height:100%;'
        f'background:{colour}"></span></span>'
        f'<span style="font-family:monospace">{value:.3f}</span></div>'
    )


STEP = 0.01  # the sliders' step; what they show is on this grid


def _largest_remainder(values: np.ndarray, units: int) -> np.ndarray:
    """Whole numbers summing to ``units``, proportional to ``values``."""
    total = values.sum()
    if units <= 0:
        return np.zeros(values.size, dtype=int)
    scaled = values / total if total > 0 else np.full(values.size, 1 / values.size)
    scaled = scaled * units
    whole = np.floor(scaled + 1e-9).astype(int)
    short = units - int(whole.sum())
    order = np.argsort(-(scaled - whole), kind="stable")
    whole[order[:short]] += 1
    return whole


def shown_values(probs, pinned: int | None = None) -> np.ndarray:
    """``probs`` rounded to the sliders' step so that the shown row sums to exactly 1.

    Largest-remainder rounding: each value moves by less than one step. With
    ``pinned``, that value (already on the grid) is kept as it is.
    """
    row = np.asarray(probs, dtype=np.float64)
    units = round(1 / STEP)
    if pinned is None:
        return _largest_remainder(row, units) / units
    whole = np.zeros(row.size, dtype=int)
    whole[pinned] = min(max(round(row[pinned] * units), 0), units)
    others = np.delete(np.arange(row.size), pinned)
    whole[others] = _largest_remainder(row[others], units - whole[pinned])
    return whole / units


class CriteriaPlayground(widgets.VBox):
    """Sliders for one row of class probabilities, kept summing to 1, and live scores.

    Moving one slider rescales the others proportionally so the row stays a
    probability distribution. ``probs`` and ``scores`` give the current state; the
    sliders show ``probs`` rounded to their step (0.01), summing to exactly 1.

    A drag settles after one update: Python writes only values on the sliders'
    grid, and a value coming back from the browser that is what Python last
    showed (give or take the browser's rounding) is an echo, not a new drag.
    """

    #: The sliders (one per class) and the HTML view of the scores, as the front end sees them.
    sliders: list
    view: widgets.HTML

    def __init__(self, class_names=None, probs=None) -> None:
        if class_names is None:
            class_names = [f"class {i}" for i in range(5)]
        if isinstance(class_names, (str, bytes)) or not isinstance(
            class_names, (list, tuple)
        ):
            raise TypeError("class_names must be a list of strings")
        if not all(isinstance(c, str) for c in class_names):
            raise TypeError("class_names must be a list of strings")
        class_names = list(class_names)
        if len(class_names) < 2:
            raise ValueError("class_names needs at least 2 classes")
        if len(class_names) > 1 / STEP:
            raise ValueError(f"class_names can have at most {round(1 / STEP)} classes")
        if len(set(class_names)) != len(class_names):
            raise ValueError("class_names must be unique")
        self.class_names = class_names
        k = len(class_names)
        self._probs = np.full(k, 1.0 / k)
        self._shown = shown_values(self._probs)
        self.sliders = [
            widgets.FloatSlider(
                value=float(v),
                min=0.0,
                max=1.0,
                step=STEP,
                description=name,
                readout_format=".2f",
                continuous_update=True,
                style={"description_width": "7em"},
            )
            for name, v in zip(class_names, self._shown)
        ]
        self._updating = False
        self.n_updates = 0  # how many times the row changed (tests watch this)
        for i, slider in enumerate(self.sliders):
            slider.observe(lambda change, i=i: self._on_slide(i, change), "value")
        self.view = widgets.HTML()
        super().__init__(
            [
                widgets.HTML("<b>Class probabilities</b> (the row always sums to 1)"),
                *self.sliders,
                self.view,
            ]
        )
        self.add_class("alwidgets-playground")
        if probs is not None:
            self.set_probs(probs)
        else:
            self._render()

    @property
    def probs(self) -> np.ndarray:
        """The current row of probabilities (a copy)."""
        return self._probs.copy()

    @property
    def shown(self) -> np.ndarray:
        """What the sliders show: ``probs`` on the 0.01 grid, summing to 1 (a copy)."""
        return self._shown.copy()

    @property
    def scores(self) -> dict[str, float]:
        """The three uncertainty scores of the current row (higher = more uncertain)."""
        row = self._probs[None, :]
        return {name: float(fn(row)[0]) for name, fn in SHOWN.items()}

    def set_probs(self, probs) -> None:
        """Set all probabilities at once; ``probs`` must already sum to 1."""
        row = check_probs(np.atleast_2d(np.asarray(probs)))
        if row.shape != (1, len(self.class_names)):
            raise ValueError(
                f"expected {len(self.class_names)} probabilities, got shape "
                f"{np.shape(probs)}"
            )
        self._update(row[0] / row[0].sum())

    def _on_slide(self, index: int, change) -> None:
        if self._updating:
            return
        new = float(change["new"])
        if abs(new - self._shown[index]) < STEP / 2:
            return  # an echo of what we showed, snapped by the browser: no drag
        new = min(max(round(new / STEP) * STEP, 0.0), 1.0)
        others = np.delete(np.arange(len(self._probs)), index)
        rest = self._probs[others]
        if rest.sum() > 0:
            rest = rest / rest.sum() * (1.0 - new)
        else:
            rest = np.full(rest.size, (1.0 - new) / rest.size)
        probs = self._probs.copy()
        probs[index] = new
        probs[others] = rest
        self._update(probs, dragged=index)

    def _update(self, probs: np.ndarray, dragged: int | None = None) -> None:
        self._probs = probs
        self._shown = shown_values(probs, pinned=dragged)
        self.n_updates += 1
        self._updating = True
        try:
            for i, (slider, value) in enumerate(zip(self.sliders, self._shown)):
                if i != dragged and abs(slider.value - value) >= STEP / 2:
                    slider.value = float(value)
        finally:
            self._updating = False
        self._render()

    def _render(self) -> None:
        k = len(self._probs)
        maxima = {
            "least confidence": 1 - 1 / k,
            "smallest margin": 1.0,
            "entropy": float(np.log(k)),
        }
        rows = [_bar(n, v, maxima[n], "#d95f02") for n, v in self.scores.items()]
        self.view.value = (
            "<b>Uncertainty scores</b> (bar = share of the largest possible value)"
            + "".join(rows)
        )
