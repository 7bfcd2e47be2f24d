// Joins the results of consecutive `npm run bench -- <workloads>` runs into one results file,
// for a full run taken in parts (each part saves its JSON, so a stopped session loses only the
// part in progress). The parts must come from the same machine and PyTorch, run a backend with
// the same threads wherever two of them run it (a part may run fewer backends: its cases read
// '—' in the others' columns), and name different workloads; meta records every part's
// command, date and backends.
// `node tools/bench/merge-results.mjs part1.json part2.json ... [--charts]`
// writes bench-results/bench-<first date>-merged.json and bench-results/latest.json
// (--charts: also the SVG charts of docs/assets/bench from the merged results).
import fs from 'node:fs';
import { saveResults, writeCharts } from './lib/results-files.mjs';

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('--'));
if (files.length < 2) {
  console.error('merge-results: give two or more results files (bench-results/bench-*.json)');
  process.exit(2);
}
const parts = files.map((f) => ({ file: f, results: JSON.parse(fs.readFileSync(f, 'utf8')) }));
parts.sort((a, b) => a.results.meta.date.localeCompare(b.results.meta.date));

const first = parts[0].results;
const sameAs = (key, pick) => {
  const want = JSON.stringify(pick(first));
  for (const p of parts)
    if (JSON.stringify(pick(p.results)) !== want)
      throw new Error(`merge-results: ${p.file}: ${key} differs from ${parts[0].file}`);
};
// The union of the parts' backends; one that two parts ran must agree on how it ran.
const backends = new Map();
for (const p of parts)
  for (const b of p.results.backends) {
    const seen = backends.get(b.name);
    if (seen && JSON.stringify([seen.ok, seen.threads]) !== JSON.stringify([b.ok, b.threads]))
      throw new Error(`merge-results: ${p.file}: backend ${b.name} ran differently than before`);
    if (!seen) backends.set(b.name, b);
  }
const order = ['cpu', 'wasm', 'native'];
sameAs('pytorch', (r) => r.pytorch);
sameAs('machine', (r) => [r.meta.cpu, r.meta.cores, r.meta.node, r.meta.tfjs, r.meta.quick]);
const seen = new Set();
for (const p of parts)
  for (const w of p.results.workloads) {
    if (seen.has(w.name)) throw new Error(`merge-results: ${p.file}: workload ${w.name} twice`);
    seen.add(w.name);
  }

const merged = {
  ...first,
  meta: {
    ...first.meta,
    command: parts.map((p) => p.results.meta.command).join(' && '),
    parts: parts.map((p) => ({
      command: p.results.meta.command,
      date: p.results.meta.date,
      backends: p.results.backends.map((b) => b.name),
    })),
  },
  backends: [...backends.values()].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name)),
  workloads: parts.flatMap((p) => p.results.workloads),
};
const file = saveResults(merged, '-merged');
console.log(`merge-results: ${file} and bench-results/latest.json`);
if (args.includes('--charts'))
  console.log(`merge-results: charts ${writeCharts(merged).join(', ')}`);
