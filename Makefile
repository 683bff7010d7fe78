# SP4ALL Assistant: the two commands a newcomer needs are `make run` and `make test`.
#
# Two Python environments, because Rasa 3.6 and the gateway cannot share one
# (Rasa pins Python <3.11, SQLAlchemy 1.4, aiohttp 3.9; the gateway wants 3.11+, SQLAlchemy 2):
#   .venv-rasa  Python 3.10: Rasa 3.6.21, the rasa-sdk action server, khmer_nlu, their tests
#   .venv-bot   Python 3.11+: the gateway in bot/, its tests and the end-to-end tests
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

RASA_VENV := .venv-rasa
BOT_VENV := .venv-bot
RASA_PY := $(RASA_VENV)/bin/python
BOT_PY := $(BOT_VENV)/bin/python
RASA := $(RASA_VENV)/bin/rasa
MODEL := models/sp4all.tar.gz
# Rasa's own commands print TensorFlow and SQLAlchemy chatter; keep the signal.
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONHASHSEED := 0

TRAINING_INPUTS := config.yml domain.yml $(shell find data khmer_nlu -name '*.yml' -o -name '*.py' | sort)

.PHONY: help setup run chat train test lint validate test-actions test-stories test-nlu \
	test-gateway test-e2e test-bot bench clean

help:
	@echo "make run    set up what is missing, train if the data changed, start everything, print where to chat"
	@echo "make test   lint, validate the training data, train, run every test suite"
	@echo "make test-gateway  the gateway's tests only (no trained model needed)"
	@echo "make chat   chat in this terminal with the running assistant (after make run)"
	@echo "make bench  NLU accuracy, parse latency, training time and memory, side by side;"
	@echo "            gateway latency against Rasa; agent console latency under load"

setup: $(RASA_VENV)/.installed $(BOT_VENV)/.installed

$(RASA_VENV)/.installed: requirements/rasa.txt requirements/rasa-dev.txt requirements/rasa-constraints.txt
	@test -x $(RASA_PY) || "$$(scripts/find-python 3.10)" -m venv $(RASA_VENV)
	$(RASA_PY) -m pip install -q --upgrade 'pip<25' wheel
	$(RASA_PY) -m pip install -q -c requirements/rasa-constraints.txt -r requirements/rasa.txt -r requirements/rasa-dev.txt
	@touch $@

$(BOT_VENV)/.installed: bot/requirements.txt bot/requirements-dev.txt
	@test -x $(BOT_PY) || "$$(scripts/find-python 3.11+)" -m venv $(BOT_VENV)
	$(BOT_PY) -m pip install -q --upgrade pip
	$(BOT_PY) -m pip install -q -r bot/requirements.txt -r bot/requirements-dev.txt
	@touch $@

# Rasa skips the parts of training whose fingerprint did not change; a change to the
# custom components' code is not in that fingerprint, so it forces a full training.
$(MODEL): $(TRAINING_INPUTS) | $(RASA_VENV)/.installed
	$(RASA) train --fixed-model-name sp4all --out models \
		$(if $(filter khmer_nlu/%,$?),--force,)
	@rm -f models/ACTIVE  # a model trained from the repository's data replaces any activation
	@touch $@

train: $(MODEL)

run: setup $(MODEL)
	$(BOT_PY) scripts/supervise.py

chat: | $(BOT_VENV)/.installed
	$(BOT_PY) -m bot chat

lint: setup
	$(RASA_VENV)/bin/ruff check khmer_nlu actions tests/actions tests/khmer_nlu bench scripts kbprofile
	$(BOT_VENV)/bin/ruff check bot tests/bot tests/e2e tests/training kbprofile
	$(BOT_VENV)/bin/mypy

validate: | $(RASA_VENV)/.installed
	$(RASA) data validate --fail-on-warnings

test-actions: | $(RASA_VENV)/.installed
	$(RASA_PY) -m pytest tests/khmer_nlu tests/actions

test-stories: $(MODEL)
	$(RASA) test core --e2e --model $(MODEL) --stories tests/stories \
		--fail-on-prediction-errors --out results/stories

test-nlu: $(MODEL)
	$(RASA) test nlu --model $(MODEL) --nlu tests/nlu_heldout --out results/nlu --successes
	$(RASA_PY) scripts/check_nlu_report.py results/nlu
	$(RASA_PY) scripts/check_model_vocabulary.py $(MODEL)

# The gateway's own tests need no trained model (Rasa is faked on 127.0.0.1): they run
# before training, so a broken gateway fails in seconds instead of after a training run.
test-gateway: | $(BOT_VENV)/.installed
	$(BOT_PY) -m pytest tests/bot tests/training

test-e2e: | $(BOT_VENV)/.installed $(MODEL)
	$(BOT_PY) -m pytest tests/e2e

test-bot: test-gateway test-e2e

test: lint validate test-actions test-gateway $(MODEL) test-stories test-nlu test-e2e

bench: setup $(MODEL)
	$(RASA_PY) -m pip install -q -c requirements/rasa-constraints.txt -r requirements/bench.txt
	$(RASA_PY) bench/nlu_bench.py
	$(BOT_PY) bench/store_bench.py
	$(BOT_PY) bench/gateway_bench.py
	$(BOT_PY) bench/console_bench.py

clean:
	rm -rf results .rasa models/*.tar.gz
