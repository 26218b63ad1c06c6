#!/usr/bin/env bash
# Runbook step "Failover" (docs/disaster-recovery.md): the decision owner makes a region active.
#
#   1. writes the override item {key: "override", active_region, reason, actor, set_at} into the
#      region-status global table's replica IN THE TARGET REGION (the one that must act; the
#      primary may be unreachable). Global Tables replicate it to every other replica — also to a
#      primary that comes back later, which then stays on standby until dr-failback.sh;
#   2. optionally inverts the primary's Route 53 health check, so DNS fails over with processing
#      (Tier 2/3, or a Tier 1 failover decided before Route 53 sees a failure);
#   3. reads the override back (strongly consistent, target region) to verify.
#
# Every region's guard (shared/region_role.py) reads the override before anything else. Idempotent.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly TEXT_PATTERN='^[A-Za-z0-9 ._:/#@,()+=-]{1,200}$'

deployment=""
target=""
reason=""
actor="${USER:-unknown}"
health_check_id=""
dry_run=false

usage() {
    cat <<'EOF'
Usage: scripts/dr-failover.sh --deployment NAME --to REGION --reason TEXT [options]

Makes REGION the active region of a multi-region deployment, whatever the health signal says.

  --deployment NAME          the deployment (DeploymentName of the stacks), e.g. legal-prod
  --to REGION                the region to make active (normally the secondary)
  --reason TEXT              why, kept with the override (incident or ticket id)
  --actor NAME               who decided (default: $USER)
  --invert-health-check ID   also invert this Route 53 health check (the primary's): DNS fails over too
  --dry-run                  print the commands that change state instead of running them
  -h, --help                 this text

Requires the AWS CLI and python3 >= 3.11 (table names come from shared.naming).
EOF
}



while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --deployment) [[ $# -ge 2 ]] || die "--deployment needs a value"; deployment="$2"; shift 2 ;;
        --to) [[ $# -ge 2 ]] || die "--to needs a region"; target="$2"; shift 2 ;;
        --reason) [[ $# -ge 2 ]] || die "--reason needs a value"; reason="$2"; shift 2 ;;
        --actor) [[ $# -ge 2 ]] || die "--actor needs a value"; actor="$2"; shift 2 ;;
        --invert-health-check)
            [[ $# -ge 2 ]] || die "--invert-health-check needs a health check id"
            health_check_id="$2"
            shift 2
            ;;
        --dry-run) dry_run=true; shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ -n "${deployment}" && -n "${target}" && -n "${reason}" ]] || {
    usage >&2
    exit 2
}
[[ "${target}" =~ ${REGION_PATTERN} ]] || die "--to ${target} is not an AWS region code"
[[ "${reason}" =~ ${TEXT_PATTERN} ]] || die "--reason may use letters, digits, spaces and ._:/#@,()+=- (1-200)"
[[ "${actor}" =~ ${TEXT_PATTERN} ]] || die "--actor may use letters, digits, spaces and ._:/#@,()+=- (1-200)"
require_aws_cli

status_table="$(PYTHONPATH="${REPO_ROOT}" "${PYTHON:-python3}" -m shared.naming global \
    --deployment "${deployment}" --kind table --purpose region-status)" ||
    die "invalid --deployment ${deployment} (see shared/naming.py)"

item="$(printf '{"key":{"S":"override"},"active_region":{"S":"%s"},"reason":{"S":"%s"},"actor":{"S":"%s"},"set_at":{"N":"%s"}}' \
    "${target}" "${reason}" "${actor}" "$(date +%s)")"

echo "failover: making ${target} active for ${deployment} (table ${status_table})"
run aws dynamodb put-item --region "${target}" --table-name "${status_table}" --item "${item}"

if [[ -n "${health_check_id}" ]]; then
    echo "failover: inverting Route 53 health check ${health_check_id} (DNS follows)"
    # prints the health check's new Inverted setting (True)
    run aws route53 update-health-check --health-check-id "${health_check_id}" --inverted \
        --query 'HealthCheck.HealthCheckConfig.Inverted' --output text
fi

if [[ "${dry_run}" == true ]]; then
    echo "dry run: nothing was changed"
    exit 0
fi

active="$(aws dynamodb get-item --region "${target}" --table-name "${status_table}" \
    --key '{"key":{"S":"override"}}' --consistent-read --query 'Item.active_region.S' --output text)"
[[ "${active}" == "${target}" ]] || die "verification failed: the override in ${target} reads '${active}'"
echo "failover: ${target} is the active region (override set by ${actor}: ${reason})"
echo "next: scripts/dr-redrive-callbacks.sh for in-flight tokens; scripts/dr-status.sh to verify"
