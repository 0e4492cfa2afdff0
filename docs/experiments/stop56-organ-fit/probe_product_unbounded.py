import os, sys, json, time
os.environ.setdefault("IMMUNOTWIN_ENGINE","fused")
import numpy as np
from immunotwin import calibrate_cancers as cc
from immunotwin.calibrate_joint import solve
from immunotwin.validate import reported_column, ORGAN_TERMS
from immunotwin.model import core
EXTRA=json.loads(os.environ.get("EXTRA","{}"))
arms=("nivolumab + ipilimumab","nivolumab","ipilimumab")
organs=sys.argv[1].split(",")
n=int(sys.argv[2]); seed=int(sys.argv[3])
term_of={"dermatitis":("rash","irae_dermatitis_grade"),"colitis":("diarrhoea","irae_colitis_grade"),
 "hepatitis":("hepatitis","irae_hepatitis_grade"),"thyroiditis":("hypothyroidism","hypothyroidism_grade")}
ref=json.load(open("src/immunotwin/data/scenario_refs.json"))["checkmate067_organ_mix"]["arms"]
names=[]; targets=[]
for o in organs:
    t=term_of[o][0]
    for pname,arm in (("tolerance_margin","nivolumab + ipilimumab"),("weight_pd","nivolumab"),("weight_ctla4","ipilimumab")):
        names.append(f"{pname}.{o}"); targets.append(ref[arm][t][0])
defaults={p.name:p.default for p in core.PARAMS}
start=np.array([defaults[k.split('.')[0]][cc.INDEX[k.split('.')[1]]] for k in names])
if len(sys.argv)>4: start=np.array(json.loads(sys.argv[4]))
lo=np.array([0.02 if k.startswith("tol") else 0.005 for k in names]); hi=np.array([0.95 if k.startswith("tol") else 50.0 for k in names])
targets=np.array(targets)
tols=np.sqrt(np.maximum(targets*(1-targets),0.01)/n)
def evaluate(v):
    t=time.time()
    with cc.model_values({**EXTRA, **dict(zip(names,map(float,v)))}):
        p,_=cc._simulate("checkmate067", n, False, seed)
    m=[]
    for o in organs:
        col=term_of[o][1]
        for arm in arms:
            g=p[(p.arm==arm)&(p.status=="ok")]
            m.append(float((reported_column(g,col)>=1).mean()))
    print(" ".join(f"{x:.4g}" for x in v), "->", " ".join(f"{x:.3f}" for x in m), f"({time.time()-t:.0f}s)", flush=True)
    return np.array(m)
from scipy.stats import norm
clip=lambda x: np.clip(x, 0.5/n, 1-0.5/n)
zt=norm.ppf(clip(targets)); ztol=tols/norm.pdf(zt)
res=solve(lambda v: norm.ppf(clip(evaluate(v))),start,zt,ztol,lo,hi,iters=int(os.environ.get("ITERS","14")))
print("names", names)
print("targets", targets.tolist())
print("best", res["values"].tolist(), norm.cdf(res["metrics"]).tolist(), res["reached"])
