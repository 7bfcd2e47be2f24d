// Shared jest settings: specs import workspace packages from source, so tests need no build.
const path = require('node:path');

const root = __dirname;

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      { tsconfig: path.join(root, 'tsconfig.jest.json'), diagnostics: false },
    ],
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  globalSetup: path.join(root, 'tools/jest/global-setup.cjs'),
  moduleNameMapper: {
    '^@tensorflow/tfjs-core/dist/register_all_gradients(\\.js)?$': path.join(
      root,
      'node_modules/.cache/attnkit/tfjs-gradients-public.cjs',
    ),
    '^@attnkit/([a-z-]+)/testing$': path.join(root, 'packages/$1/src/testing.ts'),
    '^@attnkit/models/node$': path.join(root, 'packages/models/src/node.ts'),
    '^@attnkit/models/cli$': path.join(root, 'packages/models/src/cli-api.ts'),
    '^@attnkit/([a-z-]+)$': path.join(root, 'packages/$1/src/index.ts'),
  },
  setupFilesAfterEnv: [path.join(root, 'tools/jest/setup-backend.cjs')],
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
};
