// Where a run's results go: bench-results/bench-<date>[-suffix].json plus bench-results/latest.json,
// and its SVG charts in docs/assets/bench. Used by run.mjs and merge-results.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { buildCharts } from './charts.mjs';
import { REPO_ROOT } from './packages.mjs';

/** Writes the results file and latest.json; returns the results file's path from the repo root. */
export function saveResults(results, suffix = results.meta.quick ? '-quick' : '') {
  const dir = path.join(REPO_ROOT, 'bench-results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = results.meta.date.replace(/[:.]/g, '-');
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const file = path.join(dir, `bench-${stamp}${suffix}.json`);
  fs.writeFileSync(file, text);
  fs.writeFileSync(path.join(dir, 'latest.json'), text);
  return path.relative(REPO_ROOT, file);
}

/** Writes the charts of the workloads in `results`; returns their paths from the repo root. */
export function writeCharts(results) {
  const dir = path.join(REPO_ROOT, 'docs/assets/bench');
  fs.mkdirSync(dir, { recursive: true });
  const charts = buildCharts(results);
  for (const [name, svg] of Object.entries(charts)) fs.writeFileSync(path.join(dir, name), svg);
  return Object.keys(charts).map((n) => `docs/assets/bench/${n}`);
}
