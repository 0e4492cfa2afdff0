import json, sys
ref = json.load(open("src/immunotwin/data/checkmate067.json"))["endpoints"]
for r in sys.argv[1:]:
    s = json.load(open(f"{r}/summary.json"))
    for n, a in s["arms"].items():
        nl = a.get("next_line") or {}
        mos = a["median_os_months"]
        print(f"{r:22s} {n:24s} ORR {a['orr']:.3f} mOS {mos if mos is None else round(mos,1)!s:>5} (pub {ref['median_os_months'][n]}) "
              f"OS24 {a['os_rate']['24']:.3f} ({ref['os_rate']['24'][n]}) OS36 {a['os_rate']['36']:.3f} ({ref['os_rate']['36'][n]}) "
              f"OS60 {a['os_rate']['60']:.3f} ({ref['os_rate']['60'][n]}) next-line share {nl.get('share',0):.2f} median to {nl.get('median_months_to')}")
