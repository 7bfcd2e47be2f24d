module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'attention',
  rootDir: __dirname,
};
