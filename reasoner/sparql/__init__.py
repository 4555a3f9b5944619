"""For informatics teams: the SPARQL store of the policy and every determination (`store`), requests
read back from it (`stored_requests`) and the read-only SPARQL 1.1 endpoint (`endpoint`)."""
