# hallq: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check layers bench chaos system-deps clean lint pi-wheels bundle messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# The simulated hall: Mosquitto when present, else the embedded broker. system-deps adds the
# CJK font (and espeak-ng, Mosquitto) when we may install; without them the demo still runs.
demo: $(STAMP) system-deps
	$(BIN)/hallq demo $(DEMO_ARGS)

# Mosquitto, espeak-ng and a CJK font when missing and we may install them (root or sudo -n).
system-deps:
	@sh .ci/system-deps

# axe-core for the accessibility checks in Chromium, at the version package-lock.json pins
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json | system-deps
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Test files run side by side (pytest-xdist, a file's tests on one worker: they share its hall);
# each test has its own broker port, folders and namespaces. JOBS=1 runs them one after another.
JOBS ?= 3

# the layers and the absence of import circles (.importlinter)
layers: $(STAMP)
	$(BIN)/lint-imports

# the fast loop: the layers, the pure core, units and in-process tests (no broker, browser or namespace)
check: layers
	$(BIN)/python -m pytest -q -n 2 -m "not processes and not browser and not chaos" $(PYTEST_ARGS)

# everything, as CI runs it
test: $(STAMP) system-deps $(NODE_STAMP) layers
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --durations=15 $(PYTEST_ARGS)

bench: $(STAMP) system-deps
	$(BIN)/python bench/run_all.py

# the kill-and-restart proof on one machine, the network faults between the worked hall's machines,
# then head office fed poisoned events and the web flooded with streams
chaos: $(STAMP) system-deps
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)
	$(BIN)/python bench/chaos_hosts.py $(CHAOS_HOSTS_ARGS)
	$(BIN)/python bench/chaos_surfaces.py $(CHAOS_SURFACES_ARGS)

# the hall's bundle for its machines (docs/deploy.md): make bundle CONFIG=hall.toml OUT=hall-bundle
CONFIG ?= hall.toml
OUT    ?= hall-bundle
bundle: $(STAMP)
	$(BIN)/hallq bundle --config $(CONFIG) --out $(OUT) $(BUNDLE_ARGS)

# needs PyPI: every requirement of hallq[pi] has an aarch64 wheel for Raspberry Pi OS (tools/check_pi_wheels.py)
pi-wheels: $(STAMP)
	$(BIN)/python tools/check_pi_wheels.py

# every text people read: the msgids from the code into the catalogs (then translate hallq/locale/*/LC_MESSAGES/hallq.po)
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k gettext -k _ -k N_ -k both -k bilingual --sort-by-file \
	    --project hallq -o hallq/locale/hallq.pot hallq web central display kiosk printer counter
	$(BIN)/pybabel update -i hallq/locale/hallq.pot -d hallq/locale -D hallq --ignore-obsolete --no-fuzzy-matching

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache node_modules
