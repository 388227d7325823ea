# pg-dr developer commands. Everything runs from a fresh clone with only python3 installed beforehand.
PYTHON ?= python3
VENV   ?= .venv
STACK  ?= dev
OUT    ?= render/$(STACK)
A      ?= dev
B      ?= prod
STACKS ?= dev prod

.PHONY: venv render check diff test test-unit test-artifact test-fault test-e2e snapshot docs-check lint clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

## The main job offline: render a stack (STACK=dev|prod) for review into render/<stack>/.
render: venv
	$(VENV)/bin/pg-dr render $(STACK) --out $(OUT)

## Validate stacks offline, write nothing (pre-commit, CI): make check [STACKS="dev prod"]
check: venv
	$(VENV)/bin/pg-dr check $(STACKS)

## Compare two stacks' renders (promotion review), dev -> prod unless A=... B=... are given.
## pg-dr diff exits 0 (same), 1 (they differ) or 2 (error). make itself can only succeed or fail, so
## "they differ" is a successful review here (said on the last line); an error fails. For the 0/1/2
## status in a script, run .venv/bin/pg-dr diff A B directly.
diff: venv
	@status=0; $(VENV)/bin/pg-dr diff $(A) $(B) || status=$$?; \
	case $$status in \
	  0) echo "make diff: $(A) and $(B) render the same (pg-dr diff exit 0)" ;; \
	  1) echo "make diff: $(A) and $(B) differ, review the above (pg-dr diff exit 1)" ;; \
	  *) echo "make diff: pg-dr diff failed (exit $$status)" >&2; exit $$status ;; \
	esac

## Every test tier (unit, artifact, fault, end to end). Real-tool tiers need PostgreSQL, borg and sshd (see .ci/run).
test: venv
	$(VENV)/bin/python -m pytest -q

test-unit: venv
	$(VENV)/bin/python -m pytest -q tests/unit

test-artifact: venv
	$(VENV)/bin/python -m pytest -q tests/artifact

test-fault: venv
	$(VENV)/bin/python -m pytest -q tests/fault

test-e2e: venv
	$(VENV)/bin/python -m pytest -q tests/e2e

## Regenerate the committed render snapshot (tests/unit/offline/renders) after an intended change.
snapshot: venv
	PG_DR_UPDATE_SNAPSHOT=1 $(VENV)/bin/python -m pytest -q tests/unit/offline/test_render_snapshot.py

## Check every figure, file name, config key and example output of README.md and docs/ against the code.
docs-check: venv
	$(VENV)/bin/python -m tests.support.docs_check

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) render .pytest_cache .ruff_cache .hypothesis
