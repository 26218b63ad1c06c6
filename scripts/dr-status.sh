#!/usr/bin/env bash
# Runbook steps "Detection" and "Verification" (docs/disaster-recovery.md): what each region's
# guard sees and decides, from the same inputs the guard reads (shared/region_role.py):
#   - Route 53's HealthCheckStatus of the primary's health check (CloudWatch, us-east-1), latest
#     1-minute minimum within the window: 1 HEALTHY, 0 UNHEALTHY, none UNKNOWN;
#   - the override item of the region-status global table, in each region's own replica;
# plus the global task-token table's status and the in-flight tokens of each region.
# Read-only: --dry-run prints the read commands instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly METRICS_REGION="us-east-1"

deployment=""
primary=""
secondary=""
health_check_id=""
window_minutes=5
dry_run=false

usage() {
    cat <<'EOF'
Usage: scripts/dr-status.sh --deployment NAME --primary-region REGION --secondary-region REGION
                            --health-check-id ID [--window-minutes N] [--dry-run]

Shows which region is active and why, as each region's guard decides it.

  --deployment NAME          the deployment (DeploymentName of the stacks), e.g. legal-prod
  --primary-region REGION    the primary region
  --secondary-region REGION  the secondary region
  --health-check-id ID       the primary's Route 53 health check (multi-region.yaml HealthCheckId)
  --window-minutes N         how far back a HealthCheckStatus datapoint counts (default 5, as the guard)
  --dry-run                  print the read commands instead of running them
  -h, --help                 this text

Requires the AWS CLI and python3 >= 3.11 (table names come from shared.naming).
EOF
}


while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --deployment) [[ $# -ge 2 ]] || die "--deployment needs a value"; deployment="$2"; shift 2 ;;
        --primary-region) [[ $# -ge 2 ]] || die "--primary-region needs a region"; primary="$2"; shift 2 ;;
        --secondary-region) [[ $# -ge 2 ]] || die "--secondary-region needs a region"; secondary="$2"; shift 2 ;;
        --health-check-id) [[ $# -ge 2 ]] || die "--health-check-id needs an id"; health_check_id="$2"; shift 2 ;;
        --window-minutes) [[ $# -ge 2 ]] || die "--window-minutes needs a number"; window_minutes="$2"; shift 2 ;;
        --dry-run) dry_run=true; shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ -n "${deployment}" && -n "${primary}" && -n "${secondary}" && -n "${health_check_id}" ]] || {
    usage >&2
    exit 2
}
check_region_pair "${primary}" "${secondary}"
[[ "${window_minutes}" =~ ^[0-9]+$ && "${window_minutes}" -ge 1 && "${window_minutes}" -le 60 ]] ||
    die "--window-minutes must be 1-60"
require_aws_cli

table_name() {
    PYTHONPATH="${REPO_ROOT}" "${PYTHON:-python3}" -m shared.naming global \
        --deployment "${deployment}" --kind table --purpose "$1"
}
status_table="$(table_name region-status)" || die "invalid --deployment ${deployment} (see shared/naming.py)"
token_table="$(table_name task-tokens)"

# Read-only calls; under --dry-run they are printed and answer "-".
read_aws() {
    if [[ "${dry_run}" == true ]]; then
        printf '[dry-run] aws' >&2
        printf ' %q' "$@" >&2
        printf '\n' >&2
        echo "-"
    else
        aws "$@"
    fi
}

utc_in_minutes() {
    # $1 is signed (-5, +1). GNU date, then BSD date (macOS).
    date -u -d "$1 minutes" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v "$1M" +%Y-%m-%dT%H:%M:%SZ
}

latest="$(read_aws cloudwatch get-metric-statistics --region "${METRICS_REGION}" --namespace AWS/Route53 \
    --metric-name HealthCheckStatus --dimensions "Name=HealthCheckId,Value=${health_check_id}" \
    --start-time "$(utc_in_minutes "-${window_minutes}")" --end-time "$(utc_in_minutes +1)" \
    --period 60 --statistics Minimum --query 'sort_by(Datapoints, &Timestamp)[-1].Minimum' --output text)"
case "${latest}" in
    1 | 1.0) health="HEALTHY" ;;
    0 | 0.0) health="UNHEALTHY" ;;
    *) health="UNKNOWN" ;;
esac

# The guard's rule (shared/region_role.py decide_role; tests/scripts/test_dr_scripts.py compares).
active_region_for() {
    local override="$1"
    if [[ "${override}" == "${primary}" || "${override}" == "${secondary}" ]]; then
        echo "${override} override"
    elif [[ "${health}" == "UNHEALTHY" ]]; then
        echo "${secondary} primary-unhealthy"
    elif [[ "${health}" == "HEALTHY" ]]; then
        echo "${primary} primary-healthy"
    else
        echo "${primary} health-unknown"
    fi
}

printf '%-10s %s\n' DEPLOYMENT "${deployment}"
printf '%-10s %s (health check %s, latest HealthCheckStatus %s)\n' HEALTH "${health}" "${health_check_id}" "${latest}"
printf '%-16s %-8s %-16s %-18s %-10s %s\n' REGION ROLE OVERRIDE REASON "IN-FLIGHT" "TOKEN-TABLE"
verdicts=()
for region in "${primary}" "${secondary}"; do
    override="$(read_aws dynamodb get-item --region "${region}" --table-name "${status_table}" \
        --key '{"key":{"S":"override"}}' --consistent-read --query 'Item.active_region.S' --output text)"
    read -r active reason <<<"$(active_region_for "${override}")"
    role="STANDBY"
    [[ "${active}" == "${region}" ]] && role="ACTIVE"
    verdicts+=("${active}")
    in_flight="$(read_aws dynamodb scan --region "${region}" --table-name "${token_table}" --select COUNT \
        --filter-expression '#s = :started' --expression-attribute-names '{"#s":"status"}' \
        --expression-attribute-values '{":started":{"S":"STARTED"}}' --query Count --output text)"
    table_status="$(read_aws dynamodb describe-table --region "${region}" --table-name "${token_table}" \
        --query 'Table.TableStatus' --output text)"
    printf '%-16s %-8s %-16s %-18s %-10s %s\n' "${region}" "${role}" "${override}" "${reason}" "${in_flight}" "${table_status}"
done

if [[ "${dry_run}" == true ]]; then
    echo "dry run: nothing was read"
elif [[ "${verdicts[0]}" != "${verdicts[1]}" ]]; then
    echo "WARNING: the regions disagree on the active region (override not replicated yet?)" >&2
    exit 3
else
    echo "active region: ${verdicts[0]}"
fi
