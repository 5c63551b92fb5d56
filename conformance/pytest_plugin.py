"""The pytest plugin: each spec scenario on each backend is a test item.

    pytest specs/ --conformance-backend reference --conformance-backend torch-cpu

collects `tutorial.in34_accumulation[torch-cpu]` and its siblings from the YAML files. It is
registered as the `pytest11` entry point `conformance` and stays inert unless `--conformance`
or `--conformance-backend` is given, so installing it changes no other pytest run.

The hooks are thin: loading is `load_spec`, running is `Runner.run`, and a failure shows
`ScenarioResult.report()`, the CLI's diff. Backends run in worker processes as in the CLI
(`--conformance-isolation=process`, started at the first item), so an engine's crash, exit or
hang is that item's failure and the session goes on. Outcomes:

- pass: passed; fail, error, crash and timeout: failed, with the report;
- unsupported: skipped, with the missing capability;
- unavailable: failed by default, because a job that names a backend (torch-cuda on a machine
  that lost its GPU) must not go green by skipping everything; `--conformance-unavailable=skip`
  skips instead. Either way the `conformance` summary section names the backend and why.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from conformance.cli.options import add_backend_options, add_isolation_options

if TYPE_CHECKING:  # the harness imports numpy and yaml: only load it when the plugin is used
    from conformance.backends.base import Backend
    from conformance.ci.expectations import Expectations
    from conformance.isolation import Executor, Isolation
    from conformance.run.results import ScenarioResult
    from conformance.run.runner import Runner
    from conformance.spec.model import Scenario

SPEC_SUFFIXES = (".yaml", ".yml")
# A YAML file is a spec when it has a top-level `spec:` key; other YAML (CI configs) is left alone.
_SPEC_KEY = re.compile(rb"^spec\s*:", re.MULTILINE)
# Tags that would change what pytest does if they became markers; they stay -k keywords only.
_PYTEST_MARKS = frozenset(
    {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings"}
    | {"tryfirst", "trylast"}
)
_SESSION = pytest.StashKey["ConformanceSession"]()
_PROPERTY = "conformance_status"
UNAVAILABLE_MODES = ("fail", "skip")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "autograd conformance specs (YAML scenarios)")
    group.addoption(
        "--conformance",
        action="store_true",
        help="collect spec YAML files as tests, on the default backends unless "
        "--conformance-backend names others",
    )
    add_backend_options(group.addoption, prefix="--conformance-")
    add_isolation_options(group.addoption, prefix="--conformance-")
    group.addoption(
        "--conformance-installed",
        action="store_true",
        help="also collect the installed spec set, the one `conformance run` runs by default "
        "(no specs/ folder needed); implies --conformance",
    )
    group.addoption(
        "--conformance-unavailable",
        choices=UNAVAILABLE_MODES,
        default="fail",
        help="what an unavailable backend's items do: fail (default, so a job that lost its "
        "GPU is red) or skip",
    )
    group.addoption(
        "--conformance-expectations",
        metavar="DIR",
        default=None,
        help="known-failure manifests DIR/<backend>.yaml, as for `conformance run` "
        "(default: reports/expectations under the rootdir, when it exists)",
    )


def pytest_configure(config: pytest.Config) -> None:
    wanted = ("conformance", "conformance_backend", "conformance_installed")
    if not any(config.getoption(option) for option in wanted):
        return
    if config.getoption("conformance_installed"):
        from conformance.errors import UsageError
        from conformance.spec.specset import installed_folder

        try:
            config.args.append(str(installed_folder()))  # collected as if named
        except UsageError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
    session = ConformanceSession.from_config(config)
    config.stash[_SESSION] = session
    config.pluginmanager.register(session, "conformance-session")
    config.addinivalue_line("markers", "conformance: a spec scenario run on one backend")


class ConformanceSession:
    """The plugin's state in one pytest process: backends, runner, ids seen, status counts.

    `backends` are loaded in this process to name them, read their versions and say whether
    they are available; scenarios run on `executors`, started at the first item."""

    def __init__(
        self,
        backends: Sequence[Backend],
        baseline: Backend,
        targets: dict[str, str],
        isolation: Isolation,
        skip_unavailable: bool,
        note: str = "",
        expectations: Expectations | None = None,
    ) -> None:
        from conformance.ci.expectations import Expectations

        self.backends = list(backends)
        self.baseline = baseline
        self.targets = targets  # each backend's name, and the name a worker resolves
        self.isolation = isolation
        self.expectations = expectations or Expectations({})
        self.skip_unavailable = skip_unavailable
        self.note = note
        self.ids: dict[str, str] = {}
        self.markers: set[str] = set()
        self.counts: Counter[str] = Counter()  # items by status, for the summary
        self._executors: dict[str, Executor] = {}
        self._runner: Runner | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> ConformanceSession:
        """Resolve the backends and the baseline as the CLI does; bad names are usage errors."""
        from conformance.backends import choose_baseline, default_backend_names, resolve_backend
        from conformance.ci.expectations import engine_versions, load_expectations
        from conformance.cli.options import isolation_from
        from conformance.errors import SpecError, UsageError

        names: list[str] = config.getoption("conformance_backend") or []
        note = ""
        if not names:
            names, note = default_backend_names()
        try:
            isolation = isolation_from(
                lambda option: config.getoption(f"conformance_{option}"), "--conformance-"
            )
            given = list(dict.fromkeys(names))
            backends = [resolve_backend(name) for name in given]
            asked = config.getoption("conformance_baseline")
            baseline = choose_baseline(backends, asked)
        except UsageError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
        skip = config.getoption("conformance_unavailable") == "skip"
        manifests = config.getoption("conformance_expectations")
        directory = Path(manifests) if manifests else config.rootpath / "reports" / "expectations"
        if manifests and not directory.is_dir():
            raise pytest.UsageError(f"conformance: no expectations directory {directory}")
        try:
            known = load_expectations(
                directory if directory.is_dir() else None,
                [b.name for b in backends],
                engine_versions(backends),
            )
        except SpecError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
        targets = {backend.name: name for backend, name in zip(backends, given)}
        targets.setdefault(baseline.name, asked or baseline.name)
        return cls(backends, baseline, targets, isolation, skip, note, known)

    def runner_for(self, backend: Backend) -> tuple[Runner, Executor]:
        """The runner and `backend`'s executor, starting every backend's at the first call."""
        if self._runner is None:
            self._start()
        assert self._runner is not None
        return self._runner, self._executors[backend.name]

    def _start(self) -> None:
        from conformance.errors import UsageError
        from conformance.isolation import Local, start_executors
        from conformance.run.runner import Runner, TimingOptions

        if self.isolation.mode == "none":  # the backends loaded here, thread settings untouched
            loaded = {backend.name: backend for backend in [*self.backends, self.baseline]}
            self._executors = {name: Local(backend) for name, backend in loaded.items()}
        else:
            try:
                executors = start_executors(list(self.targets.values()), self.isolation)
            except UsageError as exc:  # a worker could not load what this process could
                pytest.exit(f"conformance: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            self._executors = dict(zip(self.targets, executors))
        # Timing is the CLI's job (and pytest-benchmark's): here each item runs once.
        timing = TimingOptions(warmup=0, repeat=0)
        self._runner = Runner(self._executors[self.baseline.name], timing)

    def close(self) -> None:
        executors, self._executors, self._runner = self._executors, {}, None
        for executor in executors.values():
            executor.close()

    # --- hooks -----------------------------------------------------------------------------

    def pytest_report_header(self) -> list[str]:
        names = ", ".join(backend.name for backend in self.backends)
        lines = [
            f"conformance: backends {names}; baseline {self.baseline.name}; "
            f"isolation {self.isolation.mode}"
        ]
        if self.note:
            lines.append(f"conformance: {self.note}")
        lines.extend(f"conformance: {reason}" for _, reason in self.expectations.unused)
        return lines

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> SpecFile | None:
        if file_path.suffix not in SPEC_SUFFIXES:
            return None
        # A file named on the command line is always a spec, so a broken one says why.
        if not (parent.session.isinitpath(file_path) or _has_spec_key(file_path)):
            return None
        return SpecFile.from_parent(parent, path=file_path)

    def pytest_sessionfinish(self) -> None:
        self.close()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Reads what the item recorded, so under xdist the controller counts workers' items.
        status = dict(report.user_properties).get(_PROPERTY)
        if report.when == "call" and status is not None:
            self.counts[str(status)] += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        unavailable: dict[str, str] = {}
        for backend in self.backends:
            reason = _unavailable_reason(backend)
            if reason is not None:
                unavailable[backend.name] = reason
        if not self.counts and not unavailable:
            return
        from conformance.run.results import Status

        terminalreporter.section("conformance")
        rare = (Status.CRASH, Status.TIMEOUT)  # worker faults: named only when they happen
        parts = ", ".join(
            f"{self.counts[status.value]} {status.value}"
            for status in Status
            if self.counts[status.value] or status not in rare
        )
        terminalreporter.line(f"{self.counts.total()} scenario runs: {parts}")
        for name, reason in unavailable.items():
            outcome = "skipped" if self.skip_unavailable else "failed"
            terminalreporter.line(
                f"{name} is unavailable: {reason}; "
                f"its items {outcome} (--conformance-unavailable=fail|skip)",
                red=not self.skip_unavailable,
                yellow=self.skip_unavailable,
            )

    # --- collection helpers ----------------------------------------------------------------

    def claim(self, scenario: Scenario) -> None:
        """Reject a second file with the same id, as `load_specs` does for the CLI."""
        from conformance.errors import SpecError

        first = self.ids.setdefault(scenario.id, str(scenario.where))
        if first != str(scenario.where):
            raise SpecError(
                scenario.where, f"duplicate id {scenario.id!r}; first defined at {first}"
            )

    def register_marker(self, config: pytest.Config, tag: str) -> bool:
        """Register a tag as a marker (so --strict-markers accepts it); False for pytest's own."""
        if tag in _PYTEST_MARKS or not tag.isidentifier():
            return False
        if tag not in self.markers:
            self.markers.add(tag)
            config.addinivalue_line("markers", f"{tag}: spec tag (conformance)")
        return True


