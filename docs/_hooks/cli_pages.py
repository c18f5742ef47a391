"""MkDocs hook: the pages that are generated when the site is built, never written by hand.

- The command reference (`commands/*.md`) is rendered from mobikit's Typer app (`mobikit.cli.reference`), so the
  site and `--help` cannot disagree; the nav's "Commands" section lists every command the app has.
- The home page is the README, its links made relative to `docs/`: one front page, not two to keep in step.
- The benchmark results (`benchmarks/results/*.md` and their PNGs) are embedded as they are, one page per file; the
  nav's "Benchmarks" section lists them after the hand-written `benchmarks/index.md`.
"""

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def _reference():
    from mobikit.cli import reference

    return reference


def _result_pages() -> list[Path]:
    return sorted(RESULTS.glob("*.md"))


def on_config(config):
    sections = {
        "Commands": ["commands/index.md", *(f"commands/{name}.md" for name in _reference().command_names())],
        "Benchmarks": ["benchmarks/index.md", *(f"benchmarks/{page.name}" for page in _result_pages())],
    }
    for entry in config["nav"]:
        for title, pages in sections.items():
            if isinstance(entry, dict) and title in entry:
                entry[title] = pages
    return config


def home_page() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8").replace("](docs/", "](")


def on_files(files, config):
    reference = _reference()
    files.append(File.generated(config, "index.md", content=home_page()))
    files.append(File.generated(config, "commands/index.md", content=reference.index_page()))
    for name in reference.command_names():
        files.append(File.generated(config, f"commands/{name}.md", content=reference.command_page(name)))
    for page in _result_pages():
        text = page.read_text(encoding="utf-8")
        if not text.lstrip().startswith("# "):
            text = f"# {page.stem.replace('_', ' ')}\n\n{text}"
        note = (f"\n\n*This page is `benchmarks/results/{page.name}` as its script last wrote it (`python "
                f"benchmarks/{page.stem}.py`).*\n")
        files.append(File.generated(config, f"benchmarks/{page.name}", content=text + note))
    for image in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"benchmarks/{image.name}", content=image.read_bytes()))
    return files
