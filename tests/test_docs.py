"""The documentation keeps up with the code: every command, option and public name has its place in docs/, every
link resolves, and the README's two commands stay what `.ci/run` and a newcomer run.

Written to fail when a command, an option or a public name is added without documenting it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import bulkbackup as bb
from bulkbackup._cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
PYTHON_DOC = DOCS / "python.md"


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) for the program and every subcommand under it, however deep."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        for option in action.option_strings
    ]


COMMANDS = list(commands(cli.build_parser()))


def sections(text: str, level: str = "##") -> dict[str, str]:
    """Heading text → the text up to the next heading of the same or a higher level."""
    found: dict[str, str] = {}
    parts = re.split(rf"^({level}(?!#).*)$", text, flags=re.M)
    found[""] = parts[0]
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        found[heading.lstrip("#").strip()] = body
    return found


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


@pytest.mark.parametrize("path,parser", COMMANDS[1:], ids=[" ".join(p) for p, _ in COMMANDS[1:]])
def test_every_command_has_a_section_naming_each_of_its_options(path, parser):
    heading = f"`bulkbackup {' '.join(path)}`"
    section = sections(CLI_DOC.read_text()).get(heading)
    assert section is not None, f"docs/cli.md has no section '## {heading}'"
    missing = [option for option in options(parser) if not mentions(section, option)]
    assert not missing, f"docs/cli.md, section {heading}, does not mention {missing}"


def test_the_program_s_own_options_are_documented():
    intro = sections(CLI_DOC.read_text())[""]
    program = COMMANDS[0][1]
    assert [option for option in options(program) if not mentions(intro, option)] == []


def test_the_command_table_lists_every_command():
    table = sections(CLI_DOC.read_text())[""]
    listed = set(re.findall(r"^\| \[`bulkbackup ([a-z -]+)`\]", table, flags=re.M))
    assert {" ".join(path) for path, _ in COMMANDS[1:]} <= listed


def public_names() -> list[str]:
    names = [f"bb.{name}" for name in bb.__all__]
    for module in ("events", "sandbox", "widgets"):
        names += [f"bb.{module}.{name}" for name in getattr(bb, module).__all__]
    return names


@pytest.mark.parametrize("name", public_names())
def test_every_public_name_has_an_entry_in_the_python_reference(name):
    """An entry: a table row or a heading that starts with the name, not a mention in passing."""
    entry = rf"^(\|\s*|#+\s*)`{re.escape(name)}(?![\w.])"
    assert re.search(entry, PYTHON_DOC.read_text(), flags=re.M), f"docs/python.md has no entry for {name}"


def test_every_setting_is_in_the_changes_file_s_table():
    text = (DOCS / "changes-file.md").read_text()
    missing = [f.name for f in bb.SETTINGS if not re.search(rf"^\| `{f.name}` \|", text, flags=re.M)]
    assert missing == []


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+\s+(.*)$", path.read_text(), flags=re.M)}


DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_every_relative_link_resolves(document):
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https://, mailto: — not checked offline
        file, _, anchor = target.partition("#")
        where = (document.parent / file).resolve() if file else document
        if not where.exists():
            broken.append(target)
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(target)
    assert broken == [], f"{document.name}: links that lead nowhere: {broken}"


def test_the_readme_starts_with_the_two_commands():
    """`.ci/run` and the fresh-clone check run the second line of the first shell block; a newcomer the first."""
    block = re.search(r"```(?:bash|sh|shell|console)\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    install, test = lines
    assert install.startswith("pip install .") and install.endswith("bulkbackup demo")
    assert test.startswith('pip install -e ".[test]"')
    for check in ("ruff check .", "ruff format --check .", "lint-imports", "python -m pytest"):
        assert check in test, f"the README's test command lacks {check!r}"


def test_the_readme_links_every_page_of_the_docs():
    readme = (ROOT / "README.md").read_text()
    unlinked = [page.name for page in DOCS.glob("*.md") if f"docs/{page.name}" not in readme]
    # coolify-projects.md is a developer's note on the server, linked from architecture.md.
    assert sorted(unlinked) == ["coolify-projects.md"]


# Documented ahead of the branches that add them (issues 13-14); once merged they are in the modules' __all__ and
# these entries change nothing: remove them then.
AHEAD: set[str] = set()  # names documented before their code landed; empty once every branch is in


def test_every_name_the_docs_use_exists():
    """The other direction: a renamed or removed name (`bb.doctor` became `bb.diagnose`) must leave the docs too."""
    public = set(public_names()) | AHEAD
    stale = set()
    for document in DOCUMENTS:
        for name in re.findall(r"(?<![\w.])bb\.\w+(?:\.\w+)?", document.read_text()):
            first = ".".join(name.split(".")[:2])
            if name not in public and first not in public:
                stale.add(f"{document.name}: {name}")
    assert sorted(stale) == []
