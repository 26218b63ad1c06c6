# shellcheck shell=bash
# Helpers shared by the operator scripts in scripts/: sourced, never run on its own.

# The AWS region codes the DR scripts accept (us-east-1, ap-northeast-1, us-gov-west-1 …).
# shellcheck disable=SC2034  # read by the scripts that source this file
readonly REGION_PATTERN='^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$'

# Prints "<script>: error: <message>" and exits 1.
die() {
    echo "$(basename "$0"): error: $*" >&2
    exit 1
}

# Runs a state-changing command, or prints it (shell-quoted) when the caller set dry_run=true.
run() {
    if [[ "${dry_run:-false}" == true ]]; then
        printf '[dry-run]'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

require_aws_cli() {
    command -v aws >/dev/null 2>&1 || die "the AWS CLI (aws) is not on PATH"
}

# Both arguments are region codes, and different ones.
check_region_pair() {
    local region
    for region in "$1" "$2"; do
        [[ "${region}" =~ ${REGION_PATTERN} ]] || die "${region} is not an AWS region code"
    done
    [[ "$1" != "$2" ]] || die "the primary and secondary regions must differ"
}
