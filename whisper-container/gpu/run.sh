#!/usr/bin/env bash
# The GPU run: builds whisper.cpp with CUDA from the source npm ships, then runs the real worker end to end on the
# 10-minute clip and the fifty 5 s notes, and bare whisper-cli on the clip, printing real-time factor and WER beside
# the CPU figures. What it needs is made here by `npx tsx whisper-container/gpu/pack.ts`, in two parts, because
# together they exceed the 64 MiB one call to the GPU machine carries:
#
#   payload/a  model + whisper.cpp source   -> unpacks and builds into $WORK (kept while the machine stays up)
#   payload/b  node, ffmpeg, worker, audio  -> writes a model with large-v3-turbo's shapes (random weights, 1.6 GB)
#                                              and runs the measurement with the build in $WORK
#
# The script does whichever parts it finds, in that order: carry payload/a in one call and payload/b in the next
# (or both where nothing limits what travels). The GPU machine needs only CUDA's compiler, cmake, make or ninja,
# xz and tar.
#
#   whisper-container/gpu/run.sh                                      from the repository root, on the GPU machine
#   CUDA=0 PREBUILT=build/whisper.cpp/bin whisper-container/gpu/run.sh   the same steps on a CPU (tests the script)
#
# Environment: CUDA_ARCH (90), GPU_ENGINES (1), GPU_THREADS (8), WORK (/tmp/gpu-run), JOBS (all cores), TURBO (1; 0
# skips the large-v3-turbo shapes; `tiny` writes tiny's shapes instead, to try the steps on a CPU), GPU_MPS (1: the
# turbo sweep again under CUDA MPS where nvidia-cuda-mps-control is found, with GPU_MPS_ENGINES: `4 8`), and measure.ts's GPU_SETS,
# GPU_TURBO_ENGINES and GPU_CLI_PARALLEL.
set -euo pipefail
cd "$(dirname "$0")/../.."
payload=whisper-container/gpu/payload
work=${WORK:-/tmp/gpu-run}
jobs=${JOBS:-$(nproc)}
mkdir -p "$work"
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
# A CUDA installed from pip wheels (as PyTorch's) keeps cuBLAS apart from nvcc, versioned only (libcublas.so.13):
# CMake's FindCUDAToolkit then finds no CUDA::cublas. Name the libraries and headers found, where the toolkit lacks them.
cublas_flags() {
  local nvcc_root lib inc flags
  nvcc_root=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
  ls "$nvcc_root"/lib*/libcublas.so "$nvcc_root"/targets/*/lib/libcublas.so >/dev/null 2>&1 && return 0
  lib=$(find /usr/local /usr/lib /opt -name 'libcublas.so*' 2>/dev/null | sort | head -1)
  inc=$(find /usr/local /usr/include /opt -name cublas_v2.h 2>/dev/null | head -1)
  [ -n "$lib" ] && [ -n "$inc" ] || return 0
  flags="-DCUDA_cublas_LIBRARY=$lib -DCUDA_cublasLt_LIBRARY=$(ls "$(dirname "$lib")"/libcublasLt.so* | head -1)"
  flags+=" -DCMAKE_CUDA_FLAGS=-I$(dirname "$inc") -DCMAKE_CXX_FLAGS=-I$(dirname "$inc")"
  echo "cuBLAS outside the toolkit: $flags" >&2
  echo "$flags"
}
[ -d "$payload/a" ] || [ -d "$payload/b" ] || { echo "run.sh: no $payload/a or /b; make them with: npx tsx whisper-container/gpu/pack.ts" >&2; exit 1; }

if [ -d "$payload/a" ]; then
  t=$(now)
  xz -dc "$payload/a/model.xz" > "$work/ggml-tiny.en.bin"
  echo "$(cat "$payload/a/model.sha256")  $work/ggml-tiny.en.bin" | sha256sum -c --quiet -
  rm -rf "$work/src" && mkdir -p "$work/src" && tar -xJf "$payload/a/whisper.cpp.tar.xz" -C "$work/src"
  # pack.ts leaves the bindings out, but CMakeLists.txt configures this one file from them.
  mkdir -p "$work/src/whisper.cpp/bindings/javascript" && echo '{}' > "$work/src/whisper.cpp/bindings/javascript/package-tmpl.json"
  echo "model and source unpacked in $(took "$t")"
  if [ -z "${PREBUILT:-}" ]; then
    t=$(now)
    generator=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
    cuda_flags=(-DGGML_CUDA=OFF)
    [ "${CUDA:-1}" = 1 ] && cuda_flags=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-90}" $(cublas_flags))
    # scripts/build-whisper.ts's options, with CUDA for this GPU only: the build is most of the run.
    cmake -S "$work/src/whisper.cpp" -B "$work/build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
      -DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_EXAMPLES=ON -DWHISPER_BUILD_SERVER=ON -DWHISPER_SDL2=OFF -DWHISPER_CURL=OFF -DGGML_LLAMAFILE=ON \
      "${cuda_flags[@]}" > "$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
    cmake --build "$work/build" -j "$jobs" --target whisper-cli whisper-server > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
    echo "whisper.cpp built in $(took "$t") (CUDA ${CUDA:-1}, arch ${CUDA_ARCH:-90}, $jobs jobs)"
  fi
fi

if [ -d "$payload/b" ]; then
  bin=${PREBUILT:-$work/build/bin}
  # The engines load cuBLAS at start: where it lies outside the toolkit (see cublas_flags), tell the loader.
  cublas=$(find /usr/local /usr/lib /opt -name 'libcublas.so*' 2>/dev/null | sort | head -1)
  [ -z "$cublas" ] || export LD_LIBRARY_PATH="$(dirname "$cublas")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  bin=$(cd "$bin" 2>/dev/null && pwd) || { echo "run.sh: no engine build in $work: run with payload/a first" >&2; exit 1; }
  [ -f "$work/ggml-tiny.en.bin" ] || { echo "run.sh: no model in $work: run with payload/a first" >&2; exit 1; }
  t=$(now)
  xz -dc "$payload/b/node.xz" > "$work/node" && chmod +x "$work/node"
  xz -dc "$payload/b/ffmpeg.xz" > "$work/ffmpeg" && chmod +x "$work/ffmpeg"
  echo "node $("$work/node" --version), $("$work/ffmpeg" -version | head -1 | cut -d' ' -f1-3), unpacked in $(took "$t"); engine $bin"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  rm -rf "$work/data"
  turbo=()
  if [ "${TURBO:-1}" != 0 ]; then
    t=$(now)
    shape=${TURBO:-1}
    [ "$shape" = tiny ] || shape=
    "$work/node" "$payload/b/turbo-shapes.mjs" "$work/ggml-tiny.en.bin" "$work/ggml-turbo-shapes.bin" $shape
    echo "model with large-v3-turbo shapes written in $(took "$t")"
    turbo=("$work/ggml-turbo-shapes.bin")
  fi
  "$work/node" "$payload/b/measure.mjs" "$payload/b" "$work" "$bin" "$work/ggml-tiny.en.bin" "${turbo[@]}"
  # Under MPS the engines' kernels can run side by side instead of taking turns on the GPU.
  if [ ${#turbo[@]} -gt 0 ] && [ "${GPU_MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
    export CUDA_MPS_PIPE_DIRECTORY=$work/mps CUDA_MPS_LOG_DIRECTORY=$work/mps
    mkdir -p "$work/mps"
    if timeout 20 nvidia-cuda-mps-control -d; then
      echo "under CUDA MPS:"
      GPU_SETS=none GPU_TURBO_ENGINES="${GPU_MPS_ENGINES:-4 8}" GPU_CLI_PARALLEL=4 timeout 150 \
        "$work/node" "$payload/b/measure.mjs" "$payload/b" "$work" "$bin" "$work/ggml-tiny.en.bin" "${turbo[@]}" || echo "MPS run failed"
      echo quit | timeout 20 nvidia-cuda-mps-control || true
    fi
  fi
fi
