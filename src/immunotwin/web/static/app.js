// immunotwin explorer: the page. Plain JavaScript; plotly.js is served by the same server.
"use strict";

let CAT = null; // GET /api/catalogue
const RUNS = {}; // run id -> patient run data shown on this page (for tests and comparison)

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(method, path, body) {
  const opt = { method, headers: {} };
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opt);
  } catch (e) {
    return { ok: false, status: 0, data: { detail: "cannot reach the server: " + e } };
  }
  let data;
  try {
    data = await res.json();
  } catch (e) {
    data = { detail: `${res.status} ${res.statusText}` };
  }
  return { ok: res.ok, status: res.status, data };
}

const fmtPct = (v, d = 0) => (v === null || v === undefined ? "–" : (100 * v).toFixed(d) + "%");
const fmtNum = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const weeks = (days) => days.map((d) => d / 7);

function field(label, loc, input, opts = {}) {
  return el("label", { class: "field" + (opts.wide ? " wide" : "") + (opts.span2 ? " span2" : ""), "data-loc": loc, title: opts.title },
    el("span", { text: label }), input, el("span", { class: "err" }));
}

function select(options, value, attrs = {}) {
  const s = el("select", attrs);
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    s.append(el("option", { value: v, text: label }));
  }
  if (value !== undefined) s.value = value;
  return s;
}

// Errors from a 422 go next to the field their loc names (the longest matching prefix).
function clearErrors(root) {
  for (const f of root.querySelectorAll(".field.invalid")) f.classList.remove("invalid");
  for (const e of root.querySelectorAll(".err")) e.textContent = "";
}

function showErrors(root, detail, general) {
  clearErrors(root);
  const items = Array.isArray(detail) ? detail : [{ loc: [], msg: String(detail && detail.detail ? detail.detail : detail) }];
  const rest = [];
  for (const e of items) {
    const loc = (e.loc || []).map(String);
    let placed = false;
    for (let n = loc.length; n >= 2 && !placed; n--) {
      const key = loc.slice(0, n).join(".");
      const f = root.querySelector(`[data-loc="${CSS.escape(key)}"]`);
      const err = f && f.querySelector(":scope > .err");
      if (err) {
        f.classList.add("invalid");
        err.textContent = (err.textContent ? err.textContent + "\n" : "") + e.msg;
        placed = true;
      }
    }
    if (!placed) rest.push((loc.length > 1 ? loc.slice(1).join(".") + ": " : "") + e.msg);
  }
  if (general) general.textContent = rest.join("\n");
}

// ---------------------------------------------------------------------------------------
// Regimen builder: rows of drugs, each with dose (with unit), interval, number, start, until
// ---------------------------------------------------------------------------------------

class RegimenBuilder {
  constructor(root, locPrefix, drugs) {
    this.root = root;
    this.locPrefix = locPrefix;
    this.rows = el("div", { class: "drug-rows" });
    this.add = el("button", { type: "button", class: "small", text: "+ add drug", onclick: () => this.addRow() });
    root.append(this.rows, this.add, el("span", { class: "err" }));
    this.setDrugs(drugs || []);
  }

  setPrefix(prefix) {
    this.locPrefix = prefix;
    this.renumber();
  }

  addRow(d) {
    d = d || { name: CAT.drugs[0].name, dose: "", every: "", doses: null, start: "0 weeks", until: "progression" };
    const name = select(CAT.drugs.map((x) => [x.name, x.name]), d.name, { class: "drug-name" });
    name.title = "anti-" + ((CAT.drugs.find((x) => x.name === name.value) || {}).target || "");
    const preset = select([["", "label schedule…"]], "", { class: "drug-preset", title: "fill in a label schedule" });
    const dose = el("input", { class: "drug-dose", placeholder: "3 mg/kg", value: d.dose || "" });
    const every = el("input", { class: "drug-every", placeholder: "2 weeks", value: d.every || "" });
    const doses = el("input", { class: "drug-doses", type: "number", min: "1", step: "1", placeholder: "∞", value: d.doses ?? "" });
    const start = el("input", { class: "drug-start", placeholder: "0 weeks", value: d.start || "0 weeks" });
    const until = el("input", { class: "drug-until", list: "until-options", value: d.until || "progression" });
    const fillPresets = () => {
      preset.replaceChildren(el("option", { value: "", text: "label schedule…" }));
      const drug = CAT.drugs.find((x) => x.name === name.value);
      (drug ? drug.schedules : []).forEach((s, i) => preset.append(el("option", { value: String(i), text: s.label })));
    };
    fillPresets();
    name.addEventListener("change", fillPresets);
    preset.addEventListener("change", () => {
      const drug = CAT.drugs.find((x) => x.name === name.value);
      const s = drug && drug.schedules[Number(preset.value)];
      if (s) {
        dose.value = s.dose;
        every.value = s.every || "";
        doses.value = s.doses ?? "";
      }
      preset.value = "";
    });
    const row = el("div", { class: "drug-row" },
      el("div", { class: "row-head" },
        field("Drug", "name", name), field("Schedule", "", preset),
        el("button", { type: "button", class: "small", title: "remove this drug", text: "✕", onclick: () => { row.remove(); this.renumber(); } })),
      el("div", { class: "grid4" },
        field("Dose", "dose", dose, { title: "with its unit: mg, mg/kg or mg/m2" }),
        field("Every", "every", every, { title: "e.g. 2 weeks, 21 days" }),
        field("Doses", "doses", doses, { title: "empty: no limit" }),
        field("Start", "start", start, { title: "from day 0, e.g. 12 weeks" }),
        field("Until", "until", until, { title: "progression, completion or a duration", span2: true })));
    this.rows.append(row);
    this.renumber();
  }

  renumber() {
    [...this.rows.children].forEach((row, i) => {
      for (const f of row.querySelectorAll(".field")) {
        if (!("key" in f.dataset)) f.dataset.key = f.dataset.loc;
        const key = f.dataset.key;
        f.dataset.loc = key ? `${this.locPrefix}.${i}.${key}` : `${this.locPrefix}.${i}`;
      }
      row.dataset.loc = `${this.locPrefix}.${i}`;
    });
  }

