#!/usr/bin/env bash
# scripts/gpu-check.sh: the real-GPU figures of issue 30, measured in one run
# of at most about 8 minutes and printed as one table.
#
#   scripts/gpu-check.sh              # on a machine with a GPU (NVIDIA H100/H200...)
#   scripts/gpu-check.sh --lavapipe   # forces Mesa's software Vulkan driver: checks
#                                     # the script itself end to end on a CPU machine
#   scripts/gpu-check.sh --quick      # fewer frames and steps (a dry run)
#
# The app's frame time is measured in a window (`--bench`) on the display, or
# on a virtual one (xvfb-run) where there is none; films render off-screen.
# Each measurement has its own time limit; one that fails or runs out is
# reported as such and the rest go on. Builds `nnm` first (cargo, release)
# unless NNM names a binary. The compare view's `--tab terrain` is the height field.
set -uo pipefail

cd "$(dirname "$0")/.."
quick=0
for arg in "$@"; do
    case "$arg" in
        --lavapipe)
            icd=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -n 1)
            if [ -z "$icd" ]; then
                echo "gpu-check: --lavapipe needs Mesa's software Vulkan driver (apt-get install mesa-vulkan-drivers)" >&2
                exit 2
            fi
            export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd" WGPU_BACKEND=vulkan
            quick=1
            ;;
        --quick) quick=1 ;;
        *)
            echo "gpu-check: unknown option $arg (use --lavapipe or --quick)" >&2
            exit 2
            ;;
    esac
done

started=$(date +%s)
if [ -z "${NNM:-}" ]; then
    echo "building nnm (cargo build --release --bin nnm)..." >&2
    if ! cargo build --release --bin nnm >&2; then
        echo "gpu-check: building nnm failed" >&2
        exit 1
    fi
    NNM="${CARGO_TARGET_DIR:-target}/release/nnm"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/nnm-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
films=0
# winit and wgpu want a runtime folder even off-screen.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR="$work/xdg"
    mkdir -m 700 "$XDG_RUNTIME_DIR"
fi

# The sweeps: the CPU trains the fractal's 64² window, the GPU the 256² map;
# with --quick both train an 8² window (a software GPU takes minutes for more).
if [ "$quick" = 1 ]; then
    film_frames=6 window_frames=40 train_steps=300
    sed -e 's/Log(10.0, 100000.0, 64)/Log(10.0, 100000.0, 8)/' \
        -e 's/Log(40.0, 400.0, 64)/Log(40.0, 400.0, 8)/' \
        -e 's/chunk: 512/chunk: 64/' \
        scenes/sweeps/trainability-fractal-quick.ron >"$work/fractal-8.ron"
    cpu_sweep="$work/fractal-8.ron" cpu_models=64 gpu_sweep="$work/fractal-8.ron" gpu_models=64
else
    film_frames=60 window_frames=600 train_steps=3000
    cpu_sweep=trainability-fractal-quick cpu_models=4096
    gpu_sweep=trainability-fractal gpu_models=65536
fi

rows=()
# Adds a row: what, measured, goal.
row() { rows+=("$1|$2|$3"); }

# Runs `nnm ARGS...` under a time limit of $1 seconds, its output in $work/log;
# prints nothing, returns its status.
run() {
    local limit=$1
    shift
    timeout "$limit" "$NNM" "$@" >"$work/log" 2>&1
}

# Why the last run failed, in one line.
failure() {
    local status=$1
    if [ "$status" = 124 ]; then
        echo "ran out of time"
    else
        echo "failed ($status): $(grep -v '^\s*$' "$work/log" | tail -n 1 | cut -c1-80)"
    fi
}

# Seconds per frame of a film: `film NAME GOAL ARGS...`.
film() {
    local name=$1 goal=$2
    shift 2
    films=$((films + 1))
    run 150 capture "$@" --size 1920x1080 --frames "$film_frames" --out "$work/film-$films"
    local status=$?
    if [ "$status" = 0 ]; then
        local spf
        spf=$(sed -n 's/.* \([0-9.]*\) s per frame.*/\1/p' "$work/log" | tail -n 1)
        row "$name" "$(awk -v s="$spf" 'BEGIN { printf "%.1f ms a frame (%.1f FPS)", s * 1000, 1 / s }')" "$goal"
        sed -n 's/.* on \(.*\)$/\1/p' "$work/log" | tail -n 1 >"$work/adapter"
    else
        row "$name" "$(failure $status)" "$goal"
    fi
}

