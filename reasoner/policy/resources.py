"""Where the packaged data lives: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_PACKAGE = Path(str(resources.files("reasoner")))
_CHECKOUT = _PACKAGE.parent


def data_dir(name: str) -> Path:
    """`ontology` or `shapes`: the wheel ships them as reasoner/<name>, a checkout keeps them at the top."""
    packaged = _PACKAGE / name
    return packaged if packaged.is_dir() else _CHECKOUT / name


def package_file(name: str) -> Path:
    """A file that lives in the package itself."""
    return _PACKAGE / name


def contract_file(name: str) -> Path:
    """A file of the request contract: `context.jsonld` (JSON -> RDF), `request-v1.schema.json`."""
    return _PACKAGE / "contract" / name


def turtle_files(name: str) -> list[Path]:
    return sorted(data_dir(name).glob("*.ttl"))