  drugs() {
    return [...this.rows.children].map((row) => {
      const v = (c) => row.querySelector(c).value.trim();
      const d = { name: v(".drug-name"), dose: v(".drug-dose") };
      if (v(".drug-every")) d.every = v(".drug-every");
      if (v(".drug-doses")) d.doses = Number(v(".drug-doses"));
      if (v(".drug-start")) d.start = v(".drug-start");
      if (v(".drug-until")) d.until = v(".drug-until");
      return d;
    });
  }

  setDrugs(drugs) {
    this.rows.replaceChildren();
    for (const d of drugs) this.addRow(d);
  }
}

// ---------------------------------------------------------------------------------------
// Patient form: cancer, covariates (blank = drawn from the population), regimen, management
// ---------------------------------------------------------------------------------------

const COVARIATE_LABELS = {
  age: "Age (years)", sex: "Sex", weight_kg: "Weight (kg)", height_cm: "Height (cm)", ecog: "ECOG status",
  ldh_uln: "LDH (× ULN)", pdl1_tps: "PD-L1 TPS (0–1)", tmb: "TMB (mut/Mb)", sld0_mm: "Tumour burden, SLD (mm)",
  n_met_sites: "Metastatic sites", brain_mets: "Brain metastases", liver_mets: "Liver metastases",
  prior_chemo: "Prior chemotherapy", preexisting_ai: "Pre-existing autoimmune disease",
  ever_smoker: "Smoking history", thoracic_rt: "Prior thoracic radiotherapy",
};
const DRAWN = "";
const NONE = "__none__";

class PatientForm {
  constructor(root, opts) {
    this.root = root;
    this.opts = opts || {};
    this.inputs = {};
    const example = select([["", "— start from an example —"], ...CAT.example_patients.map((e) => [e.id, e.label])], "",
      { class: "example" });
    example.addEventListener("change", () => {
      const e = CAT.example_patients.find((x) => x.id === example.value);
      if (e) this.setRequest({ cancer: e.cancer, patient: e.patient, regimen: e.regimen });
      example.value = "";
    });
    this.cancer = select(CAT.cancers, "melanoma", { class: "cancer" });
    const cov = el("div", { class: "grid2" });
    for (const c of CAT.covariates) {
      let input;
      const title = c.description + (c.min !== null ? ` (${c.min} – ${c.max})` : "");
      if (c.kind === "bool") input = select([[DRAWN, "(drawn)"], ["true", "yes"], ["false", "no"]], DRAWN);
      else if (c.kind === "choice") input = select([[DRAWN, "(drawn)"], ...c.choices.map((x) => [x === "" ? NONE : x, x === "" ? "none" : x])], DRAWN);
      else input = el("input", { type: "number", min: c.min, max: c.max, step: c.kind === "int" ? "1" : "any", placeholder: "drawn" });
      input.classList.add("cov-" + c.key);
      this.inputs[c.key] = [c, input];
      cov.append(field(COVARIATE_LABELS[c.key] || c.key, "body.patient." + c.key, input, { title, wide: c.key === "preexisting_ai" }));
    }
    const regimenBox = el("div", { "data-loc": "body.regimen" });
    this.guideline = select(CAT.guidelines.map((g) => [g, g === "asco2021" ? "ASCO 2021 (hold, steroids, stop)" : "none (no irAE management)"]), "asco2021", { class: "guideline" });
    this.days = el("input", { class: "days", type: "number", min: "1", max: CAT.limits.max_patient_days, value: "365" });
    this.seed = el("input", { class: "seed", type: "number", min: "0", step: "1", value: "1" });
    this.label = el("input", { class: "label", placeholder: "optional name" });
    this.general = el("div", { class: "err general" });
    root.append(
      field("Start from", "", example, { wide: true }),
      el("fieldset", {}, el("legend", { text: "Patient" }), field("Cancer", "body.cancer", this.cancer), cov),
      el("fieldset", {}, el("legend", { text: "Regimen" }), regimenBox),
      el("fieldset", {}, el("legend", { text: "Management and run" }),
        el("div", { class: "grid2" },
          field("irAE management", "body.guideline", this.guideline, { wide: true }),
          field("Follow-up (days)", "body.days", this.days), field("Seed", "body.seed", this.seed),
          field("Label", "body.label", this.label, { wide: true }))),
      this.general);
    this.regimen = new RegimenBuilder(regimenBox, "body.regimen", []);
    if (this.opts.onRun) {
      this.runButton = el("button", { class: "primary run", type: "button", text: "Run", onclick: () => this.opts.onRun(this) });
      this.status = el("span", { class: "status" });
      root.append(el("div", { class: "actions" }, this.runButton, this.status));
    }
    const first = CAT.example_patients[0];
    this.setRequest({ cancer: first.cancer, patient: first.patient, regimen: first.regimen });
  }

  request() {
    const patient = {};
    for (const [key, [c, input]] of Object.entries(this.inputs)) {
      const v = input.value;
      if (v === DRAWN) continue;
      if (c.kind === "bool") patient[key] = v === "true";
      else if (c.kind === "choice") patient[key] = v === NONE ? "" : v;
      else patient[key] = Number.isFinite(Number(v)) ? Number(v) : v;
    }
    const req = {
      cancer: this.cancer.value, patient, regimen: this.regimen.drugs(), guideline: this.guideline.value,
      days: Number(this.days.value), seed: Number(this.seed.value),
    };
    if (this.label.value.trim()) req.label = this.label.value.trim();
    return req;
  }

