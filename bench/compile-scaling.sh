#!/usr/bin/env bash
# Compile-time scaling of #[pv_intrinsic].
#
#   bash bench/compile-scaling.sh [N...]        (default: 100 1000)
#
# For each N this generates, outside the source tree, in
# ${CARGO_TARGET_DIR:-<repo>/target}/compile-scaling/:
#
#   gen_macro_N  a library with N #[pv_intrinsic] declarations cycling through the four bindings
#                (i % 4) and five declaration shapes (i % 5, so every binding meets every shape
#                once N >= 20), with xen = native / nop / hypercall(sched_op, 1, 0), plus
#                `pub fn use_all(x: u64) -> u64` calling every declaration once so that every
#                call site's inline asm is instantiated;
#   gen_hand_N   the same code written without the macro: gen_macro_N's expansion
#                (-Zunpretty=expanded), made to compile on stable (fixes documented below), as
#                the lib.rs of a crate that depends on pv-runtime only.
#
# and measures
#
#   * a clean release build of each crate itself (its dependencies pre-built; `touch src/lib.rs`
#     then `cargo build --release`, incremental off): the wall time of the whole cargo command
#     (cargo's own start-up and fingerprint checks included), median of $REPS runs (default 3);
#   * the `expand_crate` pass of `-Z time-passes` on gen_macro_N (median of $REPS runs), per N
#     and per declaration, and the marginal cost of one declaration between the smallest and the
#     largest N: (expand_crate(N_max) - expand_crate(N_min)) / (N_max - N_min).
#
# Before timing the hand-written crate counts: both rlibs must have the same pv_sites, pv_repl
# and pv_intrinsics section sizes (the same sites, native copies and descriptors), and should have
# the same amount of code (.text*; a warning otherwise).
#
# It prints a Markdown table and a line describing the machine, and exits non-zero with a
# message on any failure. Builds use CARGO_BUILD_JOBS=2 and the toolchain pinned in
# rust-toolchain.toml (copied into each generated crate); the generated crates copy the repo's
# Cargo.lock so dependency versions are the project's. The generated crates share one target
# directory, <scratch>/target, so dependencies are built once; the two commands that need -Z
# flags (-Zunpretty=expanded, -Z time-passes) use <scratch>/target-unstable (see `unstable`).
# Full cargo/rustc output goes to <scratch>/logs/.
set -Eeuo pipefail
export LC_ALL=C # '.' as the decimal point, in $EPOCHREALTIME and awk alike

# die exits with 3; the ERR trap stays quiet for a status of 3 so that a die inside $(...) is
# reported once.
die() {
    printf 'compile-scaling: error: %s\n' "$*" >&2
    exit 3
}
on_err() {
    local rc=$?
    if ((rc == 3)); then exit 3; fi
    die "command failed (status $rc) at line $1: $BASH_COMMAND"
}
trap 'on_err $LINENO' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -f $ROOT/pv-macros/Cargo.toml && -f $ROOT/pv-runtime/Cargo.toml && -f $ROOT/rust-toolchain.toml ]] ||
    die "$ROOT does not look like the pv workspace (pv-macros, pv-runtime, rust-toolchain.toml)"

