"""Project promises: the README's two set-up commands, and CI runs the test one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _console_commands() -> list[str]:
    """Return the commands of the README's "Set up on a fresh machine" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```console\n(.+?)\n```", section)


def test_readme_has_exactly_two_setup_commands() -> None:
    """One command runs the main job, one runs the tests."""
    cmds = _console_commands()
    assert len(cmds) == 2, cmds
    assert cmds[0].startswith('pip install ".[test]" && hashlb simulate'), cmds[0]
    assert cmds[1] == "python -m pytest", cmds[1]  # the same install: nothing builds twice


def test_the_main_command_installs_what_the_tests_need() -> None:
    """The test extra holds the istio extra, so the main command serves both."""
    text = (ROOT / "pyproject.toml").read_text()
    extras = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]

    def extra(name: str) -> set[str]:
        body = re.search(rf"^{name} = \[(.*?)\]", extras, re.M | re.S)
        assert body is not None, name
        return set(re.findall(r'"([^"]+)"', body.group(1)))

    assert extra("istio") <= extra("test")


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls the README's test command verbatim."""
    ci = (ROOT / ".ci" / "run").read_text()
    main, tests = _console_commands()
    assert f"{main}\n{tests}\n" in ci  # both, in one environment, as the README says


def test_readme_quickstart_runs() -> None:
    """The README's Python examples run and print what they show."""
    import doctest

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for i, block in enumerate(blocks):
        test = doctest.DocTestParser().get_doctest(block, {}, f"README[{i}]", "README.md", 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        assert runner.summarize(verbose=False).failed == 0
