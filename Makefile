# Two commands on a fresh machine:  `make lab`  (set up, open JupyterLab)
#                                    `make test` (set up, run every test)
# Both create or reuse .venv and install only what is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OFFLINE := ALWIDGETS_PROFILE=offline TF_CPP_MIN_LOG_LEVEL=3

.PHONY: setup lab test lint format tutorial exercises exercises-check site times \
        claims fullscale clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test,scale]"
	touch $@

# (--allow-root only when run as root, e.g. in a container)
lab: setup
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) \
	    notebooks/00_start_here.ipynb

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(OFFLINE) $(BIN)/pytest

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Run the whole tutorial headless on the offline profile; executed copies go to build/.
tutorial: setup
	$(OFFLINE) $(BIN)/python tools/notebook_runner.py --out build/executed notebooks/*.ipynb

# Workshop kit (issue 14). Exercise and solution editions, from the notebooks (which
# hold the solutions), into build/exercises/ and build/solutions/; see tools/editions.py.
exercises: setup
	$(BIN)/python tools/editions.py --out build

# The same, then run every edition headless (offline profile): in the exercise edition
# every cell tagged `check` must raise and no other cell; the solution edition runs clean.
exercises-check: setup
	$(OFFLINE) $(BIN)/python tools/editions.py --out build --execute

# The tutorial as a static HTML site (executed on the offline profile, figures and
# widget state included) with a landing page: build/site/index.html.
site: setup
	$(OFFLINE) $(BIN)/python tools/site.py --out build/site

# Seconds per notebook, headless, each in a fresh kernel: build/times.{json,md}.
times: setup
	$(OFFLINE) $(BIN)/python tools/time_notebooks.py --out build/times.json

# The notebooks' claims on another CPU and on other seeds (issue 19): every offline
# notebook again with oneDNN limited to AVX2 kernels (the floats of a machine without
# AVX-512), then notebooks 05-07 with seeds nobody tuned them on. Each run starts from an
# empty cache (conftest.py), so features and heads are recomputed under those settings.
claims: setup
	$(OFFLINE) ONEDNN_MAX_CPU_ISA=AVX2 $(BIN)/pytest notebooks
	$(OFFLINE) ALWIDGETS_SEEDS=100-114 $(BIN)/pytest notebooks/05_label_and_retrain.ipynb \
	    notebooks/06_active_vs_random.ipynb notebooks/07_live_session.ipynb

# Real scale, no network (issue 9): builds stand-ins for tf_flowers (3,670 JPEGs of real
# sizes, TFDS's own builder) and the iNaturalist model (InceptionV3's compute) into
# build/fullscale/, then runs prefetch and notebooks 02-07 on the full profile on one
# core; fails if a run errors or peaks above 1.8 GiB. FULLSCALE_ARGS: see --help.
fullscale: setup
	$(BIN)/python tools/fullscale.py $(FULLSCALE_ARGS)

clean:
	rm -rf build $(VENV)
