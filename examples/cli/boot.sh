#!/usr/bin/env sh
# Boot the default guest with this terminal as its console. Ctrl-a x quits.
set -e
npx nodevisor guest build --quiet
exec npx nodevisor boot --memory 512M --cpus 2 "$@"
