"""The README stays true: every setting in its configuration table, every linked file exists."""

from __future__ import annotations

import re
from pathlib import Path

from service.config import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_the_configuration_table_lists_every_setting() -> None:
    """Each Settings field appears as IOB_<NAME> in the README."""
    missing = [
        f"IOB_{name.upper()}"
        for name in Settings.model_fields
        if f"IOB_{name.upper()}" not in README
    ]
    assert missing == []


def test_the_configuration_table_names_no_setting_that_does_not_exist() -> None:
    """No IOB_ variable in the README is unknown to Settings."""
    known = {f"IOB_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"IOB_[A-Z0-9_]+", README))
    assert named - known == set()


def test_relative_links_in_the_readme_point_at_files() -> None:
    """Every relative markdown link resolves to a file in the repository."""
    links = re.findall(r"\]\(([^)#]+)\)", README)
    broken = [link for link in links if "://" not in link and not (REPO / link).exists()]
    assert broken == []
