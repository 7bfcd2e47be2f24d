module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'positional',
  rootDir: __dirname,
};
