#!/usr/bin/env bash
# Puts the sources of the two upstream commits the project's reference is written against into ./upstream, for
# go.mod's replace directives (the Go module proxy does not serve these untagged commits).
# Usage: ./upstream.sh            clone from GitHub
#        MIRROR=DIR ./upstream.sh read from bare mirrors DIR/kubernetes-sigs+karpenter/repo and DIR/aws+karpenter-provider-aws/repo
set -euo pipefail
cd "$(dirname "$0")"
core=2266468104f36373ed002241afaee2d3bbc26078
aws=1d927085dd81a9df9301e613f371dac5b4d16bfe
fetch() { # owner/name commit destination
    local git_dir
    if [[ -n "${MIRROR:-}" ]]; then
        git_dir="$MIRROR/${1/\//+}/repo"
    else
        git_dir="$(mktemp -d)/repo.git"
        git clone --quiet --bare --filter=blob:none "https://github.com/$1.git" "$git_dir"
    fi
    rm -rf "$3" && mkdir -p "$3"
    # Only the module files and pkg/: the repositories' large example data is not needed to link the APIs.
    git --git-dir="$git_dir" archive "$2" go.mod go.sum pkg | tar -x -C "$3"
}
fetch kubernetes-sigs/karpenter "$core" upstream/karpenter
fetch aws/karpenter-provider-aws "$aws" upstream/karpenter-provider-aws
