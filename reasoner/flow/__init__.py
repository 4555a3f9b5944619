"""One request, one direction: check -> lift -> enrich -> validate -> explain -> decide
(`engine.Reasoner` runs them), and the determination as PROV-O (`provenance`)."""
