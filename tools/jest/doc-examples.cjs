// Runs the TypeScript code blocks of a markdown page inside a spec, so the examples in READMEs
// and docs/ are tested as written. `require` is the spec's own, so `@attnkit/*` resolves to the
// sources through jest's moduleNameMapper.
const fs = require('node:fs');
const ts = require('typescript');

/** The ```ts blocks of a markdown file, in order. */
function codeBlocks(markdownPath) {
  const text = fs.readFileSync(markdownPath, 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/**
 * Transpiles block `index` of the page to CommonJS and runs it (top-level await allowed).
 * Returns the page's `console.log` lines, so a spec can check what the example prints.
 */
async function runDocExample(markdownPath, index, specRequire) {
  const blocks = codeBlocks(markdownPath);
  if (index >= blocks.length) {
    throw new Error(
      `runDocExample: ${markdownPath} has ${blocks.length} ts blocks, asked for ${index}`,
    );
  }
  const { outputText } = ts.transpileModule(blocks[index], {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  const logged = [];
  const console = {
    ...globalThis.console,
    log: (...args) => logged.push(args.map(String).join(' ')),
  };
  const run = new Function(
    'require',
    'console',
    'exports',
    'module',
    `return (async () => {\n${outputText}\n})();`,
  );
  const module = { exports: {} };
  await run(specRequire, console, module.exports, module);
  return logged;
}

module.exports = { codeBlocks, runDocExample };
