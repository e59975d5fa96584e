"""The pytest plugin (reportgen.interface.testing, registered by entry point): the reportgen_check fixture
as a test suite uses it, run by pytester on a tiny build."""
import pytest

from helpers import write_inputs

pytest_plugins = ["pytester"]

TEST_FILE = """
def test_gallery(reportgen_check):
    outcome = reportgen_check("baseline", "inputs", models="tiny", techniques="filters", preset="quick",
                              device="cpu", overrides={OVERRIDES})
    assert outcome.passed
"""


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The same build and check once before pytester starts: its in-process runs (and the test that
    holds it) forget every module imported after it started, and torch's operator libraries refuse
    to be imported a second time."""
    import reportgen

    folder = tmp_path_factory.mktemp("warm")
    write_inputs(folder / "inputs")
    reportgen.build(folder / "inputs", models="tiny", techniques="filters", preset="quick", device="cpu",
                    out=folder / "site", cache_dir=folder / "cache")
    reportgen.update_baseline(folder / "baseline", out=folder / "site", cache_dir=folder / "cache")


def test_the_fixture_writes_a_missing_baseline_checks_against_it_and_updates_it_on_request(imported, pytester):
    write_inputs(pytester.path / "inputs")
    pytester.makepyfile(test_reportgen_fixture=TEST_FILE.replace("{OVERRIDES}", "{}"))
    first = pytester.runpytest("-p", "no:cacheprovider")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*baseline */baseline did not exist: written from this build (* artifacts)*"])
    assert (pytester.path / "baseline" / "manifest.json").is_file()
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)

    pytester.makepyfile(test_reportgen_fixture=TEST_FILE.replace("{OVERRIDES}", "{'filters': {'max_filters': 4}}"))
    moved = pytester.runpytest("-p", "no:cacheprovider")
    moved.assert_outcomes(failed=1)
    moved.stdout.fnmatch_lines(["*check FAILED*appeared*vanished*", "*appeared: filters / *", "*report: *regressions.html*"])

    update = pytester.runpytest("-p", "no:cacheprovider", "--reportgen-update")
    update.assert_outcomes(failed=1)
    update.stdout.fnmatch_lines(["*baseline */baseline updated (--reportgen-update): written from this build*"])
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plugin_documents_its_option(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--reportgen-update*"])
