"""The pytest plugin (reportgen.testing, registered by entry point): the reportgen_check fixture
as a test suite uses it, run by pytester on a tiny build."""
from helpers import write_inputs

pytest_plugins = ["pytester"]

TEST_FILE = """
def test_gallery(reportgen_check):
    outcome = reportgen_check("baseline", "inputs", models="tiny", techniques="filters", preset="quick",
                              device="cpu", overrides={OVERRIDES})
    assert outcome.passed
"""


def test_the_fixture_writes_a_missing_baseline_checks_against_it_and_updates_it_on_request(pytester, tmp_path):
    import reportgen

    write_inputs(pytester.path / "inputs")
    # The same build once here first: pytester's in-process runs forget the modules imported inside
    # them, and torch's operator libraries refuse to be imported a second time.
    reportgen.build(pytester.path / "inputs", models="tiny", techniques="filters", preset="quick", device="cpu",
                    out=tmp_path / "warm" / "site", cache_dir=tmp_path / "warm" / "cache")
    pytester.makepyfile(test_gallery=TEST_FILE.replace("{OVERRIDES}", "{}"))
    first = pytester.runpytest("-p", "no:cacheprovider")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*baseline */baseline did not exist: written from this build (* artifacts)*"])
    assert (pytester.path / "baseline" / "manifest.json").is_file()
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)

    pytester.makepyfile(test_gallery=TEST_FILE.replace("{OVERRIDES}", "{'filters': {'max_filters': 4}}"))
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