  setRequest(req) {
    if (req.cancer) this.cancer.value = req.cancer;
    const p = req.patient || {};
    for (const [key, [c, input]] of Object.entries(this.inputs)) {
      const v = p[key];
      if (v === undefined || v === null) input.value = DRAWN;
      else if (c.kind === "bool") input.value = v ? "true" : "false";
      else if (c.kind === "choice") input.value = v === "" ? NONE : v;
      else input.value = String(v);
    }
    if (req.regimen) this.regimen.setDrugs(req.regimen);
    if (req.guideline) this.guideline.value = req.guideline;
    if (req.days) this.days.value = req.days;
    if (req.seed !== undefined) this.seed.value = req.seed;
    this.label.value = req.label || "";
    clearErrors(this.root);
    this.general.textContent = "";
  }

  errors(detail) {
    showErrors(this.root, detail, this.general);
  }

  busy(on, text) {
    if (this.runButton) this.runButton.disabled = on;
    if (this.status) this.status.textContent = text || "";
  }
}

async function simulate(form) {
  form.busy(true, "simulating…");
  clearErrors(form.root);
  form.general.textContent = "";
  const r = await api("POST", "/api/patients/simulate", form.request());
  form.busy(false, r.ok ? "" : "");
  if (!r.ok) {
    form.errors(r.data.detail);
    return null;
  }
  RUNS[r.data.run_id] = r.data;
  return r.data;
}

// ---------------------------------------------------------------------------------------
// The linked timeline: one plotly figure, one shared time axis, one row a subsystem
// ---------------------------------------------------------------------------------------

const ORGAN_COLOURS = {
  dermatitis: "#e377c2", colitis: "#8c564b", hepatitis: "#bcbd22", pneumonitis: "#17becf", thyroiditis: "#9467bd",
  hypophysitis: "#7f7f7f", nephritis: "#ff7f0e", myocarditis: "#d62728", neurologic: "#1f77b4", diabetes: "#2ca02c",
  arthritis: "#6b8fd6", hematologic: "#ff9896",
};
const SLOT_COLOURS = { pd1: "#1f77b4", ctla4: "#d62728", pdl1: "#2ca02c" };
const TCELL_SERIES = [
  ["effector", "effector T cells", "#2ca02c"], ["exhausted", "exhausted T cells", "#9e9e9e"],
  ["memory", "memory T cells", "#17becf"], ["treg_tumour", "Tregs in tumour", "#9467bd"],
  ["treg_systemic", "Tregs, systemic", "#c5b0d5"],
];
const ROWS = [
  ["tumour", 3.0, "SLD (mm)"], ["conc", 1.5, "drug (µg/mL)"], ["occ", 1.1, "occupancy"], ["tcells", 2.0, "T cells (1e9)"],
  ["damage", 1.5, "organ damage"], ["grade", 1.4, "CTCAE grade"], ["steroid", 1.1, "steroid (mg/d)"], ["doses", 1.0, ""],
];
const AXIS = { tumour: "y", cells: "y2", conc: "y3", occ: "y4", tcells: "y5", damage: "y6", grade: "y7", steroid: "y8", doses: "y9" };

function shownOrgans(run) {
  return Object.keys(run.series.damage).filter((o) => {
    const dmg = run.series.damage[o].filter((x) => x !== null);
    const g = run.visits.grades[o];
    return (dmg.length && Math.max(...dmg) > 0.01) || g.some((x) => x > 0);
  });
}

// Decade ticks for a log axis over the positive values of ``series`` (at most ~5 labels), and a range
// that keeps the top ``decades`` decades in view.
function logAxis(series, decades) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const ys of series) for (const v of ys) if (v !== null && v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) return {};
  if (decades) lo = Math.max(lo, hi / 10 ** decades);
  let k0 = Math.floor(Math.log10(lo));
  const k1 = Math.ceil(Math.log10(hi));
  if (k1 - k0 < 1) k0 = k1 - 1;
  const step = Math.max(1, Math.ceil((k1 - k0) / 4));
  const tickvals = [];
  for (let k = k1; k >= k0; k -= step) tickvals.unshift(10 ** k);
  const text = (v) => (v >= 0.001 && v < 10000 ? String(Number(v.toPrecision(1))) : v.toExponential(0).replace("+", ""));
  return { tickvals, ticktext: tickvals.map(text), range: [Math.log10(lo) - 0.05, Math.log10(hi) + 0.1] };
}

