#!/usr/bin/env bash
# The oldest Effect the packages claim: their peer ranges are effect ^3.22.0 and @effect/platform ^0.97.0.
# `pnpm test` runs everything on the lockfile's versions, the newest of the range (effect 3.22.4,
# @effect/platform 0.97.2); this runs the core and http suites again in a scratch copy of the workspace
# installed with pnpm overrides pinning the oldest (effect 3.22.0, @effect/platform 0.97.0,
# @effect/platform-node 0.108.0, the first release built for them).
#
# Usage: bash scripts/peer-range.sh   (KEEP=1 keeps the scratch copy)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/effect-resilience-peers.XXXXXX")"
cleanup() { if [ "${KEEP:-}" = "1" ]; then echo "peer-range: kept $SCRATCH"; else rm -rf "$SCRATCH"; fi; }
trap cleanup EXIT

EFFECT=3.22.0
PLATFORM=0.97.0
PLATFORM_NODE=0.108.0

# the workspace's files as git sees them (tracked and new, not ignored), without node_modules or builds
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf -) | tar -xf - -C "$SCRATCH"

cat >>"$SCRATCH/pnpm-workspace.yaml" <<YAML

# peer-range.sh: the oldest effect / @effect/platform of the declared peer ranges
overrides:
  effect: "$EFFECT"
  "@effect/platform": "$PLATFORM"
  "@effect/platform-node": "$PLATFORM_NODE"
YAML

cd "$SCRATCH"
pnpm install --no-frozen-lockfile --prefer-offline --config.strict-peer-dependencies=false >install.log 2>&1 \
  || { cat install.log; exit 1; }
versions="$(cd packages/http && node -e '
  const v = (p) => require(require.resolve(p + "/package.json", { paths: [process.cwd()] })).version
  console.log(`effect ${v("effect")}, @effect/platform ${v("@effect/platform")}, @effect/platform-node ${v("@effect/platform-node")}`)')"
echo "peer-range: core and http suites on $versions"
case "$versions" in
  "effect $EFFECT, @effect/platform $PLATFORM, @effect/platform-node $PLATFORM_NODE") ;;
  *) echo "peer-range: the overrides did not apply" >&2; exit 1 ;;
esac
pnpm exec vitest run --project core --project http
