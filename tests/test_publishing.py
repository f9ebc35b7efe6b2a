"""The GitHub Pages workflow builds the book with the README's command and publishes _build/html from main."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_pages_workflow_builds_with_make_book_and_deploys_from_main():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    build_steps = workflow["jobs"]["build"]["steps"]
    assert any(step.get("run", "").startswith("make book") for step in build_steps)
    upload = next(step for step in build_steps if "upload-pages-artifact" in step.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and "deploy-pages" in deploy["steps"][0]["uses"]


def test_readme_commands_exist_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("book:", "test:", "setup:"):
        assert f"\n{target}" in makefile
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
