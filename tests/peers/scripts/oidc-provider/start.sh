#!/usr/bin/env bash
# Start the test OpenID provider: install its node modules into WORKDIR (once), then serve.
# Usage: start.sh [WORKDIR]   (default $COMMS_OIDC_WORKDIR or ~/.cache/comms-tests/oidc-provider)
# Environment: OIDC_PORT, OIDC_CLIENTS, OIDC_ACCOUNTS (see server.mjs). Prints
# "OIDC ready at ISSUER" when it answers.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workdir="${1:-${COMMS_OIDC_WORKDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/comms-tests/oidc-provider}}"
mkdir -p "$workdir"
(
  flock 9  # parallel test sessions install once, one at a time
  if ! cmp -s "$here/package.json" "$workdir/package.json" \
      || ! cmp -s "$here/package-lock.json" "$workdir/package-lock.json" \
      || [ ! -d "$workdir/node_modules/oidc-provider" ]; then
    cp "$here/package.json" "$here/package-lock.json" "$workdir/"
    (cd "$workdir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  cp "$here/server.mjs" "$workdir/server.mjs"
) 9>"$workdir/.install.lock"
cd "$workdir"
exec node server.mjs
