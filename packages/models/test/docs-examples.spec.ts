// Every example in the docs runs: each ```ts block of the hand-written pages under docs/ (in
// page order, so a later block may use what an earlier one registered), and the example snippet
// of every registered type on the generated block pages (tools/docs/gen-blocks.mjs).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const { codeBlocks, runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const root = path.join(__dirname, '../../..');
const docs = path.join(root, 'docs');

/** Pages whose examples a dedicated spec runs (with checks on what they print). */
const COVERED: Record<string, string> = {
  'core.md': 'packages/core/test/docs-example.spec.ts',
  'guide-assemble.md': 'packages/models/test/guide.spec.ts',
  'guide-mixer.md': 'packages/models/test/guide-mixer.spec.ts',
};

const pages = fs
  .readdirSync(docs)
  .filter((f) => f.endsWith('.md') && codeBlocks(path.join(docs, f)).length > 0)
  .sort();

describe('docs/ pages: every ts example runs', () => {
  it('finds the guides', () => {
    expect(pages).toEqual(expect.arrayContaining(['getting-started.md', 'guide-train.md']));
  });

  it.each(Object.entries(COVERED))('%s is run by %s', (page, spec) => {
    expect(fs.readFileSync(path.join(root, spec), 'utf8')).toContain(`docs/${page}`);
  });

  for (const page of pages.filter((p) => !(p in COVERED))) {
    it(`${page}`, async () => {
      const file = path.join(docs, page);
      const count = codeBlocks(file).length;
      for (let i = 0; i < count; i++) {
        const lines: string[] = await runDocExample(file, i, require);
        expect(lines.length).toBeGreaterThan(0); // each example shows what it did
      }
    });
  }
});

describe('generated block pages: every example config builds', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-blocks-'));
  execFileSync(process.execPath, [path.join(root, 'tools/docs/gen-blocks.mjs'), '--out', out], {
    stdio: 'pipe',
  });
  const files = fs
    .readdirSync(out)
    .filter((f) => f !== 'index.md')
    .sort();
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('generates the mixer families', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'softmax.md',
        'linear.md',
        'recurrent.md',
        'sparse.md',
        'routing.md',
        'memory.md',
      ]),
    );
  });

  for (const file of files) {
    it(`${file}`, async () => {
      const page = path.join(out, file);
      const count = codeBlocks(page).length;
      expect(count).toBeGreaterThan(0);
      for (let i = 0; i < count; i++) {
        const lines: string[] = await runDocExample(page, i, require);
        expect(lines[0]).toMatch(/ \d+ parameters$/);
      }
    });
  }
});
