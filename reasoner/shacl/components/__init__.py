"""SHACL Core constraint components, one module per family of the specification (SHACL 1.0 §4).

Each compiler takes (compiler, shape, parameters present, stack) and returns the constraint's
(holds, report) closures, or None when the shape does not use it. `COMPILERS` runs them in a fixed
order, so results come out in the same order on every run.
"""

from reasoner.shacl.components import cardinality, logical, other, shape_based, string, value_range, value_type

__all__ = ["COMPILERS", "PARAMETERS"]

_FAMILIES = (value_type, cardinality, value_range, string, other, logical, shape_based)

COMPILERS = tuple(c for family in _FAMILIES for c in family.COMPILERS)
# The constraint parameters the fast path compiles; any other one is refused at load time.
PARAMETERS = frozenset().union(*(family.PARAMETERS for family in _FAMILIES))
