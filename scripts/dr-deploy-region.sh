#!/usr/bin/env bash
# Runbook step "Deploy a region" (docs/disaster-recovery.md): the secondary of Tier 1/2, or the
# recovery region of Tier 3 (backup & restore). Builds and deploys one use case into REGION under
# the regional stack name of shared.naming (<deployment>-<region>), so the same deployment in two
# regions never shares a stack, bucket, table or state machine name.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT

use_case=""
deployment=""
region=""
overrides=()
dry_run=false

usage() {
    cat <<'EOF'
Usage: scripts/dr-deploy-region.sh <use-case> --deployment NAME --region REGION
                                   [--parameter KEY=VALUE ...] [--dry-run]

Builds and deploys a use case into REGION as stack <deployment>-<region> (shared.naming).

  <use-case>            folder with the template.yaml, e.g. legal-compliance
  --deployment NAME     the deployment, e.g. legal-prod (also passed as DeploymentName when the
                        template declares it)
  --region REGION       the region to deploy to
  --parameter KEY=VALUE a template parameter (repeatable), e.g. EnableMultiRegion=true
  --dry-run             print the sam commands instead of running them
  -h, --help            this text

Requires sam (aws-sam-cli; make build installs it in .venv-sam) and python3 >= 3.11.
Set SAM to use another sam binary.
EOF
}



while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --deployment) [[ $# -ge 2 ]] || die "--deployment needs a value"; deployment="$2"; shift 2 ;;
        --region) [[ $# -ge 2 ]] || die "--region needs a region"; region="$2"; shift 2 ;;
        --parameter)
            [[ $# -ge 2 && "$2" =~ ^[A-Za-z0-9]+=.*$ ]] || die "--parameter needs KEY=VALUE"
            overrides+=("$2")
            shift 2
            ;;
        --dry-run) dry_run=true; shift ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [[ -z "${use_case}" ]] || die "one use case only (got ${use_case} and $1)"; use_case="$1"; shift ;;
    esac
done

[[ -n "${use_case}" && -n "${deployment}" && -n "${region}" ]] || {
    usage >&2
    exit 2
}
[[ "${region}" =~ ${REGION_PATTERN} ]] || die "--region ${region} is not an AWS region code"
use_case_dir="${REPO_ROOT}/${use_case%/}"
[[ -f "${use_case_dir}/template.yaml" ]] || die "no use case ${use_case} (${use_case_dir}/template.yaml missing)"

sam="${SAM:-}"
if [[ -z "${sam}" ]]; then
    if [[ -x "${REPO_ROOT}/.venv-sam/bin/sam" ]]; then
        sam="${REPO_ROOT}/.venv-sam/bin/sam"
    else
        sam="sam"
    fi
fi
[[ "${dry_run}" == true ]] || command -v "${sam}" >/dev/null 2>&1 || die "sam is not installed (make build installs it)"

stack="$(PYTHONPATH="${REPO_ROOT}" "${PYTHON:-python3}" -m shared.naming stack \
    --deployment "${deployment}" --region "${region}")" ||
    die "invalid --deployment ${deployment} (see shared/naming.py)"

if grep -qE '^  DeploymentName:' "${use_case_dir}/template.yaml"; then
    overrides=("DeploymentName=${deployment}" "${overrides[@]}")
fi

echo "deploy: ${use_case} -> stack ${stack} in ${region}"
cd "${use_case_dir}"
run "${sam}" build --region "${region}"
deploy=("${sam}" deploy --stack-name "${stack}" --region "${region}" --resolve-s3
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset --no-confirm-changeset)
if ((${#overrides[@]} > 0)); then
    deploy+=(--parameter-overrides "${overrides[@]}")
fi
run "${deploy[@]}"
[[ "${dry_run}" == true ]] && echo "dry run: nothing was deployed"
echo "next: scripts/dr-status.sh to verify the region's role"
