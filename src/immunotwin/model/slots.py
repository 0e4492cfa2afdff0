"""PK slots of the model, by drug target (kept free of JAX so that tools which must not load
jaxlib, such as the libRoadRunner benchmark worker, can read it)."""

SLOTS: tuple[str, ...] = ("pd1", "ctla4", "pdl1", "cyto")
N_SLOTS = len(SLOTS)
