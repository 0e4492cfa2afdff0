"""Compare CheckMate 067 summaries (same spec and seed): iteration 14 without and with the Fc-macrophage mechanism."""
import json, sys
a = json.load(open(sys.argv[1]))["arms"]; b = json.load(open(sys.argv[2]))["arms"]
for arm in a:
    x, y = a[arm], b[arm]
    row = [("orr", x["orr"], y["orr"]), ("cr", x["cr_rate"], y["cr_rate"]),
           ("mPFS", x["median_pfs_months"], y["median_pfs_months"]),
           *[(f"PFS{k}", x["pfs_rate"][k], y["pfs_rate"][k]) for k in x["pfs_rate"]],
           *[(f"OS{k}", x["os_rate"][k], y["os_rate"][k]) for k in x["os_rate"]],
           ("hpd", x.get("hpd_rate"), y.get("hpd_rate")), ("g3+", x["irae"]["grade3plus"], y["irae"]["grade3plus"])]
    print(arm)
    for k, u, v in row:
        print(f"  {k:7s} {u if u is None else round(u, 3)!s:>8} -> {v if v is None else round(v, 3)!s:>8}")
