#!/usr/bin/env bash
# Every function of a use case invoked with each of its event files (events/<use-case>/*.json).
# With a container engine (Docker or Finch): `sam build`, then `sam local invoke` of each event
# against `python -m sandbox serve` (moto's server + the ONTAP simulator). Without one: the same
# events, run in the offline sandbox instead. Exits non-zero when any invocation fails.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/local-test.sh [use-case|all] [--events DIR] [--engine auto|docker|finch|none]

  use-case|all    a use-case folder (e.g. legal-compliance), or every use case (default: all)
  --events DIR    folder of event files, one sub-folder per use case (default: events)
  --engine E      container engine; auto detects Docker, then Finch; none forces the sandbox
  -h, --help      this help
USAGE
}

die() { printf 'local-test: %s\n' "$*" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target="all"
events_dir="$root/events"
engine="auto"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --events) [[ $# -ge 2 ]] || die "--events needs a folder"; events_dir=$(cd "$2" && pwd); shift 2 ;;
    --engine) [[ $# -ge 2 ]] || die "--engine needs a value"; engine="$2"; shift 2 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) target="$1"; shift ;;
  esac
done

python="$root/.venv/bin/python"
[[ -x "$python" ]] || python=$(command -v python3) || die "no python3 (run make setup)"
sam="$root/.venv-sam/bin/sam"
[[ -x "$sam" ]] || sam=$(command -v sam || true)

if [[ "$target" == "all" ]]; then
  mapfile -t use_cases < <(cd "$root" && "$python" -c 'from sandbox.scenarios import use_cases; print(*use_cases(), sep="\n")')
else
  [[ -f "$root/$target/template.yaml" ]] || die "no use case $target (no $target/template.yaml)"
  use_cases=("$target")
fi

case "$engine" in
  auto)
    engine="none"
    if docker info >/dev/null 2>&1; then engine="docker"
    elif finch info >/dev/null 2>&1; then engine="finch"; fi ;;
  docker|finch|none) ;;
  *) die "--engine is auto, docker, finch or none" ;;
esac
if [[ "$engine" != "none" && -z "$sam" ]]; then
  die "$engine is available but the SAM CLI is not (run make build once, or install aws-sam-cli)"
fi
if [[ "$engine" == "none" ]]; then
  echo "local-test: no container engine (Docker or Finch) answers, so sam local invoke cannot run here;"
  echo "            running the same events in the offline sandbox instead (python -m sandbox invoke)."
fi

# Event file → function logical id: extract_metadata-corrupt.json → ExtractMetadataFunction.
function_for() {
  local stem parts part name=""
  stem=$(basename "$1" .json)
  IFS=_ read -r -a parts <<<"${stem%%-*}"
  for part in "${parts[@]}"; do name+="${part^}"; done
  printf '%sFunction' "$name"
}

passed=0
failed=0
results=()
for use_case in "${use_cases[@]}"; do
  mapfile -t event_files < <(find "$events_dir/$use_case" -maxdepth 1 -name '*.json' 2>/dev/null | sort)
  if [[ ${#event_files[@]} -eq 0 ]]; then
    results+=("$use_case|-|no event files")
    failed=$((failed + 1))
    continue
  fi
  if [[ "$engine" == "none" ]]; then
    # One sandbox world per use case serves all of its events.
    if output=$(cd "$root" && "$python" -m sandbox invoke "$use_case" "${event_files[@]}" 2>&1); then
      results+=("$use_case|${#event_files[@]} event files|ok"); passed=$((passed + ${#event_files[@]}))
    else
      printf '%s\n' "$output" >&2
      results+=("$use_case|${#event_files[@]} event files|FAILED (python -m sandbox invoke, output above)")
      failed=$((failed + 1))
    fi
    continue
  fi
  (cd "$root/$use_case" && "$sam" build --parallel >/dev/null)
  env_dir=$(mktemp -d)
  (cd "$root" && exec "$python" -m sandbox serve "$use_case" --port 0 --env-dir "$env_dir") >/dev/null &
  serve_pid=$!
  for _ in $(seq 1 120); do [[ -f "$env_dir/ready" ]] && break; sleep 0.5; done
  [[ -f "$env_dir/ready" ]] || { kill "$serve_pid"; die "python -m sandbox serve $use_case did not start"; }
  for event in "${event_files[@]}"; do
    function=$(function_for "$event")
    if (cd "$root/$use_case" && "$sam" local invoke "$function" --event "$event" \
          --env-vars "$env_dir/$use_case/env.json" --docker-network host >/dev/null); then
      results+=("$use_case|$(basename "$event")|ok"); passed=$((passed + 1))
    else
      results+=("$use_case|$(basename "$event")|FAILED (sam local invoke $function)"); failed=$((failed + 1))
    fi
  done
  kill "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  rm -rf "$env_dir"
done

printf '%-24s %-40s %s\n' USE-CASE EVENT RESULT
for row in "${results[@]}"; do
  IFS='|' read -r use_case event result <<<"$row"
  printf '%-24s %-40s %s\n' "$use_case" "$event" "$result"
done
echo "local-test ($engine): $passed passed, $failed failed"
[[ $failed -eq 0 ]]
