#!/usr/bin/env bash
# The consumer check: the publishable packages as a user meets them.
#
#   1. build and pack core, redis, http and clients (`pnpm pack`: publishConfig's exports, workspace:^ → ^x.y.z);
#   2. the tarballs hold dist/, src/, README, LICENSE and no tests; publint and arethetypeswrong report nothing;
#   3. npm installs them into a fresh project outside the workspace, with effect, @effect/platform,
#      @effect/platform-node and ioredis from the registry at pinned versions;
#   4. tsc type-checks the consumer's files with moduleResolution NodeNext (and emits them) and Bundler;
#   5. node runs the ESM program (main.ts) against a real redis-server on a free port, a CommonJS
#      require() of core, and checks that core's internals cannot be imported.
#
# Usage: bash scripts/consumer/check.sh   (KEEP=1 keeps the scratch project and prints its path)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/scripts/consumer"
BIN="$ROOT/node_modules/.bin"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/effect-resilience-consumer.XXXXXX")"
PACKAGES=(core redis http clients)
REDIS_PID=""

cleanup() {
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-}" = "1" ]; then echo "consumer: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step() { printf 'consumer: -- %s (%ss)\n' "$*" "$SECONDS"; }
fail() {
  echo "consumer: FAILED: $*" >&2
  exit 1
}

step "build and pack"
filters=()
for p in "${PACKAGES[@]}"; do
  # a clean build: no stale file of a removed module in a tarball
  rm -rf "$ROOT/packages/$p/dist" "$ROOT/packages/$p/build/tsconfig.build.tsbuildinfo"
  filters+=(--filter "@effect-resilience/$p")
done
(cd "$ROOT" && pnpm -r "${filters[@]}" pack --pack-destination "$WORK/tarballs" >/dev/null)

step "tarball contents, publint, arethetypeswrong"
tarballs=()
for p in "${PACKAGES[@]}"; do
  tgz="$(ls "$WORK"/tarballs/effect-resilience-"$p"-*.tgz)"
  tarballs+=("$tgz")
  files="$(tar tzf "$tgz")"
  for required in package/package.json package/LICENSE package/README.md package/dist/index.js \
    package/dist/index.d.ts package/dist/index.js.map package/dist/index.d.ts.map package/src/index.ts; do
    grep -qx "$required" <<<"$files" || fail "$p: $required missing from $(basename "$tgz")"
  done
  if grep -E '^package/(test|examples)/|\.test\.|(^|/)(vitest\.config|tsconfig[^/]*\.json|docgen\.json)' <<<"$files"; then
    fail "$p: the tarball holds tests or build files (above)"
  fi
  printf 'consumer: %-44s %7s bytes, %3s files\n' "$(basename "$tgz")" "$(wc -c <"$tgz")" "$(wc -l <<<"$files")"
  "$BIN/publint" run "$tgz" --strict | sed 's/^/consumer: publint: /'
  # every public module is an entry point ("./*" is a wildcard, which attw does not expand)
  entrypoints=(.)
  for js in $(grep -E '^package/dist/[A-Za-z]+\.js$' <<<"$files" | sed 's#^package/dist/##; s#\.js$##'); do
    [ "$js" = index ] || entrypoints+=("./$js")
  done
  # ESM only: a CommonJS consumer loads it through Node's require(esm) (engines: node >= 20.19),
  # which step 5 runs; so attw's CJS-resolves-to-ESM notice is not a problem here.
  "$BIN/attw" "$tgz" --profile esm-only --format table-flipped --entrypoints "${entrypoints[@]}" >"$WORK/attw-$p.txt" \
    || { cat "$WORK/attw-$p.txt"; fail "$p: arethetypeswrong found problems"; }
  echo "consumer: attw: $p: no problems (${#entrypoints[@]} entry points)"
done

step "npm install into a fresh project"
APP="$WORK/app"
mkdir -p "$APP"
cat >"$APP/package.json" <<'JSON'
{ "name": "effect-resilience-consumer", "version": "0.0.0", "private": true, "type": "module" }
JSON
cp "$HERE/main.ts" "$HERE/internal-import.ts" "$HERE/require-types.cts" "$HERE/require.cjs" \
  "$HERE/tsconfig.nodenext.json" "$HERE/tsconfig.bundler.json" "$APP/"
(cd "$APP" && npm install --save-exact --no-audit --no-fund --loglevel=error "${tarballs[@]}" \
  effect@3.22.4 @effect/platform@0.97.2 @effect/platform-node@0.108.2 ioredis@5.9.3 @types/node@20.19.43)
[ ! -e "$APP/node_modules/@effect-resilience/core/test" ] || fail "tests were installed"

step "tsc: moduleResolution NodeNext (emit) and Bundler"
(cd "$APP" && "$BIN/tsc" -p tsconfig.nodenext.json && "$BIN/tsc" -p tsconfig.bundler.json)

step "run: the ESM program against a real redis-server"
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 200); do
  if node -e 'const c=require("net").connect(+process.argv[1],"127.0.0.1");c.on("connect",()=>process.exit(0));c.on("error",()=>process.exit(1))' "$port"; then
    break
  fi
  kill -0 "$REDIS_PID" 2>/dev/null || { cat "$WORK/redis.log"; fail "redis-server exited"; }
  sleep 0.05
done
(cd "$APP" && REDIS_URL="redis://127.0.0.1:$port" node out/main.js)

step "run: require() of core from CommonJS"
(cd "$APP" && node require.cjs)

step "core's internals are closed"
(cd "$APP" && node --input-type=module -e '
  import("@effect-resilience/core/internal/validate").then(
    () => { console.error("consumer: import of core/internal/validate resolved"); process.exit(1) },
    (e) => { if (e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") { console.error(e); process.exit(1) } })')
(cd "$APP" && node -e '
  try { require("@effect-resilience/core/internal/timerQueue") } catch (e) {
    if (e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") process.exit(0); console.error(e); process.exit(1) }
  console.error("consumer: require of core/internal/timerQueue resolved"); process.exit(1)')
echo "consumer: internal imports fail with ERR_PACKAGE_PATH_NOT_EXPORTED"

echo "consumer: all checks passed in ${SECONDS}s"
