"""For policy authors: the outline beside the policy text (`review`, `outline`, `shapetext`), `lint`,
`witness` requests for every pathway (`space`, `outcomes`), `coverage` of the cases, `diff` and
`impact` between versions, and the printable page (`html`)."""
