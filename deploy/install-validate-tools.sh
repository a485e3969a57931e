#!/usr/bin/env bash
# Install the deploy validation tools (deploy/requirements-validate.txt) into venvs
# of their own: $1 or <repo>/.venv-deploy-tools, holding tools/ and checkov/.
# Idempotent: a venv whose recorded requirements match is left alone, so a second
# run returns at once. First run: about a minute (checkov's dependencies dominate).
# Tests find the tools through $DEPLOY_TOOLS_DIR (default <repo>/.venv-deploy-tools).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo_root/deploy/requirements-validate.txt"
target="${1:-$repo_root/.venv-deploy-tools}"
python="${PYTHON:-python3}"

# Lines of one group: from "# group: NAME" to the next group header.
group_requirements() {
    awk -v want="$1" '
        /^# group: / { current = $3; next }
        current == want && NF && $1 !~ /^#/ { print $1 }
    ' "$requirements"
}

install_group() {
    local name="$1" venv="$target/$1" wanted stamp
    wanted="$(group_requirements "$name")"
    stamp="$venv/.requirements"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        echo "deploy tools: $name up to date in $venv"
        return
    fi
    echo "deploy tools: installing $name into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # shellcheck disable=SC2086  # one requirement per word
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $wanted \
        2> >(grep -v "^WARNING: Location 'file:" >&2)
    printf '%s' "$wanted" >"$stamp"
}

mkdir -p "$target"
# Keep the venvs out of git without touching the project's .gitignore.
printf '*\n' >"$target/.gitignore"
install_group tools
install_group checkov
echo "deploy tools: ready in $target"
