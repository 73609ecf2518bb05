#!/usr/bin/env sh
# Run one command in a fresh arm64 guest and exit with its status (docker-run style).
set -e
npx nodevisor guest build --quiet
npx nodevisor run --memory 512M -- sh -c 'uname -m; echo "sha: $(echo hi | sha256sum)"'
echo "the guest command exited with $?"
