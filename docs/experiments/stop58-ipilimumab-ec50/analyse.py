import json, sys, numpy as np
d = sys.argv[1]
doc = json.load(open(f"{d}/calibration.json"))
h = json.load(open(f"{d}/direct_history.json"))
pv = doc["provenance"]
print("loss", pv["loss"], "evals", pv["evaluations"])
print("drugs", json.dumps(doc.get("drugs"), indent=0))
for k in pv["free"]:
    n = k[2:] if k.startswith(("s:", "d:")) else k
    e = doc["params"].get(n, {})
    print(k, {x: e.get(x) for x in ("default", "iiv", "log_shift", "log_shift_se")})
ho = pv.get("held_out")
if ho:
    for lab in ("start", "fit"):
        print(lab, [(p["seed"], round(p["loss"], 2), round(p["further_loss"], 2), round(p["loss"] - p["further_loss"], 2)) for p in ho[lab]])
    s = np.array([p["loss"] - p["further_loss"] for p in ho["start"]]); f = np.array([p["loss"] - p["further_loss"] for p in ho["fit"]])
    dd = f - s
    print("067 part: start %.2f fit %.2f diff %.2f se %.2f" % (s.mean(), f.mean(), dd.mean(), dd.std(ddof=1) / np.sqrt(len(dd))))
    print("further: start %.2f fit %.2f" % (ho["mean_further_loss_start"], ho["mean_further_loss_fit"]), ho["verdict"], ho["difference"])
best = min(h["history"], key=lambda e: e["loss"])
rows = h["rows"]; n = len(rows)
r = np.array(best["residuals"]).reshape(-1, n) * np.sqrt(h["seeds"])
for i, row in enumerate(rows):
    print("%-60s %s" % (row, " ".join("%+.2f" % v for v in r[:, i])))
