# immunotwin: two commands on a fresh machine — `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo
	$(BIN)/immunotwin trial examples/checkmate067.toml --out demo/checkmate067
	$(BIN)/immunotwin simulate --cancer melanoma --regimen "nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w" --days 365 --seed 1 --out demo/patient
	@echo "open demo/checkmate067/report.html and demo/patient/patient.png"

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -p no:cacheprovider

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder -m slow -o addopts="--timeout=1800"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no slow tests"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests

# A fixed configuration (about 15 minutes on 2 cores): scaling to 10^4 patients over 2 years and
# peak memory to 10^5 patients; writes benchmarks/results.json and, from it, benchmarks/RESULTS.md.
bench: $(STAMP)
	$(BIN)/immunotwin bench --patients 192 --accuracy-patients 2 --scaling 128,1024,10240 --memory 1024,10240,102400 \
	  --trial-patients 192 --json benchmarks/results.json --markdown benchmarks/RESULTS.md

clean:
	rm -rf demo build *.egg-info
