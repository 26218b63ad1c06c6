#!/usr/bin/env bash
# Turn on Lambda SnapStart for every function of a deployed stack, in a way that takes effect:
# SnapStart applies only to published versions, so the script publishes a version, waits until
# its snapshot is ready (OptimizationStatus On) and moves the alias callers invoke onto it.
# Idempotent: an unchanged function re-publishes nothing and its alias stays where it is.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/enable-snapstart.sh <stack-name> [--region REGION] [--alias NAME] [--dry-run]

  <stack-name>     CloudFormation stack whose AWS::Lambda::Function resources get SnapStart
  --region REGION  AWS region (default: the AWS CLI's configured region)
  --alias NAME     alias that callers (state machines) invoke (default: live, as AutoPublishAlias)
  --dry-run        show what would change; call nothing that changes state
  -h, --help       this help

Supported runtimes: python3.12 and later, java11 and later, dotnet8.
USAGE
}

die() { printf 'enable-snapstart: %s\n' "$*" >&2; exit 1; }

stack=""
alias_name="live"
dry_run=false
region_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --region) [[ $# -ge 2 ]] || die "--region needs a value"; region_args=(--region "$2"); shift 2 ;;
    --alias) [[ $# -ge 2 ]] || die "--alias needs a value"; alias_name="$2"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$stack" ]] || die "one stack name only (got $stack and $1)"; stack="$1"; shift ;;
  esac
done
[[ -n "$stack" ]] || { usage >&2; exit 2; }
command -v aws >/dev/null 2>&1 || die "the AWS CLI (aws) is not on PATH"

aws_() { aws "${region_args[@]}" "$@"; }

supported_runtime() {
  case "$1" in
    python3.1[2-9]|python3.[2-9][0-9]|java1[1-9]|java[2-9][0-9]|dotnet[8-9]|dotnet[1-9][0-9]) return 0 ;;
    *) return 1 ;;
  esac
}

aws_ cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].StackStatus' --output text \
  >/dev/null 2>&1 || die "stack $stack not found${region_args[1]:+ in ${region_args[1]}}"

read -r -a functions <<<"$(aws_ cloudformation list-stack-resources --stack-name "$stack" \
  --query "StackResourceSummaries[?ResourceType=='AWS::Lambda::Function'].PhysicalResourceId" --output text)"
[[ ${#functions[@]} -gt 0 && "${functions[0]}" != "None" ]] || die "stack $stack has no Lambda functions"

for function in "${functions[@]}"; do
  runtime=$(aws_ lambda get-function-configuration --function-name "$function" --query Runtime --output text)
  supported_runtime "$runtime" || die "$function runs $runtime, which SnapStart does not support"
done

rows=()
changed=0
for function in "${functions[@]}"; do
  apply_on=$(aws_ lambda get-function-configuration --function-name "$function" \
    --query 'SnapStart.ApplyOn' --output text)
  if $dry_run; then
    action="would enable"; [[ "$apply_on" == "PublishedVersions" ]] && action="would publish"
    rows+=("$function|-|$alias_name|$action")
    continue
  fi
  if [[ "$apply_on" != "PublishedVersions" ]]; then
    aws_ lambda update-function-configuration --function-name "$function" \
      --snap-start ApplyOn=PublishedVersions >/dev/null
    aws_ lambda wait function-updated-v2 --function-name "$function"
  fi
  version=$(aws_ lambda publish-version --function-name "$function" --query Version --output text)
  aws_ lambda wait published-version-active --function-name "$function" --qualifier "$version"
  status=""
  for _ in $(seq 1 60); do
    status=$(aws_ lambda get-function-configuration --function-name "$function" --qualifier "$version" \
      --query 'SnapStart.OptimizationStatus' --output text)
    [[ "$status" == "On" ]] && break
    sleep 5
  done
  [[ "$status" == "On" ]] || die "$function version $version: OptimizationStatus is $status after 5 minutes"
  current=$(aws_ lambda get-alias --function-name "$function" --name "$alias_name" \
    --query FunctionVersion --output text 2>/dev/null || true)
  if [[ -z "$current" ]]; then
    aws_ lambda create-alias --function-name "$function" --name "$alias_name" --function-version "$version" >/dev/null
    action="alias created"; changed=$((changed + 1))
  elif [[ "$current" != "$version" ]]; then
    aws_ lambda update-alias --function-name "$function" --name "$alias_name" --function-version "$version" >/dev/null
    action="alias moved from $current"; changed=$((changed + 1))
  else
    action="unchanged"
  fi
  rows+=("$function|$version|$alias_name|$action")
done

printf '%-64s %-8s %-8s %s\n' FUNCTION VERSION ALIAS RESULT
for row in "${rows[@]}"; do
  IFS='|' read -r function version name action <<<"$row"
  printf '%-64s %-8s %-8s %s\n' "$function" "$version" "$name" "$action"
done
$dry_run && echo "dry run: nothing was changed"
$dry_run || echo "$changed alias(es) moved; SnapStart is On for ${#functions[@]} function(s) of $stack"