SCRATCH=${CARGO_TARGET_DIR:-$ROOT/target}/compile-scaling
REPS=${REPS:-3}
[[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 or later is needed (\$EPOCHREALTIME)"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, got '$REPS'"

if (($# == 0)); then set -- 100 1000; fi
for n in "$@"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$n'"
done
mapfile -t SIZES < <(printf '%s\n' "$@" | awk '!seen[$0]++') # each N once, in the order given
BOOTSTRAP_CRATES=$(printf 'gen_macro_%s\n' "${SIZES[@]}" | sort -n -t_ -k3 -u | paste -sd,)

for tool in cargo rustc rustup awk sed sort; do
    command -v "$tool" >/dev/null || die "'$tool' not found on PATH"
done

# Deterministic builds: the pinned toolchain (a RUSTUP_TOOLCHAIN override would bypass
# rust-toolchain.toml), no wrapper (sccache), no extra flags, no incremental compilation, two jobs.
unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTFLAGS CARGO_ENCODED_RUSTFLAGS \
    CARGO_BUILD_RUSTFLAGS RUSTC_BOOTSTRAP
export CARGO_BUILD_JOBS=2 CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR=$SCRATCH/target
LOGS=$SCRATCH/logs
mkdir -p "$SCRATCH" "$LOGS" || die "cannot create $SCRATCH"

# The toolchain the generated crates will get (they carry the same rust-toolchain.toml).
channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")
rustc_version=$(cd "$ROOT" && rustc --version) || die "rustc (toolchain $channel) does not run"
[[ $rustc_version == "rustc $channel "* ]] ||
    die "rust-toolchain.toml pins '$channel' but rustc is '$rustc_version'"

# run LOG DIR CMD...: run CMD in DIR (cwd matters: rustup reads rust-toolchain.toml from it),
# stdout and stderr appended to LOG; on failure show the end of LOG and stop.
run() {
    local log=$1 dir=$2
    shift 2
    printf '$ (cd %s && %s)\n' "$dir" "$*" >>"$log"
    if ! (cd "$dir" && "$@") >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "'$*' failed in $dir (full log: $log)"
    fi
}

# timed LOG DIR CMD...: like run, prints the wall time in seconds. Bash's $EPOCHREALTIME
# (microseconds) rather than the `time` keyword, whose report follows the timed command's own
# redirections.
timed() {
    local log=$1 dir=$2 t0 t1
    shift 2
    printf '$ (cd %s && %s)\n' "$dir" "$*" >>"$log"
    t0=$EPOCHREALTIME
    if ! (cd "$dir" && "$@") >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "'$*' failed in $dir (full log: $log)"
    fi
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# unstable DIR ARGS...: `cargo rustc --release --lib --quiet -- ARGS` with unstable -Z flags
# allowed for the generated macro crates only, in a target directory of its own. Why both:
#   * RUSTC_BOOTSTRAP=1 would also reach proc-macro2's build script, which then builds
#     proc-macro2 with its nightly `proc_macro_span` cfg: a different pv-macros than the one
#     timed. RUSTC_BOOTSTRAP=gen_macro_10,gen_macro_40,... (rustc takes a comma-separated list
#     of crate names) unlocks -Z for those crates alone; proc-macro2's probe (crate proc_macro2)
#     still fails, so its cfgs are the stable ones. The list is the same for every N of a run.
#   * A change of RUSTC_BOOTSTRAP reruns proc-macro2's build script (rerun-if-env-changed) and
#     rebuilds proc-macro2, quote, syn, darling and pv-macros; in a directory of their own these
#     rebuilds (once per run, in the first -Zunpretty command) never touch the artifacts the
#     timed builds use, and happen outside any measurement.
# stdout is rustc's, stderr cargo's and rustc's diagnostics (-Z time-passes writes there).
unstable() {
    local dir=$1
    shift
    (cd "$dir" && CARGO_TARGET_DIR=$SCRATCH/target-unstable RUSTC_BOOTSTRAP=$BOOTSTRAP_CRATES \
        cargo rustc --release --lib --quiet -- "$@")
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ---------------------------------------------------------------------------------------------
# Generation

write_crate_files() { # DIR NAME DEPS
    local dir=$1 name=$2 deps=$3
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<EOF
# Generated by bench/compile-scaling.sh; do not edit.
[package]
name = "$name"
version = "0.0.0"
edition = "2024"
publish = false

[lib]
path = "src/lib.rs"

[dependencies]
$deps

# Its own workspace, not a member of pv's.
[workspace]
EOF
    cp "$ROOT/rust-toolchain.toml" "$dir/rust-toolchain.toml"
    cp "$ROOT/Cargo.lock" "$dir/Cargo.lock" # pv's dependency versions; cargo prunes the rest
}

BINDINGS=(inline_patch direct_branch indirect_branch indirect_call)

# The declarations and use_all for N, on stdout. Declaration i has binding i % 4, shape i % 5.
gen_macro_src() {
    local n=$1 i b
    printf '//! Generated by bench/compile-scaling.sh: %d #[pv_intrinsic] declarations.\n' "$n"
    printf '#![allow(clippy::all)]\n\nuse pv_macros::pv_intrinsic;\n\n'
    for ((i = 0; i < n; i++)); do
        b=${BINDINGS[i % 4]}
        case $((i % 5)) in
        0) # one argument and a result in reg, run unchanged under Xen
            printf '#[pv_intrinsic(binding = %s, reg = "rax", native = "lea rax, [rax + 1]", xen = native)]\npub fn f_%d(x: u64) -> u64;\n\n' "$b" "$i" ;;
        1) # one argument, no result, a clobber; nothing under Xen
            printf '#[pv_intrinsic(binding = %s, reg = "rdi", clobber = [rax], native = "mov rax, rdi", xen = nop)]\npub fn f_%d(x: u64);\n\n' "$b" "$i" ;;
        2) # no register at all: arch given; a hypercall stub under Xen
            printf '#[pv_intrinsic(binding = %s, arch = x86_64, native = "pause", xen = hypercall(sched_op, 1, 0))]\npub fn f_%d();\n\n' "$b" "$i" ;;
        3) # two arguments in the pv order (rax, then rdi)
            printf '#[pv_intrinsic(binding = %s, reg = "rax", native = "add rax, rdi", xen = native)]\npub fn f_%d(x: u64, y: u64) -> u64;\n\n' "$b" "$i" ;;
        4) # a result only, with a clobber
            printf '#[pv_intrinsic(binding = %s, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]\npub fn f_%d() -> u64;\n\n' "$b" "$i" ;;
        esac
    done
    printf '/// One call site per declaration, so every site'"'"'s inline asm is instantiated.\n'
    printf '#[inline(never)]\npub fn use_all(mut x: u64) -> u64 {\n'
    for ((i = 0; i < n; i++)); do
        case $((i % 5)) in
        0) printf '    x = f_%d(x);\n' "$i" ;;
        1) printf '    f_%d(x);\n' "$i" ;;
        2) printf '    f_%d();\n' "$i" ;;
        3) printf '    x = f_%d(x, %d);\n' "$i" "$i" ;;
        4) printf '    x ^= f_%d();\n' "$i" ;;
        esac
    done
    printf '    x\n}\n'
}

