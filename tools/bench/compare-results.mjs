// Which cases got slower between two results files: compares each case's ratio to PyTorch (the
// figure that survives a noisy shared machine better than times) on each backend, and lists
// those whose ratio grew by more than the threshold.
// `node tools/bench/compare-results.mjs old.json new.json [--threshold 1.25] [--all]`
// Exit status 0 either way: it reports, the reader judges noise (PyTorch's own time moves too).
import fs from 'node:fs';

const args = process.argv.slice(2);
const files = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--threshold');
const at = args.indexOf('--threshold');
const threshold = at >= 0 ? Number(args[at + 1]) : 1.25;
if (files.length !== 2 || !(threshold > 0)) {
  console.error('usage: compare-results.mjs old.json new.json [--threshold 1.25] [--all]');
  process.exit(2);
}
const [before, after] = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));

const index = (results) => {
  const map = new Map();
  for (const w of results.workloads)
    for (const c of w.cases ?? [])
      for (const [backend, r] of Object.entries(c.backends ?? {}))
        if (typeof r?.ratio === 'number') map.set(`${w.name} ${c.id} ${backend}`, r);
  return map;
};
const old = index(before);
const rows = [];
for (const [key, r] of index(after)) {
  const o = old.get(key);
  if (o) rows.push({ key, before: o.ratio, after: r.ratio, change: r.ratio / o.ratio });
}
rows.sort((a, b) => b.change - a.change);
const shown = args.includes('--all') ? rows : rows.filter((r) => r.change > threshold);
console.log(
  `${rows.length} cases in both (${before.meta.date.slice(0, 10)} → ${after.meta.date.slice(0, 10)}); ` +
    `${rows.filter((r) => r.change > threshold).length} with ×PyTorch grown by more than ×${threshold}`,
);
for (const r of shown)
  console.log(
    `  ${r.key.padEnd(48)} ×${r.before.toPrecision(3)} → ×${r.after.toPrecision(3)}  (${r.change.toFixed(2)})`,
  );