function timelineFigure(run, opts) {
  opts = opts || {};
  const s = run.series;
  const x = weeks(s.day);
  const vx = weeks(run.visits.day);
  const traces = [];
  const add = (t, axis, group) => traces.push(Object.assign({ yaxis: axis, xaxis: "x", legendgroup: group }, t));

  // Tumour: observed SLD at scans with RECIST categories; thresholds; hidden tumour cells.
  const scans = run.scans.filter((sc) => sc.sld_mm !== null);
  add({ meta: "sld", name: "SLD at scans (mm)", x: weeks(scans.map((sc) => sc.day)), y: scans.map((sc) => sc.sld_mm),
    mode: "lines+markers+text", text: scans.map((sc) => sc.response), textposition: "top center",
    marker: { color: "#111", size: 7 }, line: { color: "#111" }, legendgrouptitle: { text: "tumour" } }, AXIS.tumour, "tumour");
  const post = run.scans.filter((sc) => sc.day > 0 && sc.pd_threshold_mm !== null);
  if (post.length) {
    add({ meta: "pr_threshold", name: "PR threshold (−30%)", x: weeks(post.map((sc) => sc.day)), y: post.map((sc) => sc.pr_threshold_mm),
      mode: "lines", line: { color: "#1a7f37", dash: "dash", width: 1, shape: "hv" } }, AXIS.tumour, "tumour");
    add({ meta: "pd_threshold", name: "PD threshold (+20% over nadir)", x: weeks(post.map((sc) => sc.day)), y: post.map((sc) => sc.pd_threshold_mm),
      mode: "lines", line: { color: "#d1432f", dash: "dash", width: 1, shape: "hv" } }, AXIS.tumour, "tumour");
  }
  add({ meta: "tumour_cells", name: "tumour cells (1e9, hidden)", x, y: s.tumour_cells, mode: "lines",
    line: { color: "#d62728", width: 1.5 }, opacity: 0.7 }, AXIS.cells, "tumour");
  add({ meta: "resistant_cells", name: "resistant clone (1e9)", x, y: s.resistant_cells, mode: "lines",
    line: { color: "#d62728", width: 1, dash: "dot" }, opacity: 0.6 }, AXIS.cells, "tumour");

  // Drugs: concentration and receptor occupancy per slot.
  for (const sl of s.slots) {
    const label = `${sl.drugs.join("/")} (anti-${sl.target})`;
    add({ meta: "conc:" + sl.slot, name: label + " µg/mL", x, y: sl.concentration, mode: "lines",
      line: { color: SLOT_COLOURS[sl.slot], width: 1.5 }, legendgrouptitle: { text: "drugs" } }, AXIS.conc, "drugs");
    add({ meta: "occ:" + sl.slot, name: `${sl.target} occupancy`, x, y: sl.occupancy, mode: "lines",
      line: { color: SLOT_COLOURS[sl.slot], width: 1.5, dash: "dot" } }, AXIS.occ, "drugs");
  }

  // T cells.
  TCELL_SERIES.forEach(([key, name, colour], i) => add({ meta: key, name, x, y: s[key], mode: "lines",
    line: { color: colour, width: 1.5 }, legendgrouptitle: i === 0 ? { text: "T cells" } : undefined }, AXIS.tcells, "tcells"));

  // Organs: damage (daily) and CTCAE grades (at visits).
  const organs = shownOrgans(run);
  organs.forEach((o, i) => {
    add({ meta: "damage:" + o, name: o + " damage", x, y: s.damage[o], mode: "lines",
      line: { color: ORGAN_COLOURS[o], width: 1.5 }, legendgrouptitle: i === 0 ? { text: "organs" } : undefined }, AXIS.damage, "organs");
    add({ meta: "grade:" + o, name: o + " grade", x: vx, y: run.visits.grades[o], mode: "lines+markers",
      line: { color: ORGAN_COLOURS[o], width: 1, shape: "hv" }, marker: { size: 4 }, showlegend: false }, AXIS.grade, "organs");
  });

  // Vitiligo: the depigmented share of the skin (melanocytes killed by the tumour-primed T cells), on the damage axis.
  const vit = (s.vitiligo_pct_bsa || []).map((v) => (v === null ? null : v / 100));
  if (vit.some((v) => v !== null && v > 0.001)) {
    add({ meta: "vitiligo", name: "vitiligo (depigmented share)", x, y: vit, mode: "lines",
      line: { color: "#666", width: 1.5, dash: "dash" } }, AXIS.damage, "organs");
  }

  // Treatment: steroid dose, doses given, held, stopped.
  add({ meta: "steroid_mg", name: "prednisone-eq. (mg/day)", x: vx, y: run.visits.steroid_mg, mode: "lines",
    line: { color: "#7b3294", shape: "hv", width: 1.5 }, fill: "tozeroy", fillcolor: "rgba(123,50,148,0.12)",
    legendgrouptitle: { text: "treatment" } }, AXIS.steroid, "treatment");
  const drugNames = [...new Set(run.visits.dosed.filter((d) => d).flatMap((d) => d.split("+")))];
  for (const name of drugNames) {
    const idx = run.visits.dosed.map((d, i) => (d.split("+").includes(name) ? i : -1)).filter((i) => i >= 0);
    const slot = (CAT.drugs.find((d) => d.name === name) || {}).slot;
    add({ meta: "dose:" + name, name: name + " doses", x: idx.map((i) => vx[i]), y: idx.map(() => name), mode: "markers",
      marker: { symbol: "triangle-up", size: 9, color: SLOT_COLOURS[slot] || "#333" } }, AXIS.doses, "treatment");
  }
  const held = run.visits.held.map((h, i) => (h && !run.visits.stopped[i] ? i : -1)).filter((i) => i >= 0);
  if (held.length) add({ meta: "held", name: "dose held", x: held.map((i) => vx[i]), y: held.map(() => "held"), mode: "markers",
    marker: { symbol: "x", size: 8, color: "#e67e22" } }, AXIS.doses, "treatment");
  const stop = run.visits.stopped.findIndex((v) => v);
  if (stop >= 0) add({ meta: "stopped", name: "stopped for toxicity", x: [vx[stop]], y: ["stopped"], mode: "markers",
    marker: { symbol: "square", size: 9, color: "#b3261e" } }, AXIS.doses, "treatment");

  // Layout: rows stacked top to bottom on one x axis.
  const total = ROWS.reduce((a, r) => a + r[1], 0);
  const gap = 0.022;
  const usable = 1 - gap * (ROWS.length - 1);
  let top = 1;
  const layout = {
    height: opts.height || 1180, margin: { l: 64, r: opts.compact ? 56 : 70, t: 16, b: 44 },
    hovermode: "closest", showlegend: !opts.compact,
    legend: { x: 1.07, y: 1, font: { size: 10 }, tracegroupgap: 6, groupclick: "toggleitem" },
    font: { size: 11 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    xaxis: { anchor: "y9", title: { text: "weeks from the first dose" }, showspikes: true, spikemode: "across",
      spikesnap: "cursor", spikethickness: 1, spikedash: "dot", spikecolor: "#777", zeroline: false,
      gridcolor: "#eef0f3", range: opts.xrange },
    shapes: [], annotations: [],
  };
  ROWS.forEach(([key, weight, title], i) => {
    const h = (usable * weight) / total;
    const name = AXIS[key].replace("y", "yaxis");
    layout[name] = { domain: [Math.max(top - h, 0), top], anchor: "x", title: { text: title, font: { size: 10 } },
      gridcolor: "#eef0f3", zeroline: false };
    top = top - h - gap;
  });
  layout.yaxis2 = Object.assign({ overlaying: "y", side: "right", type: "log", showgrid: false, anchor: "x",
    title: { text: "tumour cells (1e9)", font: { size: 10 } } }, logAxis([s.tumour_cells, s.resistant_cells]));
  layout.yaxis4.range = [0, 1.02];
  layout.yaxis4.tickformat = ".0%";
  Object.assign(layout.yaxis5, { type: "log" }, logAxis(TCELL_SERIES.map(([key]) => s[key]), 4));
  layout.yaxis6.range = [0, 1.02];
  layout.yaxis7.range = [-0.2, 5.2];
  layout.yaxis7.dtick = 1;
  layout.yaxis8.rangemode = "tozero";
  layout.yaxis9.type = "category";
  layout.yaxis9.categoryorder = "array";
  layout.yaxis9.categoryarray = [...(stop >= 0 ? ["stopped"] : []), ...(held.length ? ["held"] : []),
    ...drugNames.slice().reverse()];
  layout.yaxis9.automargin = true;
  if (!organs.length) {
    const dom = layout.yaxis6.domain;
    layout.annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: (dom[0] + dom[1]) / 2, showarrow: false,
      text: "no organ damage and no irAE", font: { color: "#888" } });
  }
  const base = run.scans.find((sc) => sc.day === 0);
  const xmax = x.length ? x[x.length - 1] : 1;
  if (base && base.sld_mm !== null) {
    layout.shapes.push({ type: "rect", xref: "x", yref: "y", x0: 0, x1: xmax, y0: 0, y1: 0.7 * base.sld_mm,
      fillcolor: "rgba(26,127,55,0.07)", line: { width: 0 }, layer: "below" });
  }
  const vline = (wk, colour, text) => {
    layout.shapes.push({ type: "line", xref: "x", yref: "paper", x0: wk, x1: wk, y0: 0, y1: 1, line: { color: colour, width: 1, dash: "dot" } });
    if (text) layout.annotations.push({ xref: "x", yref: "paper", x: wk, y: 1, text, showarrow: false, yanchor: "bottom",
      font: { size: 10, color: colour } });
  };
  vline(0, "#888", "");
  const ev = run.events;
  if (ev.progression && ev.progression.month !== null) vline((ev.progression.month * ev.days_per_month) / 7, "#d1432f", "progression");
  if (ev.death && ev.death.month !== null) vline((ev.death.month * ev.days_per_month) / 7, "#111", "death");
  return { data: traces, layout };
}