# Make rustc's -Zunpretty=expanded output of gen_macro_N compile on stable, as the hand-written
# crate. The pretty-printer's output differs from what the macro generated in these ways, each
# undone here:
#   1. `#![feature(prelude_import)]` -> deleted: the pretty-printer adds it for its own
#      `#[prelude_import]`; stable rejects any #![feature].
#   2. `#[prelude_import]` and the `use std::prelude::rust_2024::*;` it marks -> deleted: an
#      unstable attribute, and the import duplicates the implicit prelude (stable warns it is
#      unused). `extern crate std;` is stable and stays.
#   3. `use pv_macros::pv_intrinsic;` -> deleted: the hand crate does not depend on pv-macros
#      (the attribute has been expanded away).
#   4. `asm!(` -> `::core::arch::asm!(` and, in the body of each `#[unsafe(naked)]` function,
#      `::core::arch::naked_asm!(`: the macro writes `::core::arch::asm!` and
#      `::core::arch::naked_asm!`, but rustc 1.95 prints both as a bare `asm!(`, which stable
#      does not resolve (not in the prelude) and which a naked function rejects. A naked
#      function's body is exactly one naked_asm!, so the first `asm!(` after each
#      `#[unsafe(naked)]` is that one; the count is checked.
# Anything else that keeps the expansion from compiling is reported by the build that follows.
fix_expanded() {
    sed -e '/^#!\[feature(prelude_import)\]$/d' \
        -e '/^#\[prelude_import\]$/d' \
        -e '/^use std::prelude::rust_2024::\*;$/d' \
        -e '/^use pv_macros::pv_intrinsic;$/d' |
        awk '
        /^[[:space:]]*#\[unsafe\(naked\)\][[:space:]]*$/ { pending++; attrs++ }
        {
            out = ""; line = $0
            # A bare asm!( : at the start of the line or after a character that cannot end a path.
            while (match(line, /(^|[^A-Za-z0-9_:])asm!\(/)) {
                pre = substr(line, 1, RSTART - 1)
                lead = substr(line, RSTART, RLENGTH - 5) # the character before "asm!(", if any
                if (pending > 0) { mac = "::core::arch::naked_asm!("; pending--; naked++ }
                else mac = "::core::arch::asm!("
                out = out pre lead mac
                line = substr(line, RSTART + RLENGTH)
            }
            print out line
        }
        END {
            if (pending != 0 || naked != attrs) {
                printf "fix_expanded: %d #[unsafe(naked)] functions but %d naked_asm! bodies\n", attrs, naked > "/dev/stderr"
                exit 1
            }
        }'
}

# ---------------------------------------------------------------------------------------------
# Measurements

# build_times DIR NAME LOG: pre-build, then REPS clean builds of the crate alone; prints the median.
build_times() {
    local dir=$1 name=$2 log=$3 r ts=()
    run "$log" "$dir" cargo build --release --lib
    local first
    first=$(($(wc -l <"$log") + 1))
    for ((r = 0; r < REPS; r++)); do
        touch "$dir/src/lib.rs"
        ts+=("$(timed "$log" "$dir" cargo build --release --lib)")
    done
    # The timed builds must each have compiled the crate, and nothing else.
    local counts
    counts=$(awk -v first="$first" -v name="$name" 'NR >= first && $1 == "Compiling" {
        if ($2 == name) self++; else other++ } END { print self + 0, other + 0 }' "$log")
    if [[ $counts != "$REPS 0" ]]; then
        die "the timed builds of $name did not compile exactly the crate $REPS times (see $log)"
    fi
    median "${ts[@]}"
}

# rlib DIR NAME LOG: the path of the crate's release rlib (built if not fresh; not timed).
rlib() {
    local dir=$1 name=$2 log=$3 out path
    out=$(cd "$dir" && cargo build --release --lib --message-format=json 2>>"$log") ||
        die "cargo build --message-format=json failed in $dir (see $log)"
    path=$(grep -oE "\"[^\"]*/lib${name}(-[0-9a-f]+)?\\.rlib\"" <<<"$out" | tail -n 1 | tr -d '"') || true
    [[ -n $path && -f $path ]] || die "cannot find the rlib of $name"
    printf '%s\n' "$path"
}

# sections RLIB: the summed sizes of pv's sections and of all code in the rlib's objects, one
# "name size" per line.
sections() {
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && ar x "$1") || die "ar x $1 failed"
    size -A "$tmp"/*.o | awk '
        $1 ~ /^pv_/ { s[$1] += $2 }
        $1 ~ /^\.text/ { s[".text*"] += $2 }
        END { for (k in s) print k, s[k] }' | sort
    rm -rf "$tmp"
}

# expand_ms DIR LOG: REPS runs of -Z time-passes on the crate; prints the median expand_crate in ms.
# rustc 1.95 prints one line per pass, e.g.
#   time:   0.042; rss:   62MB ->   98MB (  +36MB)	expand_crate
# (seconds first, the pass name last). expand_crate is the whole of macro expansion: every
# attribute proc-macro call, plus name resolution of what they produce.
expand_ms() {
    local dir=$1 log=$2 r out s ts=()
    for ((r = 0; r < REPS; r++)); do
        touch "$dir/src/lib.rs"
        printf '$ (cd %s && RUSTC_BOOTSTRAP=%s cargo rustc --release --lib --quiet -- -Z time-passes)\n' "$dir" "$BOOTSTRAP_CRATES" >>"$log"
        if ! out=$(unstable "$dir" -Z time-passes 2>&1); then
            printf '%s\n' "$out" >>"$log"
            tail -n 40 "$log" >&2
            die "-Z time-passes build failed in $dir (full log: $log)"
        fi
        printf '%s\n' "$out" >>"$log"
        s=$(printf '%s\n' "$out" | awk '$1 == "time:" && $NF == "expand_crate" { sub(/;$/, "", $2); print $2; n++ } END { if (n != 1) exit 1 }') ||
            die "expected exactly one 'time: ...; ... expand_crate' line in the -Z time-passes output (see $log); has the format changed?"
        ts+=("$(awk -v s="$s" 'BEGIN { printf "%.1f", s * 1000 }')")
    done
    median "${ts[@]}"
}

# ---------------------------------------------------------------------------------------------

declare -A MACRO_S HAND_S EXPAND_MS
for n in "${SIZES[@]}"; do
    mdir=$SCRATCH/gen_macro_$n hdir=$SCRATCH/gen_hand_$n
    mlog=$LOGS/gen_macro_$n.log hlog=$LOGS/gen_hand_$n.log
    : >"$mlog"
    : >"$hlog"
    printf 'compile-scaling: N = %d (logs in %s)\n' "$n" "$LOGS" >&2

    rm -rf "$mdir" "$hdir"
    write_crate_files "$mdir" "gen_macro_$n" \
        "pv-macros = { path = \"$ROOT/pv-macros\" }
pv-runtime = { path = \"$ROOT/pv-runtime\" }"
    gen_macro_src "$n" >"$mdir/src/lib.rs"

    MACRO_S[$n]=$(build_times "$mdir" "gen_macro_$n" "$mlog")

    # The hand-written crate: the release expansion (so cfg(debug_assertions) is resolved as in the
    # release builds timed here), fixed for stable.
    write_crate_files "$hdir" "gen_hand_$n" "pv-runtime = { path = \"$ROOT/pv-runtime\" }"
    touch "$mdir/src/lib.rs"
    printf '$ (cd %s && RUSTC_BOOTSTRAP=%s cargo rustc --release --lib --quiet -- -Zunpretty=expanded) > expanded.rs\n' "$mdir" "$BOOTSTRAP_CRATES" >>"$mlog"
    unstable "$mdir" -Zunpretty=expanded >"$mdir/expanded.rs" 2>>"$mlog" ||
        die "expanding gen_macro_$n failed (see $mlog)"
    grep -q '^pub fn use_all' "$mdir/expanded.rs" || die "the expansion of gen_macro_$n has no use_all (see $mdir/expanded.rs)"
    fix_expanded <"$mdir/expanded.rs" >"$hdir/src/lib.rs" || die "fixing the expansion of gen_macro_$n failed"
    if grep -Eq '^[[:space:]]*#!?\[(pv_intrinsic|feature|prelude_import)|^use pv_macros' "$hdir/src/lib.rs"; then
        die "gen_hand_$n still contains #[pv_intrinsic] or #![feature] after the fixes: $hdir/src/lib.rs"
    fi

    HAND_S[$n]=$(build_times "$hdir" "gen_hand_$n" "$hlog")

    # The hand-written crate must produce what the macro crate does: the same sites (pv_sites),
    # native copies (pv_repl), descriptors (pv_intrinsics) and amount of code.
    if command -v ar >/dev/null && command -v size >/dev/null; then
        mrlib=$(rlib "$mdir" "gen_macro_$n" "$mlog")
        hrlib=$(rlib "$hdir" "gen_hand_$n" "$hlog")
        msec=$(sections "$mrlib")
        hsec=$(sections "$hrlib")
        grep -q '^pv_sites ' <<<"$msec" || die "gen_macro_$n has no pv_sites section"
        diff=$(awk 'NR == FNR { m[$1] = $2; next } { h[$1] = $2 }
            END {
                for (k in m) if (m[k] != h[k]) printf "%s %s (macro) vs %s (hand); ", k, m[k], (k in h ? h[k] : "none")
                for (k in h) if (!(k in m)) printf "%s none (macro) vs %s (hand); ", k, h[k]
            }' <(echo "$msec") <(echo "$hsec"))
        if grep -q '^pv_' <<<"$diff"; then
            die "gen_macro_$n and gen_hand_$n differ: $diff"
        elif [[ -n $diff ]]; then
            printf 'compile-scaling: warning: gen_macro_%s and gen_hand_%s differ: %s\n' "$n" "$n" "$diff" >&2
        fi
    else
        printf 'compile-scaling: warning: ar or size (binutils) missing; the two crates are not compared\n' >&2
    fi

    EXPAND_MS[$n]=$(expand_ms "$mdir" "$mlog")
done

# ---------------------------------------------------------------------------------------------
# Report

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)

printf '| N | macro crate build (s) | hand-written build (s) | ratio | expand_crate (ms) | expansion per declaration (µs) |\n'
printf '|---:|---:|---:|---:|---:|---:|\n'
for n in "${SIZES[@]}"; do
    awk -v n="$n" -v m="${MACRO_S[$n]}" -v h="${HAND_S[$n]}" -v e="${EXPAND_MS[$n]}" 'BEGIN {
        printf "| %d | %.2f | %.2f | %s | %.1f | %.1f |\n", n, m, h, (h > 0 ? sprintf("%.2f", m / h) : "n/a"), e, e * 1000 / n
    }'
done

mapfile -t sorted < <(printf '%s\n' "${SIZES[@]}" | sort -n -u)
if ((${#sorted[@]} >= 2)); then
    lo=${sorted[0]} hi=${sorted[${#sorted[@]} - 1]}
    awk -v lo="$lo" -v hi="$hi" -v elo="${EXPAND_MS[$lo]}" -v ehi="${EXPAND_MS[$hi]}" 'BEGIN {
        printf "\nMarginal expansion per declaration: (expand_crate(%d) - expand_crate(%d)) / %d = %.1f µs\n",
            hi, lo, hi - lo, (ehi - elo) * 1000 / (hi - lo)
    }'
fi
printf '\nMachine: %s CPUs (nproc), %s; %s; %s; CARGO_BUILD_JOBS=2, median of %d runs\n' \
    "$(nproc)" "${cpu:-unknown CPU}" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$rustc_version" "$REPS"
