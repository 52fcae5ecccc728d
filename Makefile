# A thin layer over `python -m tfgan_cifar.<command>`; every variable maps to one flag.
# Uses the active virtualenv if there is one, else ./.venv (created by `make install`).
VENV    ?= .venv
PYTHON  ?= $(if $(VIRTUAL_ENV),python,$(VENV)/bin/python)
MODEL   ?= dcgan
DATASET ?=
DATA_DIR ?=
EPOCHS  ?=
BATCH   ?=
STEPS   ?=
RUN     ?=
RESUME  ?=
N       ?=
OUT     ?= samples/$(MODEL).png
LABELS  ?=
LABEL   ?=
SKETCH  ?=
REPEATS ?=
ARGS    ?=

flag = $(if $(2),--$(1)=$(2))

.PHONY: install demo train export sample eval tensorboard test bench bench-quality evaluator report sweep bench-quality-cifar clean

install:
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x $(VENV)/bin/python ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -m pip install --upgrade pip >/dev/null
	$(PYTHON) -m pip install -e '.[dev]'

# The offline main job: a few CPU minutes of DCGAN on the built-in `shapes` data, export, sample.
demo:
	$(PYTHON) -m tfgan_cifar.train --model=dcgan --preset=cpu_fast --dataset=shapes --epochs=$(or $(EPOCHS),4) $(ARGS)
	$(PYTHON) -m tfgan_cifar.sample --model_dir=models/dcgan --n=64 --out=samples/demo.png
	@echo "demo done: sample grid samples/demo.png, SavedModel models/dcgan/, TensorBoard logs runs/dcgan/ (make tensorboard)"

train:
	$(PYTHON) -m tfgan_cifar.train --model=$(MODEL) $(call flag,dataset,$(DATASET)) $(call flag,data_dir,$(DATA_DIR)) \
		$(call flag,epochs,$(EPOCHS)) $(call flag,batch_size,$(BATCH)) $(call flag,steps_per_epoch,$(STEPS)) \
		$(call flag,run_dir,$(RUN)) $(if $(RESUME),--resume) $(ARGS)

# Export a run's newest checkpoint (default: the newest run of MODEL).
export:
	$(PYTHON) -m tfgan_cifar.export --run_dir=$(or $(RUN),$(lastword $(sort $(wildcard runs/$(MODEL)/*)))) $(ARGS)

sample:
	$(PYTHON) -m tfgan_cifar.sample --model_dir=models/$(MODEL) --n=$(or $(N),64) --out=$(OUT) \
		$(call flag,labels,$(or $(LABELS),$(LABEL))) $(call flag,sketch,$(SKETCH)) $(ARGS)

FEATURES ?= evaluator
eval:
	$(PYTHON) -m tfgan_cifar.evaluate --model_dir=models/$(MODEL) --n=$(or $(N),10000) --features=$(FEATURES) \
		$(call flag,dataset,$(DATASET)) $(call flag,data_dir,$(DATA_DIR)) $(ARGS)

# One static page comparing every exported model: report/index.html.
report:
	$(PYTHON) -m tfgan_cifar.report $(ARGS)

tensorboard:
	$(PYTHON) -m tensorboard.main --logdir runs

# Two worker processes (pytest-xdist): most tests are CPU-bound TF work or subprocess start-ups.
test:
	$(PYTHON) -m pytest -q -n 2

bench:
	$(PYTHON) -m tfgan_cifar.bench $(ARGS)

clean:
	rm -rf runs samples report .pytest_cache

evaluator:
	$(PYTHON) -m tfgan_cifar.evaluator $(call flag,dataset,$(DATASET)) $(call flag,data_dir,$(DATA_DIR)) \
		$(call flag,epochs,$(EPOCHS)) $(ARGS)

BUDGET ?= 120
GRID    ?=
# Every combination of GRID for BUDGET seconds each, evaluated and ranked by FID (resumable).
sweep:
	$(PYTHON) -m tfgan_cifar.sweep --model=$(MODEL) --grid='$(GRID)' --budget=$(BUDGET) $(call flag,dataset,$(DATASET)) \
		$(call flag,data_dir,$(DATA_DIR)) $(ARGS)

# Plain hand-written DCGAN vs tfgan_cifar's CPU recipe, same wall-clock budget (default 600 s) on CIFAR-10.
bench-quality-cifar:
	$(PYTHON) -m tfgan_cifar.bench_quality_cifar --data_dir=$(or $(DATA_DIR),data) \
		--budget=$(if $(filter command line environment,$(origin BUDGET)),$(BUDGET),600) $(call flag,repeats,$(REPEATS)) $(ARGS)

bench-quality:
	$(PYTHON) -m tfgan_cifar.bench_quality --model=$(MODEL) --budget=$(BUDGET) $(ARGS)