function plotTimeline(div, run, opts) {
  const fig = timelineFigure(run, opts);
  div.dataset.runId = run.run_id;
  return Plotly.react(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
}

function showPatient(run) {
  document.getElementById("patient-placeholder").hidden = true;
  document.getElementById("patient-head").hidden = false;
  document.getElementById("patient-title").textContent = run.label;
  document.getElementById("patient-headline").textContent = run.headline;
  const acc = document.getElementById("patient-account");
  acc.replaceChildren(...run.account.map((s) => el("li", { text: s })));
  const det = document.getElementById("patient-details");
  det.hidden = false;
  const kv = document.getElementById("patient-covariates");
  const keys = ["age", "sex", "weight_kg", "height_cm", "ecog", "ldh_uln", "pdl1_tps", "tmb", "sld0_mm", "n_met_sites",
    "m_stage", "brain_mets", "liver_mets", "prior_chemo", "preexisting_ai", "ever_smoker", "thoracic_rt"];
  kv.replaceChildren(...keys.filter((k) => k in run.patient).map((k) => {
    const v = run.patient[k];
    const shown = typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : String(v === "" ? "none" : v);
    return el("tr", {}, el("td", { text: COVARIATE_LABELS[k] || k }), el("td", { text: shown }));
  }));
  document.getElementById("patient-cli").textContent = run.cli;
  document.getElementById("patient-results").dataset.runId = run.run_id;
  plotTimeline(document.getElementById("patient-timeline"), run, {});
}

// ---------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------

const COMPARE = { a: null, b: null, forms: {}, syncing: false };

function showCompare(side, run) {
  COMPARE[side] = run;
  document.getElementById(`compare-title-${side}`).textContent = `${side.toUpperCase()}: ${run.label}`;
  document.getElementById(`compare-headline-${side}`).textContent = run.headline;
  document.getElementById(`compare-account-${side}`).replaceChildren(...run.account.map((s) => el("li", { text: s })));
}

function plotCompare() {
  const runs = ["a", "b"].map((k) => COMPARE[k]).filter((r) => r);
  const xmax = Math.max(...runs.map((r) => r.series.day[r.series.day.length - 1] / 7));
  const xmin = Math.min(...runs.map((r) => r.series.day[0] / 7));
  for (const side of ["a", "b"]) {
    if (!COMPARE[side]) continue;
    const div = document.getElementById(`compare-timeline-${side}`);
    plotTimeline(div, COMPARE[side], { compact: true, height: 1000, xrange: [xmin, xmax] }).then(() => {
      div.removeAllListeners && div.removeAllListeners("plotly_relayout");
      div.on("plotly_relayout", (ev) => {
        if (COMPARE.syncing) return;
        const other = document.getElementById(`compare-timeline-${side === "a" ? "b" : "a"}`);
        if (!other.data) return;
        const upd = {};
        if ("xaxis.range[0]" in ev) upd["xaxis.range"] = [ev["xaxis.range[0]"], ev["xaxis.range[1]"]];
        else if ("xaxis.autorange" in ev) upd["xaxis.range"] = [xmin, xmax];
        else return;
        COMPARE.syncing = true;
        Plotly.relayout(other, upd).then(() => { COMPARE.syncing = false; });
      });
    });
  }
  const table = document.getElementById("compare-table");
  if (!COMPARE.a || !COMPARE.b) return;
  const rows = [
    ["Regimen", (r) => r.regimen_text],
    ["Best overall response", (r) => r.events.response.best_overall_response],
    ["Best change in SLD", (r) => (r.events.response.best_pct_change === null ? "–" : r.events.response.best_pct_change.toFixed(0) + "%")],
    ["Progression-free survival (months)", (r) => fmtNum(r.events.pfs.months) + (r.events.pfs.event ? "" : " (censored)")],
    ["Overall survival (months)", (r) => fmtNum(r.events.os.months) + (r.events.os.event ? "" : " (censored)")],
    ["irAEs (worst grade)", (r) => r.events.iraes.map((e) => `${e.irae} G${e.worst_grade}`).join(", ") || "none"],
    ["Steroids", (r) => (r.events.steroids.given ? `from week ${fmtNum(r.events.steroids.start_week, 0)}` : "no")],
    ["Treatment ended", (r) => r.events.discontinued.reason || "–"],
  ];
  table.hidden = false;
  table.replaceChildren(el("tr", {}, el("th", { text: "" }), el("th", { text: "A" }), el("th", { text: "B" })),
    ...rows.map(([k, f]) => el("tr", {}, el("th", { text: k }), el("td", { text: f(COMPARE.a) }), el("td", { text: f(COMPARE.b) }))));
}

async function runCompare() {
  const status = document.getElementById("compare-status");
  status.textContent = "simulating A and B…";
  const [a, b] = await Promise.all([simulate(COMPARE.forms.a), simulate(COMPARE.forms.b)]);
  status.textContent = a && b ? "" : "fix the fields marked in red";
  if (a) showCompare("a", a);
  if (b) showCompare("b", b);
  if (a && b) for (const d of document.querySelectorAll("#view-compare details.form-fold")) d.open = false;
  if (a || b) plotCompare();
}

// ---------------------------------------------------------------------------------------
// Trials
// ---------------------------------------------------------------------------------------

const TRIAL = { arms: [], polling: null, current: null };

function buildTrialForm() {
  const root = document.getElementById("trial-form-fields");
  const name = el("input", { id: "trial-name", value: "Nivolumab vs ipilimumab (small)" });
  const cancer = select(CAT.cancers, "melanoma", { id: "trial-cancer" });
  const size = el("input", { id: "trial-size", type: "number", min: "1", step: "1", value: "8",
    max: CAT.limits.max_patients_per_trial });
  const follow = el("input", { id: "trial-follow-up", type: "number", min: "1", step: "1", value: "6" });
  const guideline = select(CAT.guidelines, "asco2021", { id: "trial-guideline" });
  const armsBox = el("div", { id: "trial-arms" });
  const addArm = el("button", { type: "button", class: "small", text: "+ add arm", onclick: () => newArm({ name: `arm ${TRIAL.arms.length + 1}`, drugs: [] }) });
  root.append(
    field("Trial name", "body.spec.name", name, { wide: true }),
    el("div", { class: "grid2" },
      field("Cancer", "body.spec.population.cancer", cancer),
      field(`Patients per arm (≤ ${CAT.limits.max_patients_per_trial} in all)`, "body.spec.population.size_per_arm", size),
      field("Follow-up (months)", "body.spec.follow_up", follow),
      field("irAE management", "body.spec.management.guideline", guideline)),
    el("h4", { text: "Arms" }), armsBox, addArm);
  const newArm = (arm) => {
    const nameInput = el("input", { class: "arm-name", value: arm.name });
    const box = el("div", { class: "arm-block" });
    const remove = el("button", { type: "button", class: "small", text: "remove arm", onclick: () => {
      TRIAL.arms = TRIAL.arms.filter((a) => a.box !== box);
      box.remove();
      renumberArms();
    } });
    const nameField = field("Arm name", "", nameInput);
    const drugs = el("div", {});
    box.append(el("div", { class: "row-head" }, nameField, remove), drugs, el("span", { class: "err" }));
    armsBox.append(box);
    const builder = new RegimenBuilder(drugs, "", arm.drugs);
    TRIAL.arms.push({ box, nameInput, nameField, builder, drugsBox: drugs });
    renumberArms();
  };
  const renumberArms = () => TRIAL.arms.forEach((a, i) => {
    a.box.dataset.loc = `body.spec.arms.${i}`;
    a.nameField.dataset.loc = `body.spec.arms.${i}.name`;
    a.drugsBox.dataset.loc = `body.spec.arms.${i}.drugs`;
    a.builder.setPrefix(`body.spec.arms.${i}.drugs`);
  });
  newArm({ name: "nivolumab", drugs: [{ name: "nivolumab", dose: "3 mg/kg", every: "2 weeks" }] });
  newArm({ name: "ipilimumab", drugs: [{ name: "ipilimumab", dose: "3 mg/kg", every: "3 weeks", doses: 4 }] });
  document.getElementById("trial-toml").value = CAT.example_trial_toml;
  for (const r of document.querySelectorAll("input[name=trial-mode]")) {
    r.addEventListener("change", () => {
      const toml = document.querySelector("input[name=trial-mode]:checked").value === "toml";
      document.getElementById("trial-form-fields").hidden = toml;
      document.getElementById("trial-toml-fields").hidden = !toml;
    });
  }
  document.getElementById("trial-start").addEventListener("click", startTrial);
}

function trialRequest() {
  const mode = document.querySelector("input[name=trial-mode]:checked").value;
  let req;
  if (mode === "toml") req = { spec_toml: document.getElementById("trial-toml").value };
  else {
    const v = (id) => document.getElementById(id).value;
    const size = Number(v("trial-size"));
    req = { spec: {
      name: v("trial-name"), follow_up: `${v("trial-follow-up")} months`,
      population: { cancer: v("trial-cancer"), size_per_arm: Number.isFinite(size) ? size : v("trial-size") },
      management: { guideline: v("trial-guideline") },
      arms: TRIAL.arms.map((a) => ({ name: a.nameInput.value, drugs: a.builder.drugs() })),
    } };
  }
  const seed = document.getElementById("trial-seed").value;
  if (seed !== "") req.seed = Number(seed);
  return req;
}

async function startTrial() {
  const form = document.getElementById("trial-form");
  const general = document.getElementById("trial-error");
  const button = document.getElementById("trial-start");
  clearErrors(form);
  general.textContent = "";
  button.disabled = true;
  const r = await api("POST", "/api/trials", trialRequest());
  button.disabled = false;
  if (!r.ok) {
    showErrors(form, r.data.detail, general);
    return;
  }
  watchTrial(r.data.run_id);
}

function trialProgress(st) {
  document.getElementById("trial-placeholder").hidden = true;
  document.getElementById("trial-job").hidden = false;
  document.getElementById("trial-title").textContent = st.label;
  const bar = document.getElementById("trial-bar");
  const frac = st.total ? st.done / st.total : 0;
  bar.style.width = `${(st.status === "done" ? 1 : frac) * 100}%`;
  bar.className = "bar " + st.status;
  const status = document.getElementById("trial-status");
  status.dataset.status = st.status;
  if (st.status === "queued") status.textContent = "Queued…";
  else if (st.status === "running") status.textContent = st.done < st.total || !st.total
    ? `Simulating patients: ${st.done} / ${st.total}`
    : `All ${st.total} patients simulated; writing the results and the report…`;
  else if (st.status === "done") status.textContent = `Done: ${st.total} patients. Reproduce with: ${st.cli}`;
  else status.textContent = `Failed: ${st.error}`;
}

async function watchTrial(id) {
  if (TRIAL.polling) clearTimeout(TRIAL.polling);
  TRIAL.current = id;
  document.getElementById("trial-results").hidden = true;
  const tick = async () => {
    if (TRIAL.current !== id) return;
    const r = await api("GET", `/api/trials/${id}`);
    if (!r.ok) {
      document.getElementById("trial-status").textContent = "Could not read the job: " + (r.data.detail || r.status);
      return;
    }
    trialProgress(r.data);
    if (r.data.status === "done") await showTrialResults(r.data);
    else if (r.data.status !== "failed") TRIAL.polling = setTimeout(tick, 700);
  };
  await tick();
}

const ARM_COLOURS = ["#2251a3", "#d1432f", "#1a7f37", "#9467bd", "#e67e22", "#17becf", "#8c564b", "#7f7f7f"];
const BOR_COLOURS = { CR: "#1a7f37", PR: "#6cc070", SD: "#f2c14e", PD: "#d1432f", NE: "#9a9a9a" };

async function showTrialResults(st) {
  const r = await api("GET", `/api/trials/${st.run_id}/results`);
  if (!r.ok) return;
  const res = r.data;
  document.getElementById("trial-results").hidden = false;
  const dl = document.getElementById("trial-downloads");
  const files = st.files;
  dl.replaceChildren(...files.map((f) => el("a", {
    href: `/api/trials/${st.run_id}/files/${f}`, class: f === "report.html" ? "report" : "", id: "download-" + f.replace(".", "-"),
    target: f === "report.html" ? "_blank" : undefined, rel: "noopener",
    text: f === "report.html" ? "Open the full report" : "Download " + f,
  })));
  const s = res.summary;
  const head = ["Arm", "n", "ORR (95% CI)", "CR", "DCR", "median PFS (mo)", "median OS (mo)", "any irAE", "grade ≥3 irAE", "steroids"];
  const ci = (c) => (c && c[0] !== null ? ` (${fmtPct(c[0])}–${fmtPct(c[1])})` : "");
  const table = document.getElementById("trial-summary");
  table.replaceChildren(el("tr", {}, ...head.map((h) => el("th", { text: h }))),
    ...res.arms.map((arm) => {
      const a = s.arms[arm];
      const cells = [a.n, fmtPct(a.orr) + ci(a.ci95.orr), fmtPct(a.cr_rate), fmtPct(a.dcr),
        a.median_pfs_months === null ? "not reached" : fmtNum(a.median_pfs_months),
        a.median_os_months === null ? "not reached" : fmtNum(a.median_os_months),
        fmtPct(a.irae.any_grade), fmtPct(a.irae.grade3plus), fmtPct(a.irae.steroids)];
      return el("tr", {}, el("th", { text: arm }), ...cells.map((c) => el("td", { class: "num", text: String(c) })));
    }));
  const config = { responsive: true, displaylogo: false };
  for (const ep of ["pfs", "os"]) {
    const data = [];
    res.arms.forEach((arm, i) => {
      const k = res.km[ep][arm];
      data.push({ meta: `km:${ep}:${arm}`, name: `${arm} (median ${k.median === null ? "not reached" : k.median.toFixed(1) + " mo"})`,
        x: k.time, y: k.survival, mode: "lines", line: { shape: "hv", color: ARM_COLOURS[i % 8], width: 2 }, legendgroup: arm });
      data.push({ meta: `censor:${ep}:${arm}`, name: "censored", x: k.censor_time, y: k.censor_survival, mode: "markers",
        marker: { symbol: "line-ns-open", size: 9, color: ARM_COLOURS[i % 8] }, showlegend: false, legendgroup: arm });
    });
    Plotly.react(`trial-km-${ep}`, data, {
      title: { text: ep === "pfs" ? "Progression-free survival" : "Overall survival", font: { size: 14 } },
      height: 360, margin: { l: 50, r: 10, t: 40, b: 40 }, xaxis: { title: { text: "months" }, rangemode: "tozero" },
      yaxis: { range: [0, 1.03], tickformat: ".0%" }, legend: { x: 0.02, y: 0.05, bgcolor: "rgba(255,255,255,0.7)" },
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 0.5, y1: 0.5, line: { color: "#aaa", dash: "dot", width: 1 } }],
    }, config);
  }
  // Waterfall: arms side by side, bars coloured by best overall response.
  const wf = [];
  const ann = [];
  let offset = 0;
  const byBor = {};
  res.arms.forEach((arm) => {
    const bars = res.waterfall[arm];
    bars.forEach((b, i) => {
      const k = b.bor in BOR_COLOURS ? b.bor : "NE";
      (byBor[k] = byBor[k] || { x: [], y: [], text: [] });
      byBor[k].x.push(offset + i);
      byBor[k].y.push(Math.max(-100, Math.min(100, b.pct_change)));
      byBor[k].text.push(`${arm}, patient ${b.patient}: ${b.pct_change.toFixed(0)}% (${b.bor})`);
    });
    ann.push({ x: offset + (bars.length - 1) / 2, y: 108, text: `<b>${arm}</b>`, showarrow: false, xref: "x", yref: "y" });
    offset += bars.length + 2;
  });
  for (const [bor, d] of Object.entries(byBor)) {
    wf.push({ type: "bar", meta: "waterfall:" + bor, name: bor, x: d.x, y: d.y, text: d.text, hoverinfo: "text",
      textposition: "none", marker: { color: BOR_COLOURS[bor] } });
  }
  Plotly.react("trial-waterfall", wf, {
    title: { text: "Waterfall: best change in the sum of target diameters", font: { size: 14 } }, height: 340,
    margin: { l: 50, r: 10, t: 40, b: 20 }, bargap: 0.1, annotations: ann,
    xaxis: { showticklabels: false, zeroline: false }, yaxis: { range: [-105, 118], title: { text: "%" } },
    shapes: [20, -30].map((y) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y,
      line: { color: y > 0 ? "#d1432f" : "#1a7f37", dash: "dash", width: 1 } })),
  }, config);
  // irAEs by organ: any grade (solid) and grade >= 3 (hatched) per arm.
  const organs = CAT.irae_organs.filter((o, j) => res.arms.some((arm) => (res.irae[arm].any_grade[j] || 0) > 0));
  const idx = organs.map((o) => CAT.irae_organs.indexOf(o));
  const ir = [];
  res.arms.forEach((arm, i) => {
    ir.push({ type: "bar", meta: `irae:any:${arm}`, name: `${arm}: any grade`, x: organs, y: idx.map((j) => res.irae[arm].any_grade[j]),
      marker: { color: ARM_COLOURS[i % 8] }, offsetgroup: arm + "any" });
    ir.push({ type: "bar", meta: `irae:g3:${arm}`, name: `${arm}: grade ≥3`, x: organs, y: idx.map((j) => res.irae[arm].grade3plus[j]),
      marker: { color: "#fff", line: { color: ARM_COLOURS[i % 8], width: 1.5 }, pattern: { shape: "/", fgcolor: ARM_COLOURS[i % 8] } },
      offsetgroup: arm + "g3" });
  });
  Plotly.react("trial-irae", ir, {
    title: { text: "Immune-related adverse events by organ", font: { size: 14 } }, height: 340, barmode: "group",
    margin: { l: 50, r: 10, t: 40, b: 60 }, yaxis: { tickformat: ".0%", rangemode: "tozero" },
    annotations: organs.length ? [] : [{ xref: "paper", yref: "paper", x: 0.5, y: 0.5, text: "no irAEs", showarrow: false }],
  }, config);
}

