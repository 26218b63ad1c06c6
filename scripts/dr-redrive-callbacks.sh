#!/usr/bin/env bash
# Runbook step "In-flight work" (docs/disaster-recovery.md): complete the task tokens whose
# transform jobs have ended while the callback path of their execution's region was impaired.
#
# For every token record still STARTED in REGION's replica of the global task-token table:
#   1. ask SageMaker, in the execution's region (where the job runs), for the job's status;
#   2. for a job that has ended (Completed, Failed, Stopped), invoke REGION's callback function
#      with the "SageMaker Transform Job State Change" event EventBridge would have delivered (its
#      detail is the job's description). The callback reads the replicated record and calls
#      SendTaskSuccess/SendTaskFailure in the execution's region; a record already called back is
#      reported as a duplicate and calls nothing, so running this twice is safe.
# Jobs still running are skipped: their own event will come.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT

deployment=""
region=""
callback_function=""
dry_run=false

usage() {
    cat <<'EOF'
Usage: scripts/dr-redrive-callbacks.sh --deployment NAME --region REGION --callback-function NAME [--dry-run]

Delivers the end of every finished transform job whose token is still parked to REGION's callback.

  --deployment NAME         the deployment (DeploymentName of the stacks), e.g. legal-prod
  --region REGION           the healthy region whose callback function runs the callbacks
  --callback-function NAME  that region's SageMakerCallbackFunction (batch-transform.yaml output)
  --dry-run                 list the jobs and print the invocations instead of making them
  -h, --help                this text

Requires the AWS CLI and python3 >= 3.11 (table names come from shared.naming).
EOF
}


while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --deployment) [[ $# -ge 2 ]] || die "--deployment needs a value"; deployment="$2"; shift 2 ;;
        --region) [[ $# -ge 2 ]] || die "--region needs a region"; region="$2"; shift 2 ;;
        --callback-function)
            [[ $# -ge 2 ]] || die "--callback-function needs a function name or ARN"
            callback_function="$2"
            shift 2
            ;;
        --dry-run) dry_run=true; shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ -n "${deployment}" && -n "${region}" && -n "${callback_function}" ]] || {
    usage >&2
    exit 2
}
[[ "${region}" =~ ${REGION_PATTERN} ]] || die "--region ${region} is not an AWS region code"
require_aws_cli

token_table="$(PYTHONPATH="${REPO_ROOT}" "${PYTHON:-python3}" -m shared.naming global \
    --deployment "${deployment}" --kind table --purpose task-tokens)" ||
    die "invalid --deployment ${deployment} (see shared/naming.py)"

parked="$(aws dynamodb scan --region "${region}" --table-name "${token_table}" --consistent-read \
    --filter-expression '#s = :started' --expression-attribute-names '{"#s":"status"}' \
    --expression-attribute-values '{":started":{"S":"STARTED"}}' \
    --query 'Items[].[job_name.S, execution_region.S]' --output text)"

out="$(mktemp)"
trap 'rm -f "${out}"' EXIT
delivered=0
skipped=0
while read -r job_name execution_region; do
    [[ -n "${job_name}" && "${job_name}" != "None" ]] || continue
    [[ "${execution_region}" =~ ${REGION_PATTERN} ]] || die "record of ${job_name} has no execution_region"
    status="$(aws sagemaker describe-transform-job --region "${execution_region}" \
        --transform-job-name "${job_name}" --query TransformJobStatus --output text)"
    case "${status}" in
        Completed | Failed | Stopped) ;;
        *)
            echo "skip     ${job_name} (${execution_region}): ${status}"
            skipped=$((skipped + 1))
            continue
            ;;
    esac
    detail="$(aws sagemaker describe-transform-job --region "${execution_region}" \
        --transform-job-name "${job_name}" --output json)"
    event="$(printf '{"version":"0","id":"dr-redrive-%s","detail-type":"SageMaker Transform Job State Change","source":"aws.sagemaker","region":"%s","resources":[],"detail":%s}' \
        "${job_name}" "${execution_region}" "${detail}")"
    if [[ "${dry_run}" == true ]]; then
        echo "[dry-run] aws lambda invoke --region ${region} --function-name ${callback_function} (${job_name}: ${status})"
        continue
    fi
    aws lambda invoke --region "${region}" --function-name "${callback_function}" \
        --cli-binary-format raw-in-base64-out --payload "${event}" "${out}" >/dev/null
    grep -q '"action"' "${out}" || die "${job_name}: the callback failed: $(cat "${out}")"
    echo "deliver  ${job_name} (${execution_region}): ${status} -> $(grep -o '"action": *"[a-z]*"' "${out}")"
    delivered=$((delivered + 1))
done <<<"${parked}"

[[ "${dry_run}" == true ]] && echo "dry run: nothing was invoked"
echo "${delivered} delivered, ${skipped} still running"
