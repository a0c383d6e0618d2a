# bulwark front door. Every target installs missing packages first (as root),
# then drives CMake + Ninja. See README.md.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-quick bench fuzz format check-src clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: $(BUILD)/build.ninja
	@ninja -C $(BUILD)

run: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) bulwark
	@scripts/run.sh $(BUILD)/bulwark

test: deps
	@scripts/test.sh

# Unit tests of the release build only: the inner loop while developing.
test-quick: build
	@cd $(BUILD) && ctest --output-on-failure -j2

bench: deps build
	@bench/run.sh $(BUILD)/bulwark

fuzz: deps
	@scripts/fuzz.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-60}

check-src:
	@scripts/check-src.sh

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
