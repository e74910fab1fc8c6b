"""Writing a benchmark's table into its own section of docs/benchmarks.md (others stay as they are)."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(path: Path, heading: str, body: str) -> None:
    """Replace the text under `heading` (up to the next `## `) in a markdown file; others' sections stay."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    block = [heading + "\n", "\n", body if body.endswith("\n") else body + "\n", "\n"]
    if start is None:
        if lines and lines[-1].strip():
            lines.append("\n")
        lines += block
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        lines[start:end] = block
    path.write_text("".join(lines).rstrip("\n") + "\n", encoding="utf-8")