// ---------------------------------------------------------------------------------------
// Earlier runs
// ---------------------------------------------------------------------------------------

async function loadRuns() {
  const r = await api("GET", "/api/runs?limit=200");
  const body = document.querySelector("#runs-table tbody");
  if (!r.ok) return;
  body.replaceChildren(...r.data.map((run) => el("tr", { "data-run-id": run.run_id },
    el("td", { text: run.created.replace("T", " ").replace("Z", "") }),
    el("td", { text: run.kind }),
    el("td", { text: run.label }),
    el("td", {}, el("span", { class: "badge " + run.status, text: run.status + (run.kind === "trial" && run.status === "running" ? ` ${run.done}/${run.total}` : "") })),
    el("td", { text: run.error || run.headline }),
    el("td", {}, el("button", { class: "small open", text: "Open", onclick: () => openRun(run) })))));
}

async function openRun(run) {
  if (run.kind === "patient") {
    const r = await api("GET", `/api/patients/${run.run_id}`);
    if (!r.ok) return;
    RUNS[run.run_id] = r.data;
    switchView("patient");
    PATIENT_FORM.setRequest(r.data.request);
    showPatient(r.data);
  } else {
    switchView("trial");
    watchTrial(run.run_id);
  }
}

// ---------------------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------------------

let PATIENT_FORM = null;

