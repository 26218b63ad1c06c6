#!/usr/bin/env bash
# Runbook step "Failback" (docs/disaster-recovery.md): give the primary its role back.
#
# Checks first (all must pass, or --force):
#   - Route 53's checkers see the primary's entry point healthy again (a majority report Success);
#   - the primary's replica of the global task-token table is ACTIVE (replication caught up);
# then:
#   1. un-inverts the primary's health check if dr-failover.sh inverted it (DNS returns to PRIMARY);
#   2. deletes the override item in the primary's replica (Global Tables remove it everywhere);
#   3. verifies that neither replica still holds an override (waits for replication, bounded).
# The guard then follows Route 53 again: the primary is active while it is healthy. Executions
# still running in the secondary finish there (task tokens belong to their execution's region).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT

deployment=""
primary=""
secondary=""
health_check_id=""
force=false
dry_run=false
attempts="${DR_VERIFY_ATTEMPTS:-10}"

usage() {
    cat <<'EOF'
Usage: scripts/dr-failback.sh --deployment NAME --primary-region REGION --secondary-region REGION
                              --health-check-id ID [--force] [--dry-run]

Returns the active role to the primary region after a failover.

  --deployment NAME          the deployment (DeploymentName of the stacks), e.g. legal-prod
  --primary-region REGION    the region that gets its role back
  --secondary-region REGION  the region that was active
  --health-check-id ID       the primary's Route 53 health check (multi-region.yaml HealthCheckId)
  --force                    fail back even if the primary does not look ready
  --dry-run                  run the checks, print the commands that change state, change nothing
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
        --force) force=true; shift ;;
        --dry-run) dry_run=true; shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ -n "${deployment}" && -n "${primary}" && -n "${secondary}" && -n "${health_check_id}" ]] || {
    usage >&2
    exit 2
}
check_region_pair "${primary}" "${secondary}"
require_aws_cli

table_name() {
    PYTHONPATH="${REPO_ROOT}" "${PYTHON:-python3}" -m shared.naming global \
        --deployment "${deployment}" --kind table --purpose "$1"
}
status_table="$(table_name region-status)" || die "invalid --deployment ${deployment} (see shared/naming.py)"
token_table="$(table_name task-tokens)"

override_in() {
    aws dynamodb get-item --region "$1" --table-name "${status_table}" --key '{"key":{"S":"override"}}' \
        --consistent-read --query 'Item.active_region.S' --output text
}

# --- readiness -----------------------------------------------------------------------------------
problems=()
read -r -a statuses <<<"$(aws route53 get-health-check-status --health-check-id "${health_check_id}" \
    --query 'HealthCheckObservations[].StatusReport.Status' --output text | tr '\t' '\n' | cut -c1-7 | tr '\n' ' ')"
healthy=0
for status in "${statuses[@]}"; do
    [[ "${status}" == "Success" ]] && healthy=$((healthy + 1))
done
echo "failback: ${healthy}/${#statuses[@]} Route 53 checkers see the primary's entry point healthy"
((${#statuses[@]} > 0 && healthy * 2 > ${#statuses[@]})) || problems+=("the primary's entry point is not healthy yet")

table_status="$(aws dynamodb describe-table --region "${primary}" --table-name "${token_table}" \
    --query 'Table.TableStatus' --output text)"
echo "failback: ${token_table} in ${primary} is ${table_status}"
[[ "${table_status}" == "ACTIVE" ]] || problems+=("the primary's replica of ${token_table} is ${table_status}")

if ((${#problems[@]} > 0)); then
    printf 'failback: not ready: %s\n' "${problems[@]}" >&2
    [[ "${force}" == true ]] || die "refusing to fail back (use --force to override)"
    echo "failback: --force given, continuing"
fi

# --- failback ------------------------------------------------------------------------------------
inverted="$(aws route53 get-health-check --health-check-id "${health_check_id}" \
    --query 'HealthCheck.HealthCheckConfig.Inverted' --output text)"
if [[ "${inverted}" == "True" || "${inverted}" == "true" ]]; then
    echo "failback: un-inverting health check ${health_check_id} (DNS returns to the primary)"
    # prints the health check's new Inverted setting (False)
    run aws route53 update-health-check --health-check-id "${health_check_id}" --no-inverted \
        --query 'HealthCheck.HealthCheckConfig.Inverted' --output text
fi
echo "failback: removing the override (was: $(override_in "${primary}"))"
run aws dynamodb delete-item --region "${primary}" --table-name "${status_table}" --key '{"key":{"S":"override"}}'

if [[ "${dry_run}" == true ]]; then
    echo "dry run: nothing was changed"
    exit 0
fi

for region in "${primary}" "${secondary}"; do
    left=""
    for ((attempt = 1; attempt <= attempts; attempt++)); do
        left="$(override_in "${region}")"
        [[ "${left}" == "None" ]] && break
        sleep 1
    done
    [[ "${left}" == "None" ]] || die "verification failed: ${region} still holds an override for ${left}"
done
echo "failback: no override left; ${primary} is active while Route 53 sees it healthy"
echo "next: scripts/dr-status.sh to verify; runs already in ${secondary} finish there"
