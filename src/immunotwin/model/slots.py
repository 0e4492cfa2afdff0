"""PK slots of the model, by drug target (kept free of JAX so that tools which must not load
jaxlib, such as the libRoadRunner benchmark worker, can read it)."""

#: pd1, ctla4, pdl1: checkpoint antibodies; cyto: cytotoxic chemotherapy; il2: aldesleukin;
#: cd20: a tumour-targeting antibody that kills by ADCC (rituximab); il6r: tocilizumab.
SLOTS: tuple[str, ...] = ("pd1", "ctla4", "pdl1", "cyto", "il2", "cd20", "il6r")
N_SLOTS = len(SLOTS)