function switchView(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === name);
  for (const v of document.querySelectorAll(".view")) v.classList.toggle("active", v.id === "view-" + name);
  if (name === "runs") loadRuns();
  window.dispatchEvent(new Event("resize"));
}

async function main() {
  const r = await api("GET", "/api/catalogue");
  if (!r.ok) {
    document.querySelector("main").textContent = "Cannot load the catalogue: " + JSON.stringify(r.data);
    return;
  }
  CAT = r.data;
  document.getElementById("disclaimer").textContent = CAT.disclaimer;
  document.body.append(el("datalist", { id: "until-options" }, el("option", { value: "progression" }), el("option", { value: "completion" })));
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => switchView(b.dataset.view));
  PATIENT_FORM = new PatientForm(document.getElementById("patient-form"), {
    onRun: async (form) => {
      const run = await simulate(form);
      if (run) showPatient(run);
    },
  });
  COMPARE.forms.a = new PatientForm(document.getElementById("compare-form-a"), {});
  COMPARE.forms.b = new PatientForm(document.getElementById("compare-form-b"), {});
  COMPARE.forms.b.setRequest(Object.assign({}, COMPARE.forms.a.request(), {
    regimen: [{ name: "nivolumab", dose: "3 mg/kg", every: "2 weeks" }],
  }));
  document.getElementById("compare-copy-a").addEventListener("click", () => COMPARE.forms.a.setRequest(PATIENT_FORM.request()));
  document.getElementById("compare-copy-b").addEventListener("click", () => COMPARE.forms.b.setRequest(PATIENT_FORM.request()));
  document.getElementById("compare-run").addEventListener("click", runCompare);
  document.getElementById("runs-refresh").addEventListener("click", loadRuns);
  buildTrialForm();
  document.getElementById("trial-placeholder").textContent =
    `Describe a small trial (at most ${CAT.limits.max_patients_per_trial} patients in all) and start it: it runs in the background; ` +
    "follow its progress here, then see its survival curves, waterfall and irAEs, and download its files.";
  document.body.dataset.ready = "1";
}

main();
