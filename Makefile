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
PER_SKETCH ?=
REPEATS ?=
MODELS  ?=
WORK_DIR ?=
ARGS    ?=

flag = $(if $(2),--$(1)=$(2))

help:                 ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1|/' | column -t -s '|'


.PHONY: help install demo train export sample eval serve tensorboard tensorboard-shot test bench bench-quality evaluator floors docs report sweep bench-quality-cifar zoo levers clean

install:              ## create .venv (or use the active venv) and install the project with its test tools
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x $(VENV)/bin/python ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -m pip install --upgrade pip >/dev/null
	$(PYTHON) -m pip install -e '.[dev]'

# The offline main job: a class-conditional GAN learns the built-in `shapes` data in a few CPU minutes, then
# its export draws one row per shape, scored by the shapes evaluator next to real images.
demo:                 ## the offline main job: a few CPU minutes of acgan on the built-in shapes data, export, grid, scores
	$(PYTHON) -m tfgan_cifar.demo $(call flag,epochs,$(EPOCHS)) $(ARGS)

train:                ## train MODEL (DATASET DATA_DIR EPOCHS BATCH STEPS RUN RESUME=1 ARGS=...)
	$(PYTHON) -m tfgan_cifar.train --model=$(MODEL) $(call flag,dataset,$(DATASET)) $(call flag,data_dir,$(DATA_DIR)) \
		$(call flag,epochs,$(EPOCHS)) $(call flag,batch_size,$(BATCH)) $(call flag,steps_per_epoch,$(STEPS)) \
		$(call flag,run_dir,$(RUN)) $(if $(RESUME),--resume) $(ARGS)

