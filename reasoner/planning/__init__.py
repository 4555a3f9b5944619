"""Section V for prescribers and billing: a request's cycle-by-cycle plan (`reasoner.schedule`) and
a claim's billing units against it (`reasoner.check_units`). Built on the flow and the dosing model."""