# Wall seconds of `nnm ARGS...` (limit $1), or the failure.
timed() {
    local limit=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    run "$limit" "$@"
    local status=$?
    t1=$(date +%s.%N)
    if [ "$status" = 0 ]; then
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
    else
        failure $status
        return 1
    fi
}

# The app's own frames at 1920x1080, in a window on a virtual display
# (Xvfb), where there is one: `--bench` prints the frame-time statistics.
window() {
    local name=$1 goal=$2
    shift 2
    if ! command -v xvfb-run >/dev/null && [ -z "${DISPLAY:-}" ]; then
        row "$name" "no display and no xvfb-run (apt-get install xvfb xauth)" "$goal"
        return
    fi
    local launch=()
    [ -z "${DISPLAY:-}" ] && launch=(xvfb-run -a -s "-screen 0 1920x1080x24")
    timeout 150 "${launch[@]}" "$NNM" "$@" --window 1920x1080 --frames "$window_frames" --bench >"$work/log" 2>&1
    local status=$?
    local p50
    p50=$(sed -n 's/^frame_ms: .*p50=\([0-9.]*\).*/\1/p' "$work/log" | tail -n 1)
    if [ "$status" = 0 ] && [ -n "$p50" ]; then
        row "$name" "$(awk -v m="$p50" 'BEGIN { printf "%.1f ms a frame p50 (%.0f FPS)", m, 1000 / m }')" "$goal"
    else
        row "$name" "$(failure $status)" "$goal"
    fi
}

# The browser's height field needs a sweep: a small one, on the CPU.
run 150 sweep trainability-fractal-quick --device cpu --out "$work/sweep"
swept=$?
window "app frame, default" "" view default --no-record
window "app frame, mnist" "≥ 120 FPS" view mnist --no-record
if [ "$swept" = 0 ]; then
    window "app frame, browser height field" "" compare "$work/sweep" --tab terrain
else
    row "app frame, browser height field" "the sweep it shows $(failure $swept)" ""
fi

# Off-screen films at 1920x1080: training, drawing, reading back and
# writing each frame as PNG.
film "film, mnist with the panels" "" mnist --panels --no-record
film "exhibition film" "≥ 10 frames/s" exhibition --no-record
if [ "$swept" = 0 ]; then
    film "film of the browser height field" "" "$work/sweep" --tab terrain
fi

# Training: MNIST end to end, CPU against wgpu.
for device in cpu wgpu; do
    if seconds=$(timed 120 train mnist --steps "$train_steps" --device "$device" --out "$work/runs-$device"); then
        row "nnm train mnist, $device" "$(awk -v s="$seconds" -v n="$train_steps" 'BEGIN { printf "%.0f steps/s (%d steps, %.1f s, recording)", n / s, n, s }')" ""
    else
        row "nnm train mnist, $device" "$seconds" ""
    fi
done

# Sweeps: the trainability fractal, compared per model-step.
sweep_row() {
    local device=$1 spec=$2 models=$3 goal=$4 seconds
    local name="nnm sweep $(basename "$spec" .ron) ($models models × 500 steps), $device"
    if seconds=$(timed 200 sweep "$spec" --device "$device" --out "$work/sweep-$device"); then
        row "$name" "$(awk -v s="$seconds" -v n="$models" 'BEGIN { printf "%.1f s, %.0f model-steps/s", s, n * 500 / s }')" "$goal"
    else
        row "$name" "$seconds" "$goal"
    fi
}
sweep_row cpu "$cpu_sweep" "$cpu_models" ""
goal=""
[ "$gpu_models" = 65536 ] && goal="< 10 s"
sweep_row wgpu "$gpu_sweep" "$gpu_models" "$goal"

adapter=$(cat "$work/adapter" 2>/dev/null)
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
echo
echo "NN Microscope GPU check, $(date -u +%Y-%m-%d), $(( $(date +%s) - started )) s"
echo "adapter: ${adapter:-unknown}${gpu:+; nvidia-smi: $gpu}; CPU: $(nproc) cores"
echo
printf '| %s | %s | %s |\n' "what" "measured" "goal on a GPU"
printf '|---|---|---|\n'
for r in "${rows[@]}"; do
    IFS='|' read -r what measured goal <<<"$r"
    printf '| %s | %s | %s |\n' "$what" "$measured" "$goal"
done
