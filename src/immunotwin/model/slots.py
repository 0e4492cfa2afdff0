"""PK slots of the model, by drug target (kept free of JAX so that tools which must not load
jaxlib, such as the libRoadRunner benchmark worker, can read it)."""

#: pd1, ctla4, pdl1: checkpoint antibodies; cyto: cytotoxic chemotherapy; il2: aldesleukin;
#: cd20: a tumour-targeting antibody that kills by ADCC (rituximab); il6r: tocilizumab;
#: ifn: interferon-alpha; vaccine: a peptide vaccine depot (antigen); bcg: intravesical BCG;
#: braf, mek: oral inhibitors of the MAPK pathway in BRAF V600-mutant tumours (dabrafenib, trametinib).
SLOTS: tuple[str, ...] = ("pd1", "ctla4", "pdl1", "cyto", "il2", "cd20", "il6r", "ifn", "vaccine", "bcg", "braf",
                          "mek")
N_SLOTS = len(SLOTS)
