"""The pytest plugin (registered by entry point, so installing reportgen is enough): the
``reportgen_check`` fixture builds a gallery and checks it against a baseline folder, as
pytest-regressions does for data files.

    def test_gallery(reportgen_check):
        reportgen_check("baseline", "inputs", models="efficientnet_lite0", preset="quick")

Relative folders are relative to the test file's folder. A baseline that is not there yet is
written from this build and the test fails, saying so; ``pytest --reportgen-update`` rewrites
every baseline the same way. A build that moved fails the test with one line per artifact and the
path of the regression report.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pytest

if TYPE_CHECKING:
    from reportgen.regress import Outcome


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("reportgen").addoption(
        "--reportgen-update", action="store_true", default=False,
        help="reportgen_check: make each build the baseline instead of checking it (the tests fail, saying so).")


class ReportgenCheck:
    """Build a gallery into the test's temporary folder and compare it with a baseline."""

    def __init__(self, folder: Path, work: Path, cache_dir: Path, update: bool):
        self.folder, self.work, self.cache_dir, self.update = folder, work, cache_dir, update

    def __call__(self, baseline: str | Path, input_dir: str | Path | None = None, *, config: str | Path | None = None,
                 tolerances: Mapping[str, float] | None = None, **settings: Any) -> Outcome:
        """Build ``input_dir`` (or the config file's input) with ``settings`` (``reportgen.build``'s
        keywords) and check it against ``baseline``; returns the check's outcome when it passed."""
        from reportgen.interface.api import build, update_baseline
        from reportgen.regress import RegressionError, Tolerance, check

        try:  # a bad tolerance fails the test before the build
            tolerance = Tolerance.parse((f"{name}={value}" for name, value in (tolerances or {}).items()), "tolerances")
        except RegressionError as error:
            pytest.fail(str(error), pytrace=False)
        baseline_dir = self.folder / baseline
        out = self.work / "site"
        settings.setdefault("cache_dir", self.cache_dir)
        gallery = build(None if input_dir is None else self.folder / input_dir,
                        config=None if config is None else self.folder / config, out=out, **settings)
        if gallery.errors:
            pytest.fail("the build failed:\n" + "\n".join(gallery.errors), pytrace=False)
        if self.update or not baseline_dir.exists():
            count = update_baseline(baseline_dir, out=out, cache_dir=settings["cache_dir"])
            why = "updated (--reportgen-update)" if self.update else "did not exist"
            pytest.fail(f"baseline {baseline_dir} {why}: written from this build ({count} artifacts); "
                        "review it and run the test again", pytrace=False)
        try:
            outcome, report = check(baseline_dir, out, Path(settings["cache_dir"]), tolerance)
        except RegressionError as error:
            pytest.fail(f"the check cannot run: {error}", pytrace=False)
        if not outcome.passed:
            pytest.fail("\n".join([outcome.summary(), *outcome.lines(), f"report: {report}"]), pytrace=False)
        return outcome


@pytest.fixture
def reportgen_check(request: pytest.FixtureRequest, tmp_path: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> ReportgenCheck:
    """``reportgen_check(baseline, input_dir=None, *, config=None, tolerances=None, **settings)``:
    see this module's docstring. One artifact cache serves the whole test session."""
    return ReportgenCheck(request.path.parent, tmp_path, tmp_path_factory.getbasetemp() / "reportgen-cache",
                          request.config.getoption("reportgen_update"))
