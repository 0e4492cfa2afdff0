"""Command line: each command validates its input, then calls one public function.

Bad input prints one message per problem, naming the field, and exits with code 2 before
anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .spec import CANCERS, SpecError


def _fail(errors: list[str] | str) -> int:
    for e in [errors] if isinstance(errors, str) else errors:
        print(f"error: {e}", file=sys.stderr)
    return 2


def cmd_simulate(a: argparse.Namespace) -> int:
    from .spec import parse_patient, parse_regimen

    errors: list[str] = []
    if a.cancer not in CANCERS:
        errors.append(f"--cancer: unknown cancer {a.cancer!r}; known: {', '.join(CANCERS)}")
    regimen = ()
    try:
        regimen = parse_regimen(a.regimen or "")
    except SpecError as e:
        errors.extend(e.errors)
    patient = None
    if a.patient:
        try:
            patient = parse_patient(Path(a.patient).read_text())
        except OSError as e:
            errors.append(f"--patient: cannot read {a.patient}: {e.strerror}")
        except SpecError as e:
            errors.extend(f"--patient {msg}" for msg in e.errors)
    from .drugs.catalogue import CATALOGUE

    for i, d in enumerate(regimen):
        if d.name not in CATALOGUE:
            errors.append(f"regimen[{i}].name: {d.name!r} is catalogued but not yet modelled")
    if not (0 < a.days <= 50 * 365.25):
        errors.append(f"--days: must be between 1 and 18262, got {a.days}")
    if a.seed < 0:
        errors.append(f"--seed: must be >= 0, got {a.seed}")
    if a.guideline not in ("asco2021", "none"):
        errors.append(f"--guideline: unknown guideline {a.guideline!r}; known: asco2021, none")
    if errors:
        return _fail(errors)
    from .simulate import simulate_patient, write_patient

    cancer = str(patient.get("cancer", a.cancer)) if patient else a.cancer
    run = simulate_patient(cancer=cancer, regimen=regimen, patient=patient, days=float(a.days), seed=a.seed,
                           guideline=a.guideline)
    write_patient(run, Path(a.out))
    ev = run.events
    print(f"{cancer}, {len(regimen)} drug(s), {a.days:g} days: best response {ev['response']['best_overall_response']}, "
          f"{len(ev['iraes'])} irAE(s), status {ev['status']}; wrote {a.out}/visits.parquet, events.json, patient.png")
    return 0


def cmd_params(a: argparse.Namespace) -> int:
    from .covariates import EFFECTS
    from .model.core import PARAMS

    rows = [p for p in PARAMS if p.assumed or not a.assumed]
    effects = [e for e in EFFECTS if e.assumed or not a.assumed]
    if a.json:
        effect_rows = [{"name": e.name, "unit": e.unit, "default": e.value, "iiv": 0.0, "assumed": e.assumed,
                        "source": e.source, "covariate_effect": e.applies} for e in effects]
        print(json.dumps([{"name": p.name, "unit": p.unit, "default": p.value.tolist(), "iiv": p.iiv,
                           "assumed": p.assumed, "source": p.source} for p in rows] + effect_rows, indent=1))
        return 0
    from .drugs.catalogue import CATALOGUE

    for p in rows:
        val = p.value
        shown = f"{float(val):g}" if val.ndim == 0 else "[" + ", ".join(f"{v:g}" for v in val) + "]"
        print(f"{p.name} = {shown} {p.unit}  (IIV {p.iiv:g}){'  ASSUMED' if p.assumed else ''}\n    {p.source}")
    for e in effects:
        print(f"covariate effect {e.name} = {e.value:g} {e.unit}{'  ASSUMED' if e.assumed else ''}: {e.applies}\n"
              f"    {e.source}")
    if not a.assumed:
        for d in CATALOGUE.values():
            print(f"drug {d.name} ({d.target}): CL {d.cl_l_day:.4g} L/day, Vc {d.vc_l:g} L, Q {d.q_l_day:.4g} L/day, "
                  f"Vp {d.vp_l:g} L, EC50 {d.ec50_mg_l:g} mg/L\n    PK: {d.source}\n    EC50: {d.ec50_source}")
    return 0


def _load(path: str, patients: int | None = None, seed: int | None = None):  # type: ignore[no-untyped-def]
    from .spec import load_spec, with_overrides
    from .trial import check_modelled

    spec = load_spec(path)
    if patients is not None or seed is not None:
        spec = with_overrides(spec, size_per_arm=patients, seed=seed)
    check_modelled(spec)
    return spec


def cmd_check(a: argparse.Namespace) -> int:
    try:
        spec = _load(a.spec)
    except SpecError as e:
        return _fail(e.errors)
    print(f"{a.spec}: OK — {spec.name}: {len(spec.arms)} arm(s) x {spec.population.size_per_arm} "
          f"{spec.population.cancer} patients, {spec.follow_up_days / 30.4375:g} months")
    return 0


def cmd_trial(a: argparse.Namespace) -> int:
    from .distributed import MAX_WORKERS, SchedulerUnreachable, run_trial_dask  # Dask loads only if used
    from .trial import RunDirError, run_trial

    errors = []
    if a.chunk_size is not None and not (1 <= a.chunk_size <= 100_000):
        errors.append(f"--chunk-size: must be between 1 and 100000, got {a.chunk_size}")
    if a.patients_per_arm is not None and not (1 <= a.patients_per_arm <= 10_000_000):
        errors.append(f"--patients-per-arm: must be between 1 and 10000000, got {a.patients_per_arm}")
    if a.seed is not None and a.seed < 0:
        errors.append(f"--seed: must be >= 0, got {a.seed}")
    dask = a.scheduler is not None or a.workers is not None
    if a.scheduler is not None and a.workers is not None:
        errors.append("--scheduler and --workers: give one (--scheduler uses a running Dask cluster, "
                      "--workers starts a local one)")
    if a.scheduler is not None and "://" not in a.scheduler:
        errors.append(f"--scheduler: expected a Dask scheduler address like tcp://HOST:PORT, got {a.scheduler!r}")
    if a.workers is not None and not (1 <= a.workers <= MAX_WORKERS):
        errors.append(f"--workers: must be between 1 and {MAX_WORKERS}, got {a.workers}")
    engine_choice = a.engine or os.environ.get("IMMUNOTWIN_ENGINE", "jax") or "jax"
    if engine_choice not in ("jax", "fused"):
        errors.append(f"IMMUNOTWIN_ENGINE: {engine_choice!r} is not one of jax, fused (or give --engine)")
    if engine_choice == "fused":
        from .fused.engine import compiler

        if compiler() is None:
            errors.append("--engine fused: needs a C compiler (cc, gcc or clang on PATH, or $CC)")
    if "://" in a.out and not a.out.startswith("file://") and not dask:
        errors.append(f"--out: {a.out!r} is a URL; only file:// URLs work without --scheduler or --workers")
    try:
        spec = _load(a.spec, a.patients_per_arm, a.seed)
    except SpecError as e:
        errors.extend(e.errors)
    if errors:
        return _fail(errors)
    if a.engine:
        os.environ["IMMUNOTWIN_ENGINE"] = a.engine  # read by engine.step; local Dask workers inherit it
    out = Path(a.out[len("file://"):]) if a.out.startswith("file://") and not dask else Path(a.out)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), "patients",
                  TimeElapsedColumn(), TimeRemainingColumn(), disable=a.quiet, transient=False) as bar:
        task = bar.add_task(spec.name, total=len(spec.arms) * spec.population.size_per_arm)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done)

        try:
            if dask:
                summary = run_trial_dask(spec, a.out, scheduler=a.scheduler, workers=a.workers,
                                         chunk_size=a.chunk_size or 512, visits=a.visits == "all", progress=tick)
            else:
                summary = run_trial(spec, out, chunk_size=a.chunk_size or 512, visits=a.visits == "all",
                                    progress=tick)
        except RunDirError as e:
            return _fail(str(e))
        except SchedulerUnreachable as e:
            return _fail(f"--scheduler: {e}")
    for arm, s in summary["arms"].items():
        mp = s["median_pfs_months"]
        print(f"{arm:28s} n={s['n']:6d}  ORR {s['orr']:.1%}  CR {s['cr_rate']:.1%}  "
              f"mPFS {'NR' if mp is None else f'{mp:.1f}'} mo  G3+ irAE {s['irae']['grade3plus']:.1%}")
    print(f"wrote {a.out.rstrip('/') if dask else out}/patients.parquet, visits.parquet, summary.json, report.html")
    return 0


def cmd_query(a: argparse.Namespace) -> int:
    from .results import query

    try:
        df = query(Path(a.dir), a.sql)
    except FileNotFoundError as e:
        return _fail(str(e))
    except Exception as e:  # duckdb raises its own error types for bad SQL
        return _fail(f"SQL: {e}")
    print(df.to_string(index=False, max_rows=200))
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from .results import export_adam

    try:
        files = export_adam(Path(a.dir), Path(a.out) if a.out else None)
    except FileNotFoundError as e:
        return _fail(str(e))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def cmd_calibrate(a: argparse.Namespace) -> int:
    import json as _json

    errors = []
    spec = None
    try:
        spec = _load(a.spec, seed=a.population_seed)
    except SpecError as e:
        errors.extend(e.errors)
    tpath = Path(a.targets)
    try:
        targets = _json.loads(tpath.read_text())
        if not isinstance(targets.get("endpoints"), dict):
            errors.append(f"--targets: {a.targets} has no 'endpoints' table (endpoint -> arm -> value)")
    except OSError as e:
        errors.append(f"--targets: cannot read {a.targets}: {e.strerror}")
    except ValueError as e:
        errors.append(f"--targets: {a.targets} is not valid JSON: {e}")
    if a.patients is None:
        a.patients = 500 if a.direct else 1536
    if a.patients < 50:
        errors.append(f"--patients: at least 50 {'' if a.direct else 'plausible '}patients per arm, got {a.patients}")
    direct_free: list[str] = []
    seeds: list[int] = []
    if a.direct:
        from .calibrate import FITTED
        from .calibrate_also import check_names
        from .calibrate_direct import coordinates, drug_coordinates, model_coordinates

        direct_free = [f.strip() for f in (a.free or ",".join(FITTED)).split(",") if f.strip()]
        try:
            coordinates(direct_free)
            model_coordinates(direct_free)
            drug_coordinates(direct_free)
        except ValueError as e:
            errors.append(f"--free: {e}")
        a.also = [x.strip() for x in (a.also or "").split(",") if x.strip()]
        try:
            check_names(a.also)
        except ValueError as e:
            errors.append(f"--also: {e}")
        if a.iterations < 0:
            errors.append(f"--iterations: 0 or more, got {a.iterations}")
        try:
            seeds = [int(x) for x in a.seeds.split(",") if x.strip()]
            if not seeds:
                errors.append("--seeds: at least one seed")
        except ValueError:
            errors.append(f"--seeds: comma-separated integers, got {a.seeds!r}")
        from .calibrate_direct import CHECK_SEEDS

        check: list[int] = []
        if a.check_seeds is None:
            check = list(CHECK_SEEDS)
        elif a.check_seeds.strip().lower() != "none":
            try:
                check = [int(x) for x in a.check_seeds.split(",") if x.strip()]
            except ValueError:
                errors.append(f"--check-seeds: comma-separated integers or 'none', got {a.check_seeds!r}")
        if set(check) & set(seeds):
            errors.append(f"--check-seeds: {', '.join(map(str, sorted(set(check) & set(seeds))))} also in --seeds; "
                          "a held-out seed must be one the fit does not see")
        a.check_seeds = tuple(check)
        if a.correct or a.pool:
            errors.append("--direct: fits fresh trials, so --correct and --pool (reweighting options) do not apply")
    elif a.free or a.engine or a.check_seeds is not None or a.natural_history or a.also:
        errors.append("--free, --engine, --check-seeds, --natural-history and --also go with --direct")
    if a.correct < 0:
        errors.append(f"--correct: a number of fresh-trial rounds (0 or more), got {a.correct}")
    if a.correct and a.correct_patients < 50:
        errors.append(f"--correct-patients: at least 50 patients per arm, got {a.correct_patients}")
    if spec is not None and not a.direct:
        errors += _pool_errors(a, spec)
    if a.engine == "fused":
        from .fused.engine import compiler

        if compiler() is None:
            errors.append("--engine fused: needs a C compiler (cc, gcc or clang on PATH, or $CC)")
    if errors:
        return _fail(errors)
    assert spec is not None
    if a.direct:
        return _calibrate_direct(a, spec, tpath, direct_free, tuple(seeds))
    from .calibrate import PRIORS, run_calibration

    try:
        doc = run_calibration(spec, tpath, Path(a.out), n=a.patients, max_evals=a.max_evals, reps=a.bootstrap,
                              seed=a.seed, install=a.install, pool_with=tuple(Path(d) for d in a.pool),
                              priors={} if a.no_priors else PRIORS, correct_rounds=a.correct,
                              correct_patients=a.correct_patients,
                              progress=None if a.quiet else lambda d, t: print(f"plausible population {d}/{t}",
                                                                               flush=True))
    except ValueError as e:  # a cached population that cannot be used (pooling, centre, seed)
        return _fail([f"calibrate: {e}"])
    print(f"loss {doc['provenance']['loss']:.3g} after {doc['provenance']['evaluations']} evaluations; "
          f"wrote {a.out}/calibration.json and {a.out}/fit.html" + (" (installed as default)" if a.install else ""))
    return 0


def _calibrate_direct(a: argparse.Namespace, spec, tpath: Path, free: list[str],  # type: ignore[no-untyped-def]
                      seeds: tuple[int, ...]) -> int:
    from .calibrate_direct import run_direct, se_text

    if a.engine:
        os.environ["IMMUNOTWIN_ENGINE"] = a.engine

    def progress(h: dict) -> None:
        print(f"trial {progress.n}: loss {h['loss']:.3g}, {h['outside']} residuals beyond one unit", flush=True)  # type: ignore[attr-defined]
        progress.n += 1  # type: ignore[attr-defined]

    progress.n = 1  # type: ignore[attr-defined]
    doc = run_direct(spec, tpath, Path(a.out), free=free, patients=a.patients, seeds=seeds, iterations=a.iterations,
                     install=a.install, check_seeds=a.check_seeds, progress=None if a.quiet else progress,
                     natural_history=a.natural_history, also=a.also)
    print(f"loss {doc['provenance']['loss']:.3g} after {doc['provenance']['evaluations']} trials; "
          f"wrote {a.out}/calibration.json and {a.out}/fit.html" + (" (installed as default)" if a.install else ""))
    h = doc["provenance"].get("held_out")
    if h:
        print(f"held-out seeds {', '.join(map(str, h['seeds']))}: mean loss {h['mean_loss_start']:.3g} at the start, "
              f"{h['mean_loss_fit']:.3g} at the fit"
              + ("" if h["improved"] else " - NOT lower: the gain on the fit's own trials does not carry over")
              + (f"; paired, fit minus start {h['difference']:+.3g} (SE {se_text(h['difference_se'])}): {h['verdict']}"
                 if "verdict" in h else ""))
    if h and h.get("also"):
        print(f"  of which the further trials ({', '.join(h['also'])}): {h['mean_further_loss_start']:.3g} at the "
              f"start, {h['mean_further_loss_fit']:.3g} at the fit")
    return 0


def _pool_errors(a: argparse.Namespace, spec) -> list[str]:  # type: ignore[no-untyped-def]
    """What is wrong with ``--pool`` and the population cached in ``--out``, before anything is simulated."""
    import json as _json

    from .calibrate import CENTRE_FILE

    errors, seeds = [], {}
    own = Path(a.out) / CENTRE_FILE
    if own.is_file():
        try:
            seeds[str(a.out)] = _json.loads(own.read_text()).get("seed")
        except ValueError:
            errors.append(f"--out: {own} is not valid JSON")
        if seeds.get(str(a.out)) not in (None, spec.seed):
            errors.append(f"--out: {a.out} holds a plausible population of seed {seeds[str(a.out)]}, not {spec.seed} "
                          "(--population-seed or the spec's seed); use a new --out")
    seeds.setdefault(str(a.out), spec.seed)
    base = spec.sha256.split("+")[0]
    for d in a.pool:
        centre = Path(d) / CENTRE_FILE
        if not centre.is_file():
            errors.append(f"--pool: {d} holds no plausible population with a recorded centre ({CENTRE_FILE}); "
                          "give the --out folder of an earlier calibrate run")
            continue
        if Path(d).resolve() == Path(a.out).resolve() or d in list(seeds)[1:]:
            errors.append(f"--pool: {d} is given twice (or is --out itself)")
            continue
        try:
            rec = _json.loads(centre.read_text())
        except ValueError:
            errors.append(f"--pool: {centre} is not valid JSON")
            continue
        if str(rec.get("spec_sha256", "")).split("+")[0] != base:
            errors.append(f"--pool: {d} was simulated from another spec (sha256 {rec.get('spec_sha256')!r}, this one "
                          f"{base}); pooled populations must come from the same trial spec")
        same = [k for k, v in seeds.items() if v is not None and v == rec.get("seed")]
        if same:
            errors.append(f"--pool: {d} was simulated with seed {rec.get('seed')}, as {same[0]}: its patients would "
                          "count twice; give each population its own --population-seed")
        seeds[d] = rec.get("seed")
    return errors


def cmd_serve(a: argparse.Namespace) -> int:
    from .web import ConfigError, load_config, serve

    try:
        config = load_config(Path(a.config) if a.config else None).replace(
            host=a.host, port=a.port, data_dir=Path(a.data_dir).resolve() if a.data_dir else None,
            max_patients_per_trial=a.max_patients, max_concurrent_jobs=a.max_jobs, job_time_limit_s=a.job_timeout,
            warm_up=False if a.no_warm_up else None)
        serve(config, log_level=a.log_level)
    except ConfigError as e:
        return _fail(str(e).splitlines())
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    if a.patients < 20 or a.replicates < 10:
        return _fail("--patients must be >= 20 and --replicates >= 10")
    from .validate import markdown, run_validation

    df = run_validation(Path(a.out), patients=a.patients, reps=a.replicates, seed=a.seed)
    print(markdown(df))
    print(f"wrote {a.out}/validation.csv, validation.md, validation.json, validation.png, plausibility.json")
    return 0


def cmd_success(a: argparse.Namespace) -> int:
    import pandas as pd

    errors: list[str] = []
    spec = None
    try:
        spec = _load(a.spec, a.patients, a.seed)
    except SpecError as e:
        errors.extend(e.errors)
    arms = [x.name for x in spec.arms] if spec is not None else []
    control = a.control or (spec.control if spec is not None else None)
    if spec is not None:
        if a.arm not in arms:
            errors.append(f"--arm: {a.arm!r} is not an arm of the spec; arms: {', '.join(arms)}")
        if control not in arms:
            errors.append(f"--control: {control!r} is not an arm of the spec (give --control or set the spec's "
                          f"control); arms: {', '.join(arms)}")
        elif control == a.arm:
            errors.append("--control: must differ from --arm")
    endpoints = list(dict.fromkeys(ep.strip() for ep in a.endpoints.split(",") if ep.strip()))
    bad = [ep for ep in endpoints if ep not in ("pfs", "os", "orr")]
    if bad or not endpoints:
        errors.append(f"--endpoints: choose from pfs, os, orr; got {a.endpoints!r}")
    if a.size_per_arm < 10:
        errors.append(f"--size-per-arm: at least 10 patients per arm, got {a.size_per_arm}")
    if a.replicates < 20:
        errors.append(f"--replicates: at least 20, got {a.replicates}")
    if not 0.0 < a.alpha < 1.0:
        errors.append(f"--alpha: must be between 0 and 1, got {a.alpha}")
    if a.patients is not None and a.patients < 20:
        errors.append(f"--patients: at least 20 simulated patients per arm, got {a.patients}")
    if spec is not None and not a.trial and a.size_per_arm > spec.population.size_per_arm:
        errors.append(f"--size-per-arm: {a.size_per_arm} is more than the {spec.population.size_per_arm} virtual "
                      "patients per arm drawn from (raise --patients)")
    if Path(a.out).exists() and not Path(a.out).is_dir():
        errors.append(f"--out: {a.out} exists and is not a folder")
    if not 0 <= a.parameter_draws <= 200:
        errors.append(f"--parameter-draws: between 0 and 200, got {a.parameter_draws}")
    trial_dir = Path(a.trial) if a.trial else Path(a.out) / "trial"
    pool = None
    if a.trial and not (trial_dir / "patients.parquet").is_file():
        errors.append(f"--trial: {a.trial} holds no patients.parquet (run `immunotwin trial` into it first)")
    elif a.trial and spec is not None:
        need = ["arm", "status", "bor", *[f"{ep}_{x}" for ep in ("pfs", "os") for x in ("months", "event")]]
        try:
            pool = pd.read_parquet(trial_dir / "patients.parquet")
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input error
            errors.append(f"--trial: cannot read {trial_dir / 'patients.parquet'}: {e}")
        else:
            lacking = [c for c in need if c not in pool]
            if lacking:
                errors.append(f"--trial: {a.trial}'s patients.parquet lacks {', '.join(lacking)}")
            else:
                ok = pool[pool["status"] == "ok"]
                for x in dict.fromkeys((a.arm, control)):
                    n_ok = int((ok["arm"] == x).sum())
                    if x in arms and not n_ok:
                        errors.append(f"--trial: {a.trial} has no evaluable patients in arm {x!r}; it has "
                                      f"{', '.join(sorted(set(pool['arm'])))}")
                    elif x in arms and a.size_per_arm > n_ok:
                        errors.append(f"--size-per-arm: {a.size_per_arm} is more than the {n_ok} evaluable "
                                      f"patients of arm {x!r} in --trial")
    if a.parameter_draws and not errors:
        from .success import parameter_draws

        try:
            parameter_draws(1, 0)
        except ValueError as e:
            errors.append(f"--parameter-draws: {e}")
    if errors:
        return _fail(errors)
    from .success import over_parameters, probability_of_success, write_success
    from .trial import RunDirError, run_trial

    out = Path(a.out)
    seed = 1 if a.seed is None else a.seed
    if not a.trial:
        try:
            run_trial(spec, trial_dir, visits=False)
        except RunDirError as e:
            return _fail(f"--out: {e}")
    p = pool if pool is not None else pd.read_parquet(trial_dir / "patients.parquet")
    if not {a.arm, control} <= set(p.loc[p["status"] == "ok", "arm"]):
        return _fail("--arm/--control: every simulated patient of one of the arms failed; nothing to analyse")
    results = [probability_of_success(p, a.arm, control, ep, a.size_per_arm, a.replicates, a.alpha, seed)
               for ep in endpoints]
    parameter = over_parameters(spec, a.arm, control, endpoints, a.size_per_arm, draws=a.parameter_draws,
                                patients=spec.population.size_per_arm, replicates=a.replicates, alpha=a.alpha,
                                seed=seed) if a.parameter_draws else []
    out.mkdir(parents=True, exist_ok=True)
    write_success(out, results, trial_dir, parameter)
    for r in results:
        print(f"{r.endpoint}: {r.arm} vs {r.control}, {r.size_per_arm} per arm, alpha {r.alpha:g}: probability of "
              f"success {r.probability:.3f} (Monte-Carlo 95% CI {r.probability_ci95[0]:.3f}-{r.probability_ci95[1]:.3f}; "
              f"{r.replicates} replicates); {r.effect} median {r.effect_median:.3f} "
              f"(95% PI {r.effect_pi95[0]:.3f}-{r.effect_pi95[1]:.3f})")
    for q in parameter:
        print(f"{q['endpoint']}: over {q['draws']} draws of the calibration's parameters: probability of success "
              f"{q['mean']:.3f} on average (2.5-97.5%: {q['range95'][0]:.3f}-{q['range95'][1]:.3f})")
    print(f"wrote {out}/success.json")
    return 0


def cmd_sensitivity(a: argparse.Namespace) -> int:
    from .sensitivity import check_outputs, run_sensitivity

    outputs = [o.strip() for o in a.outputs.split(",") if o.strip()]
    errors = check_outputs(outputs) + ([] if outputs else ["--outputs: give at least one output"])
    try:
        spec = _load(a.spec)
    except SpecError as e:
        errors.extend(e.errors)
    if a.samples < 8:
        errors.append(f"--samples: at least 8, got {a.samples}")
    if errors:
        return _fail(errors)
    try:
        res = run_sensitivity(spec, outputs, Path(a.out), patients=a.patients, samples=a.samples,
                              plausible_dir=Path(a.plausible) if a.plausible else None)
    except ValueError as e:  # a cached population that cannot be used (unknown centre, other seed)
        return _fail([f"--plausible: {e}" if a.plausible else str(e)])
    for o, per_arm in res["results"].items():
        for arm, d in per_arm.items():
            top = sorted(d["ST"].items(), key=lambda kv: -kv[1])[:3]
            print(f"{o} [{arm}]: " + ", ".join(f"{k} ST={v:.2f}" for k, v in top))
    print(f"wrote {a.out}/sensitivity.json and sensitivity.png")
    return 0


def cmd_export_sbml(a: argparse.Namespace) -> int:
    from .drugs.catalogue import CATALOGUE
    from .spec import parse_regimen

    errors: list[str] = []
    if a.cancer not in CANCERS:
        errors.append(f"--cancer: unknown cancer {a.cancer!r}; known: {', '.join(CANCERS)}")
    try:
        regimen = parse_regimen(a.regimen or "")
    except SpecError as e:
        errors.extend(e.errors)
        regimen = ()
    errors += [f"regimen[{i}].name: {d.name!r} is catalogued but not yet modelled"
               for i, d in enumerate(regimen) if d.name not in CATALOGUE]
    if not (7 <= a.days <= 50 * 365.25):
        errors.append(f"--days: must be between 7 and 18262, got {a.days}")
    if errors:
        return _fail(errors)
    from .sbml import export_sbml

    out, warnings = export_sbml(a.out, a.cancer, a.regimen, a.days)
    print(f"wrote {out}: SBML Level 3 Version 2, median {a.cancer} patient, {a.regimen or 'untreated'}; "
          f"libsbml consistency: 0 errors, {len(warnings)} warnings (units not declared)")
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from .bench import ENGINES, Config, run_and_write

    errors: list[str] = []
    engines = tuple(e.strip() for e in a.engines.split(",") if e.strip())
    errors += [f"--engines: unknown engine {e!r}; known: {', '.join(ENGINES)}" for e in engines if e not in ENGINES]

    def sizes(text: str, flag: str) -> tuple[int, ...]:
        try:
            out = tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            errors.append(f"{flag}: comma-separated patient counts, got {text!r}")
            return ()
        errors.extend(f"{flag}: {n} is not between 3 and 10000000" for n in out if not 3 <= n <= 10_000_000)
        return out

    if not (3 <= a.patients <= 10_000_000):
        errors.append(f"--patients: must be between 3 and 10000000, got {a.patients}")
    if a.accuracy_patients < 1:
        errors.append(f"--accuracy-patients: must be at least 1, got {a.accuracy_patients}")
    if a.trial_patients and not (3 <= a.trial_patients <= 10_000_000):
        errors.append(f"--trial-patients: must be 0 or between 3 and 10000000, got {a.trial_patients}")
    scaling, memory = sizes(a.scaling, "--scaling"), sizes(a.memory, "--memory")
    try:
        tolerances = tuple((float(r), float(t)) for r, t in (x.split(":") for x in a.tolerances.split(",")))
    except ValueError:
        errors.append(f"--tolerances: rtol:atol pairs separated by commas, got {a.tolerances!r}")
        tolerances = ()
    errors += [f"--tolerances: {r:g}:{t:g} is not within 1e-14 .. 1e-2" for r, t in tolerances
               if not (1e-14 <= r <= 1e-2 and 1e-16 <= t <= 1e-2)]
    if not Path(a.spec).is_file():
        errors.append(f"--spec: no such file {a.spec}")
    if errors:
        return _fail(errors)
    cfg = Config(patients=a.patients, backend=a.backend, accuracy_patients=a.accuracy_patients, scaling=scaling,
                 memory=memory, trial_patients=a.trial_patients, engines=engines, seed=a.seed, spec=a.spec,
                 chunk=a.chunk, tolerances=tolerances)
    command = "immunotwin " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "immunotwin bench"
    try:
        res = run_and_write(cfg, Path(a.json), Path(a.markdown) if a.markdown else None, command,
                            progress=None if a.quiet else lambda msg: print(msg, file=sys.stderr, flush=True))
    except RuntimeError as e:
        return _fail(str(e))
    for name, e in res["engines"].items():
        print(f"{name:13s} {e['patients_per_s']:10.3g} patients/s  {e['patients_per_cpu_s']:10.3g} per CPU-s  "
              f"max rel. error {e['max_rel_error']:.2g}  peak RSS {e['peak_rss_mb']:.0f} MB")
    print(f"wrote {a.json}" + (f" and {a.markdown}" if a.markdown else ""))
    return 0


def cmd_scenarios(a: argparse.Namespace) -> int:
    from .scenarios import SCENARIOS

    for sc in SCENARIOS.values():
        print(f"{sc.name:26s} {sc.line}")
    return 0


def cmd_scenario(a: argparse.Namespace) -> int:
    from .scenarios import SCENARIOS, run_scenario

    errors = []
    if a.name not in SCENARIOS:
        errors.append(f"NAME: unknown scenario {a.name!r}; known: {', '.join(SCENARIOS)}")
    if a.patients is not None and not (1 <= a.patients <= 1_000_000):
        errors.append(f"--patients: must be between 1 and 1000000, got {a.patients}")
    if a.seed is not None and a.seed < 0:
        errors.append(f"--seed: must be >= 0, got {a.seed}")
    if errors:
        return _fail(errors)
    summary = run_scenario(a.name, Path(a.out), patients=a.patients, seed=a.seed)
    for f in summary["figures"]:
        sim = "—" if f["simulated"] is None else f"{f['simulated']:.3g}"
        inside = "—" if f["inside"] is None else ("inside" if f["inside"] else "OUTSIDE")
        # a direction-only row has no published value: its band note says what is checked
        pub = (f.get("band_note") or "—") if f["published"] is None else f"{f['published']:.3g}"
        band = "—" if f["band"] is None else f"{f['band'][0]:.3g}-{f['band'][1]:.3g}"
        print(f"{f['name'][:70]:70s} sim {sim:>7s}  pub {pub}  band {band}  {inside}{'  (fitted)' if f['fitted'] else ''}")
    print(f"wrote {a.out}/summary.json and {a.out}/report.html")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="immunotwin", description="Virtual patients and virtual trials of cancer "
                                "immunotherapy (research and education only; not for patient care).")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="simulate one patient and write visits, events and a figure")
    s.add_argument("--cancer", default="melanoma")
    s.add_argument("--regimen", default="nivolumab 3 mg/kg q2w",
                   help='e.g. "nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4"; "none" for no drug')
    s.add_argument("--patient", help="TOML file with one patient's covariates")
    s.add_argument("--days", type=float, default=365.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--guideline", default="asco2021")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_simulate)
    s = sub.add_parser("params", help="print every model parameter with unit, default, variability, source")
    s.add_argument("--assumed", action="store_true", help="only parameters assumed rather than sourced")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_params)
    s = sub.add_parser("check", help="validate a trial spec and list every error")
    s.add_argument("spec")
    s.set_defaults(fn=cmd_check)
    s = sub.add_parser("trial", help="run a virtual trial")
    s.add_argument("spec")
    s.add_argument("--out", required=True)
    s.add_argument("--patients-per-arm", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--chunk-size", type=int)
    s.add_argument("--visits", choices=("all", "none"), default="all")
    s.add_argument("--scheduler", help="run the chunks on a running Dask cluster, e.g. tcp://HOST:8786 "
                   "(--out must then be reachable by the workers: shared path or fsspec URL)")
    s.add_argument("--workers", type=int, help="run the chunks on a local Dask cluster of N worker processes")
    s.add_argument("--engine", choices=("jax", "fused"),
                   help="integrator: jax (JAX + diffrax, the default; the calibration's) or fused (the generated C "
                        "integrator, needs a C compiler; same equations and tolerances, agrees to the tolerance). "
                        "Default: $IMMUNOTWIN_ENGINE, else jax")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=cmd_trial)
    s = sub.add_parser("success", help="probability of success of a trial design from replicate virtual trials")
    s.add_argument("spec")
    s.add_argument("--arm", required=True, help="experimental arm (name in the spec)")
    s.add_argument("--control", help="control arm (default: the spec's control)")
    s.add_argument("--endpoints", default="pfs", help="comma-separated: pfs, os, orr (default pfs)")
    s.add_argument("--size-per-arm", type=int, required=True, help="patients per arm of the trial being planned")
    s.add_argument("--replicates", type=int, default=1000)
    s.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level")
    s.add_argument("--patients", type=int, help="virtual patients simulated per arm (default: the spec's size)")
    s.add_argument("--trial", help="use the patients of an existing `immunotwin trial` run instead of simulating")
    s.add_argument("--parameter-draws", type=int, default=0,
                   help="also redo it for K draws of the calibration's population parameters (parameter "
                        "uncertainty, reported apart; each draw simulates --patients per arm)")
    s.add_argument("--seed", type=int)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_success)
    s = sub.add_parser("calibrate", help="fit population parameters to a published trial table")
    s.add_argument("spec")
    s.add_argument("--targets", required=True, help="JSON shaped like data/checkmate067.json")
    s.add_argument("--out", required=True)
    s.add_argument("--patients", type=int, help="plausible patients per arm (default 1536); with --direct, patients "
                   "per arm of each fresh trial (default 500)")
    s.add_argument("--max-evals", type=int, default=3000)
    s.add_argument("--bootstrap", type=int, default=8)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--install", action="store_true", help="make the fit the package's default parameters")
    s.add_argument("--no-priors", action="store_true",
                   help="fit without the priors on variabilities (calibrate.PRIORS: the net growth rate's)")
    s.add_argument("--population-seed", type=int, metavar="S",
                   help="seed of the plausible population (default: the spec's); a population to pool with "
                        "earlier ones needs its own")
    s.add_argument("--pool", action="append", default=[], metavar="DIR",
                   help="also use the plausible population cached in DIR (an earlier calibrate --out, simulated "
                        "with another seed around other defaults; repeatable)")
    s.add_argument("--correct", type=int, default=0, metavar="ROUNDS",
                   help="correct the fit by fresh trials at its values, ROUNDS times (immunotwin.calibrate_fresh)")
    s.add_argument("--correct-patients", type=int, default=1000, metavar="N",
                   help="patients per arm of each correction trial (default 1000)")
    s.add_argument("--direct", action="store_true",
                   help="fit by least squares on fresh trials with common random numbers instead of reweighting "
                        "(immunotwin.calibrate_direct); starts from the installed calibration")
    s.add_argument("--free", metavar="LIST", help="with --direct: the coordinates fitted, comma-separated; NAME "
                   "for a population mean, s:NAME for its spread, p:NAME for a scalar model parameter without variability "
                   "(its value, on a log scale: e.g. p:checkpoint_synergy), d:DRUG.FIELD for a drug's PD constant (e.g. "
                   "d:ipilimumab.ec50_mg_l, with --also ipilimumab-dose) (default: every fitted mean)")
    s.add_argument("--also", metavar="LIST", help="with --direct: further trials whose rows each seed's residuals "
                   "also hold, comma-separated (immunotwin.calibrate_also; known: ipilimumab-dose, CA184-169's "
                   "grade 3/4 TRAE difference and OS hazard ratio between 10 and 3 mg/kg)")
    s.add_argument("--iterations", type=int, default=6, help="with --direct: trust-region steps (default 6); 0 takes "
                   "no step and only records the residuals and Jacobian at the installed calibration in "
                   "direct_history.json, for python -m immunotwin.calibrate_tension")
    s.add_argument("--seeds", default="7101", help="with --direct: seeds of the fresh trials (default 7101)")
    s.add_argument("--check-seeds",
                   help="with --direct: held-out seeds whose fresh trials judge the fit, at the start and at the "
                        "result, compared seed by seed (default 68-73; 'none' to skip)")
    s.add_argument("--engine", choices=("jax", "fused"), help="with --direct: the integrator (fused: about five "
                   "times faster on CPU, needs a C compiler)")
    s.add_argument("--natural-history", nargs="?", const="target", choices=("target", "ceiling"),
                   help="with --direct: fit untreated melanoma's survival too (median and 1-year OS of a no-drug trial of "
                        "the same patients' population; immunotwin.natural_history): 'target' (the default) against "
                        "the historical figures of Korn 2008, 'ceiling' no longer than CheckMate 066's first-line "
                        "dacarbazine arm")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=cmd_calibrate)
    s = sub.add_parser("serve", help="start the web explorer (page and HTTP API) on 127.0.0.1")
    s.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, help="port (default 8000)")
    s.add_argument("--data-dir", help="where runs and their catalogue are kept (default ./immunotwin-runs)")
    s.add_argument("--config", help="server configuration file (TOML: data_dir, host, port, [limits])")
    s.add_argument("--max-patients", type=int, help="most patients (all arms) in one trial request")
    s.add_argument("--max-jobs", type=int, help="most trial jobs at once")
    s.add_argument("--job-timeout", type=float, help="seconds a trial job may run")
    s.add_argument("--no-warm-up", action="store_true", help="do not compile the model at start-up")
    s.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("validate", help="compare with every shipped reference figure (fitted and unfitted apart)")
    s.add_argument("--out", required=True)
    s.add_argument("--patients", type=int, default=1000, help="patients per arm of the simulated CheckMate 067")
    s.add_argument("--replicates", type=int, default=200, help="replicate trials at the real trial's size")
    s.add_argument("--seed", type=int, default=2024)
    s.set_defaults(fn=cmd_validate)
    s = sub.add_parser("sensitivity", help="Sobol indices of trial outputs w.r.t. population parameters")
    s.add_argument("spec")
    s.add_argument("--outputs", default="orr,irae.grade3plus", help="comma-separated, e.g. orr,irae.grade3plus,os_rate.24")
    s.add_argument("--out", required=True)
    s.add_argument("--patients", type=int, default=512, help="plausible patients per arm")
    s.add_argument("--samples", type=int, default=128, help="Saltelli base samples")
    s.add_argument("--plausible", help="folder holding a cached plausible population (e.g. a calibrate --out)")
    s.set_defaults(fn=cmd_sensitivity)
    s = sub.add_parser("export-sbml", help="write the model (median patient, one regimen) as SBML Level 3")
    s.add_argument("out", help="output file, e.g. model.xml")
    s.add_argument("--cancer", default="melanoma")
    s.add_argument("--regimen", default="nivolumab 3 mg/kg q2w", help='as for simulate; "none" for no drug')
    s.add_argument("--days", type=float, default=730.0, help="dose events up to this day")
    s.set_defaults(fn=cmd_export_sbml)
    s = sub.add_parser("bench", help="speed and accuracy next to libRoadRunner, SciPy and diffrax (dosing-only model)")
    s.add_argument("--patients", type=int, default=192, help="patients in all (split over the spec's arms)")
    s.add_argument("--backend", choices=("cpu", "gpu"), default="cpu")
    s.add_argument("--json", required=True, help="results file")
    s.add_argument("--markdown", help="also write this Markdown report (e.g. benchmarks/RESULTS.md)")
    s.add_argument("--accuracy-patients", type=int, default=2, help="per arm: reference, errors, serial engines")
    s.add_argument("--engines", default="immunotwin,fused,roadrunner,scipy,diffrax_vmap")
    s.add_argument("--scaling", default="", help="N for the engine's scaling curve, e.g. 96,384,1536")
    s.add_argument("--memory", default="", help="N for peak-memory points over 4 weeks, e.g. 1536,15360")
    s.add_argument("--trial-patients", type=int, default=0, help="N for the full trial path (0: skip)")
    s.add_argument("--chunk", type=int, help="engine batch per call (default 512 on CPU, 32768 on GPU)")
    s.add_argument("--tolerances", default="1e-4:1e-7,1e-6:1e-9,1e-8:1e-11",
                   help="rtol:atol pairs of the work-precision table (include 1e-6:1e-9, the engine's own)")
    s.add_argument("--spec", default="examples/checkmate067.toml")
    s.add_argument("--seed", type=int, default=2026)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("scenarios", help="list the named scenarios (phenomena checked against published figures)")
    s.set_defaults(fn=cmd_scenarios)
    s = sub.add_parser("scenario", help="run one named scenario; writes DIR/report.html and DIR/summary.json")
    s.add_argument("name")
    s.add_argument("--out", required=True)
    s.add_argument("--patients", type=int, help="patients per arm (default: the scenario spec's)")
    s.add_argument("--seed", type=int)
    s.set_defaults(fn=cmd_scenario)
    s = sub.add_parser("query", help="SQL over a run's patients and visits (DuckDB)")
    s.add_argument("dir")
    s.add_argument("sql")
    s.set_defaults(fn=cmd_query)
    s = sub.add_parser("export", help="export a run as CDISC ADaM-style tables")
    s.add_argument("dir")
    s.add_argument("--format", choices=("adam",), default="adam")
    s.add_argument("--out", help="folder (default DIR/adam)")
    s.set_defaults(fn=cmd_export)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
