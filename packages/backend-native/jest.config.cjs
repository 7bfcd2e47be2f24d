module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'backend-native',
  rootDir: __dirname,
};
