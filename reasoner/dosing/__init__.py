"""Section V as a working model: the label's dosing as tables read from the knowledge base
(`tables`), which row a request falls under (`selection`), the label's arithmetic (`doses`), and the
request against the label as derived facts (`facts`, written during enrich)."""
