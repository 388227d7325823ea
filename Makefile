# pg-dr developer commands. Everything runs from a fresh clone with only python3 installed beforehand.
PYTHON ?= python3
VENV   ?= .venv
STACK  ?= dev
OUT    ?= render/$(STACK)

.PHONY: venv render diff test test-unit test-artifact test-e2e snapshot lint clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

## The main job offline: render a stack (STACK=dev|prod) for review into render/<stack>/.
render: venv
	$(VENV)/bin/pg-dr render $(STACK) --out $(OUT)

## Compare two stacks' renders (promotion review): make diff A=dev B=prod
diff: venv
	$(VENV)/bin/pg-dr diff $(A) $(B)

## Every test tier (unit, artifact, end to end). Real-tool tiers need PostgreSQL, borg and sshd (see .ci/run).
test: venv
	$(VENV)/bin/python -m pytest -q

test-unit: venv
	$(VENV)/bin/python -m pytest -q tests/unit

test-artifact: venv
	$(VENV)/bin/python -m pytest -q tests/artifact

test-e2e: venv
	$(VENV)/bin/python -m pytest -q tests/e2e

## Regenerate the committed render snapshot (tests/unit/offline/renders) after an intended change.
snapshot: venv
	PG_DR_UPDATE_SNAPSHOT=1 $(VENV)/bin/python -m pytest -q tests/unit/offline/test_render_snapshot.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) render .pytest_cache .ruff_cache .hypothesis
