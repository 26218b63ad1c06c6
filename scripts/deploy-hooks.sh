#!/usr/bin/env bash
# Deploys the Guard Hook (shared/cfn/guard-hook.yaml) with the rules of guard-rules/.
#
#   1. bundles guard-rules/*.guard into one reproducible zip (scripts/guard_hook_bundle.py);
#   2. on the first run, deploys the stack without a rules version: only the buckets and the role;
#   3. uploads the bundle to the versioned rules bucket and reads back its S3 version;
#   4. deploys the stack with that version: the hook evaluates exactly the rules just uploaded.
#
# Defaults are the template's (FailureMode WARN, the same alias and object key); see
# docs/guard-hooks.md for the WARN -> FAIL rollout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly TEMPLATE="shared/cfn/guard-hook.yaml"
readonly RULES_KEY="guard-rules/fsxn-s3ap-guard-rules.zip"

failure_mode="WARN"
alias_name="Private::Guard::FsxnS3apRules"
stack_name="fsxn-s3ap-guard-hook"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
dry_run=false

usage() {
    cat <<EOF
Usage: scripts/deploy-hooks.sh [--failure-mode WARN|FAIL] [--region REGION] [--stack-name NAME]
                               [--alias PROVIDER::SERVICE::HOOK] [--dry-run] [--help]

Deploys the CloudFormation Guard Hook that evaluates guard-rules/ on every create and update.

  --failure-mode MODE  WARN reports violations, FAIL stops the operation (default: ${failure_mode})
  --region REGION      AWS region (default: \$AWS_REGION, then \$AWS_DEFAULT_REGION)
  --stack-name NAME    CloudFormation stack of the hook (default: ${stack_name})
  --alias ALIAS        hook type name, not starting with AWS (default: ${alias_name})
  --dry-run            print the commands that change something instead of running them
                       (only read-only calls are made: cloudformation describe-stacks)
  --help               this text
EOF
}



while [[ $# -gt 0 ]]; do
    case "$1" in
        --failure-mode)
            [[ $# -ge 2 ]] || die "--failure-mode needs a value (WARN or FAIL)"
            failure_mode="$2"
            shift 2
            ;;
        --region)
            [[ $# -ge 2 ]] || die "--region needs a value"
            region="$2"
            shift 2
            ;;
        --stack-name)
            [[ $# -ge 2 ]] || die "--stack-name needs a value"
            stack_name="$2"
            shift 2
            ;;
        --alias)
            [[ $# -ge 2 ]] || die "--alias needs a value"
            alias_name="$2"
            shift 2
            ;;
        --dry-run)
            dry_run=true
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
    esac
done

[[ "${failure_mode}" == "WARN" || "${failure_mode}" == "FAIL" ]] ||
    die "--failure-mode must be WARN or FAIL, not '${failure_mode}'"
[[ -n "${region}" ]] || die "no region: pass --region or set AWS_REGION"
[[ "${region}" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || die "not a region name: '${region}'"
[[ "${stack_name}" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || die "not a stack name: '${stack_name}'"
# The pattern of AWS::CloudFormation::GuardHook.Alias, in two steps because bash has no lookahead.
[[ "${alias_name}" =~ ^[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}$ ]] ||
    die "--alias must be three parts of 2-64 letters or digits joined by :: (Provider::Service::Hook)"
alias_prefix="${alias_name:0:3}"
[[ "${alias_prefix,,}" != "aws" ]] || die "--alias must not start with AWS (a reserved namespace)"

require_aws_cli
python="${REPO_ROOT}/.venv/bin/python"
[[ -x "${python}" ]] || python="$(command -v python3 || true)"
[[ -n "${python}" ]] || die "python3 is not on PATH (it bundles the rules)"

work_dir="$(mktemp -d)"
trap 'rm -rf "${work_dir}"' EXIT
bundle="${work_dir}/fsxn-s3ap-guard-rules.zip"
(cd "${REPO_ROOT}" && "${python}" -m scripts.guard_hook_bundle --out "${bundle}") >"${work_dir}/bundle.json" ||
    die "could not bundle guard-rules/*.guard"
echo "rules bundle: $(cat "${work_dir}/bundle.json")"

# Read-only: the rules bucket of an existing stack ("" when the stack does not exist yet).
rules_bucket() {
    aws cloudformation describe-stacks --stack-name "${stack_name}" --region "${region}" \
        --query "Stacks[0].Outputs[?OutputKey=='RulesBucketName'].OutputValue" --output text 2>/dev/null |
        grep -v '^None$' || true
}

deploy() {
    local version="$1"
    run aws cloudformation deploy \
        --template-file "${REPO_ROOT}/${TEMPLATE}" \
        --stack-name "${stack_name}" \
        --region "${region}" \
        --capabilities CAPABILITY_IAM \
        --no-fail-on-empty-changeset \
        --parameter-overrides \
        "FailureMode=${failure_mode}" \
        "HookAlias=${alias_name}" \
        "RulesObjectKey=${RULES_KEY}" \
        "RulesObjectVersion=${version}"
}

bucket="$(rules_bucket)"
if [[ -z "${bucket}" ]]; then
    echo "stack ${stack_name} has no rules bucket yet: creating the buckets first (no hook until the rules are uploaded)"
    deploy ""
    bucket="$(rules_bucket)"
    if [[ -z "${bucket}" ]]; then
        [[ "${dry_run}" == true ]] || die "stack ${stack_name} deployed without a RulesBucketName output"
        bucket="<RulesBucketName of ${stack_name}>"
    fi
fi

if [[ "${dry_run}" == true ]]; then
    run aws s3api put-object --bucket "${bucket}" --key "${RULES_KEY}" --body "${bundle}" \
        --region "${region}" --query VersionId --output text
    version="<VersionId returned by put-object>"
else
    version="$(aws s3api put-object --bucket "${bucket}" --key "${RULES_KEY}" --body "${bundle}" \
        --region "${region}" --query VersionId --output text)"
    [[ -n "${version}" && "${version}" != "None" ]] ||
        die "s3://${bucket}/${RULES_KEY} has no version id: is versioning enabled on the bucket?"
fi
echo "rules: s3://${bucket}/${RULES_KEY} version ${version}"

deploy "${version}"
echo "Guard Hook ${alias_name} in ${region}: FailureMode ${failure_mode}, rules version ${version}"
if [[ "${dry_run}" == true ]]; then
    echo "dry run: nothing was changed"
fi
