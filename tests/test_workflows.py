"""The GitHub workflows, the composite action and Dependabot's config: they parse, use actions at a
major version, and name only files, commands and flags that exist; the lowest-versions job's
constraints pin every requirement of pyproject.toml at its lower bound."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.interface.cli import main

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION = ROOT / "action.yml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def steps(document: dict) -> list[dict]:
    if "runs" in document:
        return document["runs"]["steps"]
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def run_lines(path: Path) -> list[str]:
    return [line for step in steps(load(path)) for line in step.get("run", "").splitlines()]


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION, ROOT / ".github" / "dependabot.yml"], ids=lambda p: p.name)
def test_parses(path):
    assert isinstance(load(path), dict)


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_actions_are_this_repository_or_pinned_at_a_major_version(path):
    used = [step["uses"] for step in steps(load(path)) if "uses" in step]
    assert used
    for name in used:
        assert name == "./" or re.fullmatch(r"[\w-]+/[\w-]+@v\d+", name), name


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_the_files_a_step_runs_or_reads_exist(path):
    named = {word for line in run_lines(path) for word in re.findall(r"(?:\.ci|tests|benchmarks)/[\w./-]+|[\w-]+\.txt", line)}
    named |= {value for step in steps(load(path)) for value in (step.get("with") or {}).values()
              if isinstance(value, str) and re.fullmatch(r"[\w-]+(/[\w.-]+)*\.(toml|txt)|tests/[\w/]+", value)}
    for name in named:
        assert (ROOT / name).exists(), f"{path.name} names {name}, which is not in the repository"


def test_the_action_runs_real_commands_with_real_flags():
    lines = [line for line in run_lines(ACTION) if line.strip().startswith("reportgen ") or " reportgen " in line]
    assert lines
    for line in lines:
        command_line = line[line.index("reportgen "):].split("|")[0]
        command = main.commands[command_line.split()[1]]
        flags = {flag for option in command.params for flag in (*option.opts, *option.secondary_opts)}
        for flag in re.findall(r"(?<![\w$-])(-{1,2}[a-z][\w-]*)", command_line):
            assert flag in flags, f"reportgen {command.name} has no {flag}"


def test_the_pages_workflow_publishes_through_the_action_with_its_inputs():
    action = load(ACTION)
    assert {"input", "models", "preset", "config", "baseline"} <= set(action["inputs"])
    (ours,) = [step for step in steps(load(ROOT / ".github" / "workflows" / "pages.yml")) if step.get("uses") == "./"]
    assert set(ours["with"]) <= set(action["inputs"])
    (upload,) = [step for step in steps(action) if step.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload["with"]["include-hidden-files"] is True  # the site's .nojekyll


def test_tests_run_on_the_oldest_newest_and_showcase_python_and_at_the_lower_bounds():
    workflow = load(ROOT / ".github" / "workflows" / "tests.yml")
    assert set(workflow["jobs"]["test"]["strategy"]["matrix"]["python"]) == {"3.10", "3.11", "3.13"}
    lowest = workflow["jobs"]["lowest"]
    assert [s["with"]["python-version"] for s in lowest["steps"] if "setup-python" in s.get("uses", "")] == ["3.10"]
    assert any(".ci/lowest" in s.get("run", "") for s in lowest["steps"])


def test_the_lowest_constraints_pin_every_requirement_at_its_lower_bound():
    from reportgen.interface.config import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pinned = subprocess.run([sys.executable, str(ROOT / ".ci" / "lowest_constraints.py")], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert len(pinned) == len(requirements)
    for requirement, pin in zip(requirements, pinned):
        name, bound = re.match(r"([\w.-]+)\s*(?:==|>=)\s*([^,;\s]+)", requirement).groups()
        assert pin.split(";")[0].strip() == f"{name}=={bound}", (requirement, pin)
        assert (";" in requirement) == (";" in pin)  # markers kept: tomli only before Python 3.11
