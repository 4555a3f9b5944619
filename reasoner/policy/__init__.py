"""The policy as data, loaded once per process: the knowledge base (ontology/, shapes/) read into
lookup tables (`kb`), where the packaged files live (`resources`), and policy versions (`versions`).
Imports only the SHACL engine's shared terms."""
