"""An import-linter contract type the stock ones lack: no module imports a private name
(``from a.b import _helper``) from another module. What several modules share is promoted to a
public, documented function instead.

Checked by ``lint-imports`` (configured in ``pyproject.toml``), which ``tests/test_layering.py``
runs in ``make test``.
"""
from __future__ import annotations

import re

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

# the names after "import" in one import line: "from x import a, _b as c" -> a, _b
IMPORTED_NAMES = re.compile(r"\bimport\s+\(?(.*?)\)?\s*(?:#.*)?$")


def private_names(line: str) -> list[str]:
    """The private names a ``from ... import ...`` line imports (not dunders)."""
    if not line.lstrip().startswith("from "):
        return []
    match = IMPORTED_NAMES.search(line)
    if not match:
        return []
    names = [part.strip().split(" as ")[0].strip() for part in match.group(1).split(",")]
    return [name for name in names if name.startswith("_") and not name.startswith("__")]


class PrivateNamesContract(Contract):
    """Options: ``packages`` — the packages whose modules may not import each other's private names."""

    type_name = "private_names"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        modules = {m for p in self.packages for m in {p} | graph.find_descendants(p)}  # type: ignore[attr-defined]
        found = []
        for importer in sorted(modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if imported == importer:
                    continue
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    for name in private_names(detail["line_contents"]):
                        found.append((importer, detail["line_number"], imported, name))
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line, imported, name in check.metadata["found"]:
            output.print_error(f"{importer}:{line} imports the private name {name} from {imported}")
            output.new_line()
