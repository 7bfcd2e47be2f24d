// Prints a results JSON (default bench-results/latest.json) as markdown tables, for the docs:
// `node tools/bench/to-markdown.mjs [results.json] [--write doc.md ...]`. With --write, the
// tables replace what lies between <!-- bench:start --> and <!-- bench:end --> in each doc.
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './lib/packages.mjs';
import { crossoverTable } from './lib/long-report.mjs';
import { sparseCrossoverTable } from './lib/sparse-report.mjs';
import { modelNotes } from './lib/peak.mjs';
import { goalTables } from './lib/targets.mjs';

const args = process.argv.slice(2);
const writeAt = args.indexOf('--write');
const docs = writeAt >= 0 ? args.slice(writeAt + 1) : [];
const file =
  (writeAt === 0 ? undefined : args[0]) ?? path.join(REPO_ROOT, 'bench-results/latest.json');
const results = JSON.parse(fs.readFileSync(file, 'utf8'));
const backends = results.backends.filter((b) => b.ok);
const threads = results.pytorch.threads ?? [];

const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toPrecision(3)} ms`);
const num = (v) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));

function cell(r, c) {
  if (!r) return '—';
  if (r.error) return 'failed';
  if (r.skipped) return 'skipped';
  let s = ms(r.medianMs);
  if (c.flops) s += ` (${num(r.gflops)} GFLOP/s)`;
  if (c.tokens) s += ` (${num(r.tokensPerSec)} tok/s)`;
  if (r.mfu !== undefined) s += ` MFU ${(r.mfu * 100).toFixed(1)}%`;
  if (r.ratio !== undefined) s += ` **×${num(r.ratio)}**`;
  return s;
}

const m = results.meta;
const lines = [
  `Command: \`${m.command}\` — ${m.date.slice(0, 10)}, ${m.cpu}, ${m.cores} cores, Node ${m.node}, tfjs ${m.tfjs}, PyTorch ${results.pytorch.version ?? 'not run'}.`,
  `Median of up to ${m.repeats} timed runs after at least ${m.warmup} warm-up runs and ${m.warmupMs ?? 0} ms (at least 3 runs; fewer warm-ups and runs once a case passes its 4 s budget).`,
  `**×N** = time / PyTorch time with the backend's thread count (${backends.map((b) => `${b.name}: ${b.threads}`).join(', ')}); above 1 is slower than PyTorch.`,
  ...(m.parts?.length > 1
    ? [
        `Parts: ${m.parts.map((p) => `\`${p.command}\` (${p.date.slice(11, 16)} UTC${p.backends ? `; ${p.backends.join(', ')}` : ''})`).join('; ')}.`,
      ]
    : []),
  '',
];
for (const b of results.backends.filter((x) => !x.ok))
  lines.push(`- ${b.name}: skipped: ${b.reason}`);
for (const { title, rows: goals } of goalTables(results)) {
  lines.push('', `### ${title}`, '');
  lines.push('| measure | this run | goal | met |', '| --- | --- | --- | --- |');
  for (const g of goals)
    lines.push(
      `| ${g.what} | ${g.value} | ${g.goal} | ${g.met === null ? '—' : g.met ? 'yes' : 'no'} |`,
    );
}
for (const w of results.workloads) {
  lines.push('', `### ${w.name}: ${w.title}`, '');
  if (w.skipped || w.error) {
    const why = w.skipped ?? w.error;
    const text = why.length > 200 ? `${why.slice(0, 197)}…` : why;
    lines.push(w.skipped ? `Skipped: ${text}` : `Failed: ${text}`);
    continue;
  }
  // A part of a merged run may have run fewer backends: only the columns this workload ran.
  const ran = backends.filter((b) => w.cases.some((c) => c.backends[b.name]));
  const head = [
    'case',
    ...threads.map((t) => `PyTorch ${t} thread${t > 1 ? 's' : ''}`),
    ...ran.map((b) => b.name),
    'peak tensor MiB',
  ];
  lines.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`);
  for (const c of w.cases) {
    const peak = ran.map((b) => c.backends[b.name]?.peakBytes).find((v) => v !== undefined);
    const row = [
      c.label,
      ...threads.map((t) => {
        const r = c.pytorch?.[t];
        if (!r?.medianMs) return '—';
        return `${ms(r.medianMs)}${r.mfu !== undefined ? ` MFU ${(r.mfu * 100).toFixed(1)}%` : ''}`;
      }),
      ...ran.map((b) => cell(c.backends[b.name], c)),
      peak === undefined ? '—' : (peak / 2 ** 20).toFixed(2),
    ];
    lines.push(`| ${row.join(' | ')} |`);
  }
  if (w.peakBytes) {
    const peaks = Object.entries(w.peakBytes).map(
      ([b, v]) => `${b} ${(v / 2 ** 20).toFixed(2)} MiB`,
    );
    lines.push('', `Peak tensor memory of the workload (largest case): ${peaks.join(', ')}.`);
  }
  const notes = modelNotes(w, results.peaks);
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  const whole = new Map();
  for (const c of w.cases) if (c.skip) whole.set(c.skip, (whole.get(c.skip) ?? 0) + 1);
  if (whole.size) lines.push('', ...[...whole].map(([r, n]) => `- ${n} case(s) skipped: ${r}`));
  const skips = w.cases.flatMap((c) =>
    backends
      .filter((b) => c.backends[b.name]?.skipped && !c.skip)
      .map((b) => `${c.label} on ${b.name}: ${c.backends[b.name].skipped}`),
  );
  if (skips.length) lines.push('', ...skips.map((s) => `- skipped ${s}`));
}
const crossover = crossoverTable(results);
if (crossover.length)
  lines.push('', '### long: where each mixer overtakes softmax attention', '', ...crossover);
const sparseCrossover = sparseCrossoverTable(results);
if (sparseCrossover.length)
  lines.push(
    '',
    '### sparse: where block-sparse attention overtakes dense',
    '',
    ...sparseCrossover,
  );
const text = lines.join('\n');

/** Image links to the charts that exist, relative to the doc's folder. */
function chartLinks(docDir) {
  const dir = path.join(REPO_ROOT, 'docs/assets/bench');
  const titles = {
    'matmul.svg': 'matmul GFLOP/s',
    'sdpa-fwd.svg': 'sdpa forward time',
    'sdpa-fwdbwd.svg': 'sdpa forward+backward time',
    'sdpa-memory.svg': 'sdpa peak tensor memory',
    'mixers.svg': 'mixers forward+backward vs PyTorch MHA',
    'train.svg': 'llama-tiny and llama-small training tokens/s',
    'generate.svg': 'llama-tiny generation tokens/s',
    'long-ops.svg': 'softmax vs linear attention ops against T',
    'long-mixers.svg': 'mixers forward+backward against T',
    'sparse-t.svg': 'block-sparse vs dense attention against T',
    'sparse-density.svg': 'block-sparse attention against density',
  };
  const found = Object.keys(titles).filter((f) => fs.existsSync(path.join(dir, f)));
  if (found.length === 0) return '';
  const rel = path.relative(docDir, dir).split(path.sep).join('/');
  return [
    '',
    '#### Charts (logarithmic axes)',
    '',
    ...found.map((f) => `![${titles[f]}](${rel}/${f})`),
  ].join('\n');
}
if (docs.length === 0) console.log(text);
for (const doc of docs) {
  const old = fs.readFileSync(doc, 'utf8');
  // A package README carries only the crossover tables (between crossover markers).
  const short = /(<!-- crossover:start -->)[\s\S]*?(<!-- crossover:end -->)/;
  const re = /(<!-- bench:start -->)[\s\S]*?(<!-- bench:end -->)/;
  if (short.test(old)) {
    const body = [
      `Command: \`${m.command}\` — ${m.date.slice(0, 10)}, ${m.cpu}, ${m.cores} cores.`,
      '',
      ...crossover,
      ...(sparseCrossover.length ? ['', ...sparseCrossover] : []),
    ].join('\n');
    fs.writeFileSync(
      doc,
      old.replace(short, (_, a, b) => `${a}\n\n${body}\n\n${b}`),
    );
    console.log(`updated ${doc}`);
    continue;
  }
  if (!re.test(old))
    throw new Error(`${doc}: no <!-- bench:start --> … <!-- bench:end --> markers`);
  const body = `${text}\n${chartLinks(path.dirname(path.resolve(doc)))}`;
  fs.writeFileSync(
    doc,
    old.replace(re, (_, a, b) => `${a}\n\n${body}\n${b}`),
  );
  console.log(`updated ${doc}`);
}
