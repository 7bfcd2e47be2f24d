#!/usr/bin/env bash
# Scaffolds packages/<name> with the standard layout (package.json, tsconfigs, tsup, jest, README, CHANGELOG).
# Usage: tools/new-package.sh <name> "<description>" [internal deps...]
set -euo pipefail
name=$1; desc=$2; shift 2
dir="$(dirname "$0")/../packages/$name"
mkdir -p "$dir/src" "$dir/test"
deps=""
for d in "$@"; do deps="$deps\"@attnkit/$d\": \"0.1.0\", "; done
deps="${deps%, }"
cat > "$dir/package.json" <<JSON
{
  "name": "@attnkit/$name",
  "version": "0.1.0",
  "description": "$desc",
  "license": "Apache-2.0",
  "type": "module",
  "sideEffects": false,
  "main": "./dist/index.cjs",
  "module": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "exports": {
    ".": {
      "import": { "types": "./dist/index.d.ts", "default": "./dist/index.js" },
      "require": { "types": "./dist/index.d.cts", "default": "./dist/index.cjs" }
    },
    "./package.json": "./package.json"
  },
  "files": ["dist", "README.md", "CHANGELOG.md"],
  "scripts": {
    "build": "tsup",
    "typecheck": "tsc -p tsconfig.json --noEmit",
    "test": "jest",
    "lint": "eslint src test"
  },
  "dependencies": { $deps },
  "peerDependencies": {
    "@tensorflow/tfjs-core": "^4.20.0"
  },
  "publishConfig": { "access": "public" }
}
JSON
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "include": ["src", "test"]
}
JSON
cat > "$dir/tsconfig.build.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "paths": {} },
  "include": ["src"]
}
JSON
cat > "$dir/tsup.config.ts" <<TS
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
  external: [/^@tensorflow\//, /^@attnkit\//, 'zod'],
});
TS
echo "module.exports = { ...require('../../jest.preset.cjs'), displayName: '$name', rootDir: __dirname };" > "$dir/jest.config.cjs"
printf '# @attnkit/%s\n' "$name" > "$dir/CHANGELOG.md"
[ -f "$dir/src/index.ts" ] || printf '// @attnkit/%s public surface.\nexport {};\n' "$name" > "$dir/src/index.ts"
npx prettier --write "$dir" > /dev/null
