"""The SHACL engine: shapes compiled once into Python checks, a small data graph, one report.

`compile_shapes` (the compiled engine, `compiler.py`, constraint families in `components/`) and
`ShapesRunner` (pySHACL, the reference) both return a `Report`. This package knows SHACL and RDF,
nothing of the policy: it imports no other part of `reasoner`.
"""
