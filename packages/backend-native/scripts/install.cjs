// npm `install` hook of the published package: keeps the prebuilt binary when it loads here,
// otherwise compiles from source with node-gyp. Never fails the install: without a binary,
// importing the package throws a one-line reason and initBackend() moves on to the next backend.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

// In the repository `npm run build` compiles the addon (scripts/build.mjs).
if (fs.existsSync(path.join(root, 'src')) || loads()) process.exit(0);

const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const run = spawnSync(cmd, args, {
  cwd: root,
  stdio: 'inherit',
  shell: !gyp && process.platform === 'win32',
});
if (run.status !== 0 || !loads()) {
  console.warn(
    `@attnkit/backend-native: no prebuilt binary for ${process.platform}-${process.arch} and the source build failed; ` +
      'the package stays installed and initBackend() falls back to another backend',
  );
}
process.exit(0);
