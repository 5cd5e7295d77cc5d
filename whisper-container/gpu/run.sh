#!/usr/bin/env bash
# The GPU run: builds whisper.cpp with CUDA from the source npm ships, then runs the real worker end to end on the
# 10-minute clip and the fifty 5 s notes and bare whisper-cli on the clip, printing real-time factor and WER beside
# the CPU figures. Everything it needs travels in whisper-container/gpu/payload (made by pack.ts, under 64 MiB);
# the GPU machine needs only CUDA's compiler, cmake, ninja or make, xz and tar.
#
#   whisper-container/gpu/run.sh                 on the GPU machine, from the repository root
#   CUDA=0 PREBUILT=build/whisper.cpp/bin whisper-container/gpu/run.sh      the same steps on a CPU, with a CPU build
#
# Environment: CUDA_ARCH (90), GPU_ENGINES (1), GPU_THREADS (8), WORK (/tmp/gpu-run), JOBS (cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
payload=whisper-container/gpu/payload
work=${WORK:-/tmp/gpu-run}
jobs=${JOBS:-$(nproc)}
[ -f "$payload/sets.json" ] || { echo "run.sh: $payload is missing; make it with: npx tsx whisper-container/gpu/pack.ts" >&2; exit 1; }
mkdir -p "$work"
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

t=$(now)
xz -dc "$payload/node.xz" > "$work/node" && chmod +x "$work/node"
xz -dc "$payload/ffmpeg.xz" > "$work/ffmpeg" && chmod +x "$work/ffmpeg"
xz -dc "$payload/model.xz" > "$work/ggml-tiny.en.bin"
echo "$(cat "$payload/model.sha256")  $work/ggml-tiny.en.bin" | sha256sum -c --quiet -
rm -rf "$work/src" && mkdir -p "$work/src" && tar -xJf "$payload/whisper.cpp.tar.xz" -C "$work/src"
echo "unpacked in $(took "$t"): node $("$work/node" --version), $("$work/ffmpeg" -version | head -1 | cut -d' ' -f1-3)"

if [ -n "${PREBUILT:-}" ]; then
  bin=$(cd "$PREBUILT" && pwd)
  echo "engine: prebuilt $bin"
else
  t=$(now)
  generator=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
  cuda_flags=(-DGGML_CUDA=OFF)
  [ "${CUDA:-1}" = 1 ] && cuda_flags=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-90}")
  # The same options scripts/build-whisper.ts uses, with CUDA for this GPU only: the build is most of the run.
  cmake -S "$work/src/whisper.cpp" -B "$work/build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_EXAMPLES=ON -DWHISPER_BUILD_SERVER=ON -DWHISPER_SDL2=OFF -DWHISPER_CURL=OFF \
    "${cuda_flags[@]}" > "$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
  cmake --build "$work/build" -j "$jobs" --target whisper-cli whisper-server > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
  bin="$work/build/bin"
  echo "engine: whisper.cpp built in $(took "$t") (CUDA ${CUDA:-1}, arch ${CUDA_ARCH:-90}, $jobs jobs)"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

rm -rf "$work/data" && "$work/node" "$payload/measure.mjs" "$payload" "$work" "$bin" "$work/ggml-tiny.en.bin"
