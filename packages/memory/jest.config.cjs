module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'memory',
  rootDir: __dirname,
};
