// Runs every package's specs: `npm test`. One package: `npx jest --selectProjects core`.
module.exports = {
  projects: ['<rootDir>/packages/*/jest.config.cjs'],
  testTimeout: 60000,
};
