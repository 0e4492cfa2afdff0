"""A fused per-patient integrator: the model's right-hand side generated as C from the traced
equations (:func:`immunotwin.sbml.derive_equations`), inside an adaptive Tsitouras 5(4) loop
that each patient runs on its own (one CPU loop iteration or one GPU thread per patient), with
the regimen's doses applied on the weekly clinic grid. See :mod:`.codegen` and :mod:`.engine`.
"""