# Export a run's newest checkpoint (default: the newest run of MODEL).
export:               ## export a run's newest checkpoint to models/MODEL (RUN, default the newest run of MODEL)
	$(PYTHON) -m tfgan_cifar.export --run_dir=$(or $(RUN),$(lastword $(sort $(wildcard runs/$(MODEL)/*)))) $(ARGS)

sample:               ## sample models/MODEL to OUT (N, LABELS=cat,ship or ids, SKETCH [PER_SKETCH] for sketch2img)
	$(PYTHON) -m tfgan_cifar.sample --model_dir=models/$(MODEL) --n=$(or $(N),64) --out=$(OUT) \
		$(call flag,labels,$(or $(LABELS),$(LABEL))) $(call flag,sketch,$(SKETCH)) \
		$(call flag,per_sketch,$(PER_SKETCH)) $(ARGS)

FEATURES ?= evaluator
eval:                 ## FID/IS/KID/precision/recall/class accuracy of models/MODEL at N samples, next to the real floor
	$(PYTHON) -m tfgan_cifar.evaluate --model_dir=models/$(MODEL) --n=$(or $(N),10000) --features=$(FEATURES) \
		$(call flag,dataset,$(DATASET)) $(call flag,data_dir,$(DATA_DIR)) $(ARGS)

docs:                 ## rewrite every generated block of README.md and docs/*.md (variant and results tables)
	$(PYTHON) -m tfgan_cifar.tools.docs $(ARGS)

# One static page comparing every exported model: report/index.html.
report:               ## one static HTML page comparing every exported model: report/index.html
	$(PYTHON) -m tfgan_cifar.tools.report $(ARGS)

MODELS_DIR ?= models
PORT       ?= 8501
serve:                ## serve every export under MODELS_DIR: TF Serving's REST API and a page at http://127.0.0.1:PORT/
	$(PYTHON) -m tfgan_cifar.serve --models_dir=$(MODELS_DIR) --port=$(PORT) $(ARGS)

tensorboard:          ## TensorBoard on runs/
	$(PYTHON) -m tensorboard.main --logdir runs

tensorboard-shot:     ## tensorboard.png: a run's TensorBoard charts (RUN, default the newest run of MODEL; ARGS=--out=...)
	$(PYTHON) -m tfgan_cifar.tools.tensorboard_shot --run_dir=$(or $(RUN),$(lastword $(sort $(wildcard runs/$(MODEL)/*)))) $(ARGS)

# Two worker processes (pytest-xdist): most tests are CPU-bound TF work or subprocess start-ups; a module marked
# xdist_group runs on one worker, so its module fixture (a trained run, an export) is built once.
test:                 ## the test suite (pytest, two workers)
	$(PYTHON) -m pytest -q -n 2 --dist loadgroup --durations=10

bench:                ## throughput: fit vs a hand loop, every variant, precision x XLA, spectral norm
	$(PYTHON) -m tfgan_cifar.tools.bench $(ARGS)

clean:                ## remove runs/, samples/, report/
	rm -rf runs samples report .pytest_cache

evaluator:            ## train the evaluator classifier that FID/IS/KID use offline (DATASET DATA_DIR EPOCHS)
	$(PYTHON) -m tfgan_cifar.train_evaluator $(call flag,dataset,$(DATASET)) $(call flag,data_dir,$(DATA_DIR)) \
		$(call flag,evaluator_epochs,$(EPOCHS)) $(if $(filter cifar10,$(DATASET)),--record=docs/results/evaluator.json) $(ARGS)

floors:               ## every judge on real held-out images and damaged copies of them (DATASET DATA_DIR N)
	$(PYTHON) -m tfgan_cifar.tools.floors $(call flag,dataset,$(DATASET)) $(call flag,data_dir,$(DATA_DIR)) \
		$(call flag,n,$(N)) $(ARGS)

BUDGET ?= 120
GRID    ?=
# Every combination of GRID for BUDGET seconds each, evaluated and ranked by FID (resumable).
sweep:                ## a hyper-parameter GRID for BUDGET seconds each, ranked by FID (resumable)
	$(PYTHON) -m tfgan_cifar.tools.sweep --model=$(MODEL) --grid='$(GRID)' --budget=$(BUDGET) $(call flag,dataset,$(DATASET)) \
		$(call flag,data_dir,$(DATA_DIR)) $(ARGS)

# Plain hand-written DCGAN vs tfgan_cifar's CPU recipe, same wall-clock budget (default 600 s) on CIFAR-10.
bench-quality-cifar:  ## hand-written DCGAN vs dcgan --preset=cpu_fast at equal wall-clock on CIFAR-10
	$(PYTHON) -m tfgan_cifar.tools.bench_quality_cifar --data_dir=$(or $(DATA_DIR),data) \
		--budget=$(if $(filter command line environment,$(origin BUDGET)),$(BUDGET),600) $(call flag,repeats,$(REPEATS)) $(ARGS)

# Every variant, the same wall-clock budget each (default 30 min), evaluated; resumable; docs/results/zoo.json.
zoo:                  ## every variant on CIFAR-10 at one budget each, evaluated (DATA_DIR, DATASET, BUDGET, MODELS, N)
	$(PYTHON) -m tfgan_cifar.tools.zoo --data_dir=$(or $(DATA_DIR),data) --dataset=$(or $(DATASET),cifar10) \
		--budget=$(if $(filter command line environment,$(origin BUDGET)),$(BUDGET),1800) $(call flag,models,$(MODELS)) \
		$(call flag,n,$(N)) $(ARGS)

# One variant once per lever (each set of flags alone), evaluated; resumable; docs/results/<MODEL>_levers.json.
# Runs are kept under WORK_DIR by name: give a table of other epochs its own, or it retrains the same names.
levers:               ## one MODEL once per lever: LEVERS='baseline; class_fake_weight=0; preset=seed' [EPOCHS=10] (or BUDGET) [WORK_DIR]
	$(PYTHON) -m tfgan_cifar.tools.zoo --data_dir=$(or $(DATA_DIR),data) --dataset=$(or $(DATASET),cifar10) \
		--models=$(MODEL) --levers="$(LEVERS)" \
		$(if $(filter command line environment,$(origin BUDGET)),--budget=$(BUDGET),--epochs=$(or $(EPOCHS),10)) \
		--out=$(if $(filter command line environment,$(origin OUT)),$(OUT),docs/results/$(MODEL)_levers.json) \
		--work_dir=$(or $(WORK_DIR),bench/levers/$(MODEL)) $(call flag,n,$(N)) $(ARGS)

bench-quality:        ## sample quality per CPU budget on shapes (MODEL or all, BUDGET)
	$(PYTHON) -m tfgan_cifar.tools.bench_quality --models=$(MODEL) --budget=$(BUDGET) $(ARGS)