def _unavailable_reason(backend: Backend) -> str | None:
    try:
        availability = backend.availability()
    except Exception:  # a plug-in's bug: its items already show it as an error
        return None
    return None if availability.available else availability.reason


def _has_spec_key(path: Path) -> bool:
    try:
        return _SPEC_KEY.search(path.read_bytes()) is not None
    except OSError:
        return False


class SpecFile(pytest.File):
    """One spec file: one item per backend, or one collection error naming file:line."""

    def collect(self) -> Iterator[ScenarioItem]:
        from conformance.errors import SpecError
        from conformance.spec import load_spec

        session = self.config.stash[_SESSION]
        try:
            scenario = load_spec(self.path)
            session.claim(scenario)
        except SpecError as exc:
            raise self.CollectError(str(exc)) from None  # shown as the message alone
        markers = [tag for tag in scenario.tags if session.register_marker(self.config, tag)]
        for backend in session.backends:
            yield ScenarioItem.from_parent(
                self,
                name=f"{scenario.id}[{backend.name}]",
                scenario=scenario,
                backend=backend,
                markers=markers,
            )


def _skip(reason: str) -> NoReturn:
    """Skip the running item, reported at its spec file (as a skip marker would be), not at
    this line. `_use_item_location` is what pytest's own skip markers use."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


class ScenarioFailure(Exception):
    """A scenario that failed, errored or could not run; carries the report to show."""

    def __init__(self, result: ScenarioResult, hint: str = "") -> None:
        super().__init__(result.report() + (f"\n  {hint}" if hint else ""))


class ScenarioItem(pytest.Item):
    """One scenario on one backend, run through `Runner.run`."""

    def __init__(
        self, *, scenario: Scenario, backend: Backend, markers: Sequence[str], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.backend = backend
        self.add_marker("conformance")
        for tag in markers:
            self.add_marker(tag)
        self.extra_keyword_matches.update(scenario.tags)  # `-k tag` works for every tag

    def runtest(self) -> None:
        from conformance.run.results import Status

        session = self.config.stash[_SESSION]
        runner, executor = session.runner_for(self.backend)
        result = session.expectations.apply(runner.run(self.scenario, executor))
        self.user_properties.extend(
            [
                ("conformance_scenario", self.scenario.id),
                ("conformance_backend", self.backend.name),
                (_PROPERTY, result.status.value),
            ]
        )
        if result.status is Status.UNSUPPORTED:
            _skip(f"unsupported: {result.reason}")
        if result.status is Status.UNAVAILABLE:
            if session.skip_unavailable:
                _skip(f"unavailable: {self.backend.name}: {result.reason}")
            raise ScenarioFailure(
                result, "(--conformance-unavailable=skip skips an unavailable backend instead)"
            )
        if result.status is Status.XFAIL and result.expected is not None:
            pytest.xfail(f"known failure ({result.expected.source}): {result.expected.reason}")
        if not result.ok:
            raise ScenarioFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        # The CLI's "id [backend]"; pytest would show a domain that ends the node id (our
        # `name`) with its dots turned into `::`, which no longer selects the item.
        return self.path, self.scenario.where.line - 1, f"{self.scenario.id} [{self.backend.name}]"
