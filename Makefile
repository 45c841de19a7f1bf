# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install trueclass, train the lesson's model (logistic regression, the
#               lesson's split) on the digits: 10 of 360 test images misread, to discuss (~15 s)
#   make test   the same set-up, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/trueclass train digits --model logreg --test-size 0.2 --seed 1 --no-stratify --out runs/demo --overwrite
	@echo "Open runs/demo/card.html: it starts in plain words, with a misread image to discuss."

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

# the quick benchmarks (a few minutes); benchmarks/fashion_mnist.py (about 15 minutes),
# transfer.py (about 5), transfer_fewshot.py (about 15), fewshot_probe.py (about 5), photo_runs.py, embedding_speed.py,
# default_choice.py and audit_labels.py (a few minutes each) run on their own
bench: $(STAMP)
	$(BIN)/python benchmarks/classic_digits.py
	$(BIN)/python benchmarks/digits_cnn.py
	$(BIN)/python benchmarks/trainer_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache
