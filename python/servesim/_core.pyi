"""Type stubs of the extension module ``servesim._core`` (see the wrappers in ``servesim``)."""

from typing import Any, Callable

__version__: str

class InputError(ValueError):
    """Bad input: the message names the file, row or key, and the reason (CLI exit code 2)."""

class ServesimError(RuntimeError):
    """A failure that is not the input's fault (CLI exit code 1)."""

_Columns = list[tuple[str, str, list[Any]]]
_Progress = Callable[[int, int], Any] | None

def mmc(arrival_rate: float, service_rate: float, servers: int) -> str: ...
def md1(arrival_rate: float, service_time_s: float) -> str: ...
def mg1(arrival_rate: float, mean_service_s: float, second_moment_s2: float) -> str: ...
def erlang_c(servers: int, offered_load: float) -> float: ...
def zipf(n: int, s: float) -> list[float]: ...
def che(popularities: list[float], capacity: float) -> float: ...
def simulate(
    scenario: str,
    kind: str,
    seed: int | None = None,
    requests: int | None = None,
    trace: str | None = None,
    trace_format: str | None = None,
    speed: float | None = None,
    records: bool = False,
    out: str | None = None,
    progress: _Progress = None,
) -> dict[str, Any]: ...
def trace_generate(
    scenario: str, kind: str, requests: int | None = None, seed: int | None = None, out: str | None = None
) -> tuple[_Columns, str]: ...
def trace_read(path: str, format: str | None = None) -> tuple[_Columns, str]: ...
def builtin_scenarios() -> list[tuple[str, str]]: ...
def gate(baseline_json: str, candidate_json: str, rules: str, rules_is_text: bool = False) -> str: ...
def gate_dirs(baseline: str, candidate: str, rules: str, out: str) -> tuple[str, str, str]: ...
def builtin_rules() -> list[tuple[str, str]]: ...
def sweep(
    scenario: str,
    kind: str,
    vary: list[tuple[str, list[str]]],
    out: str,
    requests: int | None = None,
    jobs: int | None = None,
    progress: _Progress = None,
) -> tuple[str, str, _Columns, int]: ...
def plan(
    scenario: str,
    kind: str,
    slo: str,
    max_drop: float = 0.001,
    rate: float | None = None,
    trace: str | None = None,
    trace_format: str | None = None,
    min_count: int = 0,
    max_count: int = 8,
    requests: int | None = None,
    seed: int | None = None,
) -> tuple[str, float, str]: ...
def groundtruth(
    cases: list[str],
    calibration: str | None = None,
    models: str | None = None,
    seed: int = 1,
    out: str | None = None,
) -> tuple[str, list[tuple[str, str, str, str, str | None]]]: ...
def course_figure(
    id: str, dir: str, quick: bool = True, progress: _Progress = None
) -> tuple[str, str, str, str, str, list[str]]: ...
def course_figure_ids() -> list[tuple[str, int]]: ...
def course_measured_figure(
    id: str,
    dir: str,
    models: str,
    quick: bool = True,
    profile: str | None = None,
    progress: _Progress = None,
) -> tuple[str, str, str, str, str, list[str]]: ...
def course_measured_ids() -> list[tuple[str, int]]: ...
def render_figure(json: str) -> tuple[str, str, str, str, str, list[str]]: ...
