"""Progress bars for long runs, fed by the library's progress callbacks (``done``, ``total``).

``progress=None`` (the default) shows a bar only in Jupyter, and only when the run is long
(``threshold`` units); ``True`` always shows one, ``False`` never, and a callable is called with
``(done, total)`` as the run advances. The bar is tqdm's when tqdm is installed, else an HTML
``<progress>`` element updated in place in Jupyter, else a line of text on stderr.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Union

ProgressArg = Union[None, bool, Callable[[int, int], Any]]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython ZMQ shell)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()  # type: ignore[attr-defined]
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Bar:
    """A progress bar drawn on the first update of a run of at least ``threshold`` units."""

    def __init__(self, what: str, unit: str, threshold: int) -> None:
        self.what, self.unit, self.threshold = what, unit, threshold
        self.draw: Callable[[int, int], None] | None = None
        self.close: Callable[[], None] = lambda: None
        self.started = time.monotonic()

    def _start(self, total: int) -> None:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-not-found]
        except ImportError:
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=total, desc=self.what, unit=self.unit[:-1] if self.unit.endswith("s") else self.unit)

            def draw(done: int, total: int) -> None:
                bar.update(done - bar.n)

            self.draw, self.close = draw, bar.close
        elif in_notebook():
            from IPython.display import HTML, display

            handle = display(HTML(self._html(0, total)), display_id=True)

            def draw(done: int, total: int) -> None:
                handle.update(HTML(self._html(done, total)))

            self.draw = draw
        else:

            def draw(done: int, total: int) -> None:
                end = "\n" if done >= total else ""
                sys.stderr.write(f"\r{self._text(done, total)}{end}")
                sys.stderr.flush()

            self.draw = draw

    def _text(self, done: int, total: int) -> str:
        return f"{self.what}: {done:,}/{total:,} {self.unit} ({time.monotonic() - self.started:.1f} s)"

    def _html(self, done: int, total: int) -> str:
        return f'<progress value="{done}" max="{total}" style="width: 40em"></progress> {self._text(done, total)}'

    def __call__(self, done: int, total: int) -> None:
        if total < self.threshold:
            return
        if self.draw is None:
            self._start(total)
        assert self.draw is not None
        self.draw(done, total)
        if done >= total:
            self.close()


def callback(progress: ProgressArg, what: str, unit: str, *, threshold: int) -> Callable[[int, int], Any] | None:
    """The ``(done, total)`` callback for ``progress``, or None for no progress at all."""
    if progress is False:
        return None
    if progress is True:
        return Bar(what, unit, 0)
    if progress is None:
        return Bar(what, unit, threshold) if in_notebook() else None
    if callable(progress):
        return progress
    raise TypeError(f"progress: expected None, True, False or a callable, got {type(progress).__name__}")
