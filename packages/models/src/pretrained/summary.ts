// The layer table of a model: path, type, output shape for an input length, parameters (total
// and active per token for routed blocks) and forward FLOPs per token.
//
// FLOPs follow Kaplan et al. 2020 (Scaling Laws, sec. 2.1, table 1): a forward pass costs
// 2 FLOPs (multiply + add) per weight used by the token, plus, for each softmax attention layer,
// 2·n_ctx·d_attn for QKᵀ and as much for the weighted sum of values (n_ctx: the keys the token
// attends, the input length or the window; d_attn: query heads × head size). Registry estimates
// carry parameters and bytes only, so the count is computed from the built module: weights of
// rank ≥ 2 (matrices, convolution kernels) count; vectors (biases, gains), embedding and
// positional tables (lookups) do not; a tied output head counts its vocabSize × dModel matmul.
// Routed blocks count what one token uses: a MoE layer topK of numExperts experts (Shazeer et
// al. 2017), a MoH layer its shared and topK routed heads' query and output projections (Jin et
// al. 2024); both read from the block's config (`numExperts`/`topK`, `numHeads`/
// `numSharedHeads`/`topK`), so any routed block with those fields is counted alike.
import * as tf from '@tensorflow/tfjs-core';
import { type MixerCapabilities, type Module, registryInfo } from '@attnkit/core';

export interface SummaryRow {
  /** Dotted path in the model (`layers_0.mixer`); '' for the model itself. */
  path: string;
  /** The config's `type` (or the class name of an unregistered part such as a module list). */
  type: string;
  /** Output shape of the module's first call in one forward pass; undefined when not called. */
  outputShape: number[] | undefined;
  parameters: number;
  /** Parameters one token uses (fewer than `parameters` in routed blocks). */
  activeParameters: number;
  /** Forward FLOPs per token at the summary's input length (see the file header). */
  flopsPerToken: number;
}

export interface ModelSummary {
  type: string;
  /** Tokens the shapes and attention FLOPs are computed at. */
  inputLength: number;
  /** The model first, then its modules in order, down to `maxDepth`. */
  rows: SummaryRow[];
  parameters: number;
  trainableParameters: number;
  activeParameters: number;
  flopsPerToken: number;
  /** Why no shapes were recorded (the dummy forward failed), if it did. */
  shapeNote?: string;
}

export interface SummaryOptions {
  /** Input length (tokens). Default: the config's maxLength, else 16; a ViT uses its patches. */
  inputLength?: number;
  /** Deepest path shown (segments); default 2 (`layers_0.mixer`). Totals count every module. */
  maxDepth?: number;
  /** Record output shapes by running one forward pass on zeros (default true). */
  shapes?: boolean;
}

type Config = Record<string, unknown>;
const num = (c: Config, key: string): number | undefined =>
  typeof c[key] === 'number' ? (c[key] as number) : undefined;

function typeOf(m: Module): string {
  const t = (m.config as Config).type;
  return typeof t === 'string' ? t : m.constructor.name;
}

/** Embedding and positional tables are looked up, not multiplied. */
function isTable(m: Module): boolean {
  const type = typeOf(m);
  return type === 'embedding' || registryInfo(type)?.category === 'positional';
}

/** Weights of rank >= 2 owned by `m` itself (not its children). */
function ownMatrixParameters(m: Module): number {
  const childNames = [...m.namedChildren().keys()].map((n) => `${n}.`);
  let n = 0;
  for (const [name, v] of m.namedParameters()) {
    if (childNames.some((c) => name.startsWith(c))) continue;
    if (v.rank >= 2) n += v.size;
  }
  return n;
}

function ownParameters(m: Module): number {
  const childNames = [...m.namedChildren().keys()].map((n) => `${n}.`);
  let n = 0;
  for (const [name, v] of m.namedParameters()) {
    if (!childNames.some((c) => name.startsWith(c))) n += v.size;
  }
  return n;
}

interface Counts {
  parameters: number;
  active: number;
  flops: number;
}

/** Softmax-attention FLOPs per token: 4·n_ctx·d_attn (its state grows with the context). */
function attentionFlops(m: Module, context: number): number {
  const caps = (m as { capabilities?: MixerCapabilities }).capabilities;
  if (!caps || caps.stateGrowth !== 'linear') return 0;
  const c = m.config as Config;
  const q = m.namedChildren().get('q');
  const qWidth = q ? num(q.config as Config, 'outFeatures') : undefined;
  const heads = num(c, 'numHeads');
  const headDim = num(c, 'headDim');
  const dAttn = qWidth ?? (heads && headDim ? heads * headDim : (num(c, 'dModel') ?? 0));
  const window = num(c, 'window');
  return 4 * Math.min(context, window ?? context) * dAttn;
}

function count(
  m: Module,
  path: string,
  depth: number,
  context: number,
  rows: Map<string, SummaryRow>,
  maxDepth: number,
  shapes: Map<Module, number[]>,
): Counts {
  const children = [...m.namedChildren()].map(([name, child]) => ({
    name,
    counts: count(
      child,
      path ? `${path}.${name}` : name,
      depth + 1,
      context,
      rows,
      maxDepth,
      shapes,
    ),
  }));
  const own = ownParameters(m);
  const parameters = own + children.reduce((n, c) => n + c.counts.parameters, 0);
  let active = own + children.reduce((n, c) => n + c.counts.active, 0);
  let flops =
    (isTable(m) ? 0 : 2 * ownMatrixParameters(m)) +
    attentionFlops(m, context) +
    children.reduce((n, c) => n + c.counts.flops, 0);
  const c = m.config as Config;
  const topK = num(c, 'topK');
  const experts = children.find((ch) => ch.name === 'experts');
  const numExperts = num(c, 'numExperts');
  if (experts && numExperts && topK !== undefined && topK < numExperts) {
    // A token runs topK of the routed experts.
    const unused = 1 - topK / numExperts;
    active -= experts.counts.active * unused;
    flops -= experts.counts.flops * unused;
  }
  const numHeads = num(c, 'numHeads');
  const shared = num(c, 'numSharedHeads');
  const q = m.namedChildren().get('q');
  const o = m.namedChildren().get('o');
  if (numHeads && shared !== undefined && topK !== undefined && q && o) {
    // Heads a token skips: their rows of the query projection, columns of the output one, and
    // their share of the attention FLOPs.
    const skipped = (numHeads - shared - topK) / numHeads;
    const perHeadParams = q.numParams() + o.stateDict().weight!.size;
    active -= skipped * perHeadParams;
    flops -= skipped * (2 * perHeadParams + attentionFlops(m, context));
  }
  if (c.tieEmbeddings === true && num(c, 'vocabSize') && num(c, 'dModel')) {
    flops += 2 * num(c, 'vocabSize')! * num(c, 'dModel')!; // the output head reads the table
  }
  if (depth <= maxDepth) {
    rows.set(path, {
      path,
      type: typeOf(m),
      outputShape: shapes.get(m),
      parameters,
      activeParameters: Math.round(active),
      flopsPerToken: Math.round(flops),
    });
  }
  return { parameters, active, flops };
}

function modules(m: Module): Module[] {
  return [m, ...[...m.namedChildren().values()].flatMap(modules)];
}

function shapeOf(out: unknown): number[] | undefined {
  if (out instanceof tf.Tensor) return out.shape;
  if (Array.isArray(out)) return shapeOf(out[0]);
  if (typeof out === 'object' && out !== null && 'output' in out) return shapeOf(out.output);
  return undefined;
}

/** A zero input of `length` tokens for the known assemblies; undefined for other modules. */
function dummyForward(model: Module, length: number): (() => unknown) | undefined {
  const c = model.config as Config;
  const target = model as unknown as { forward?: (...a: unknown[]) => unknown };
  if (typeof target.forward !== 'function') return undefined;
  // Looked up at call time: recordShapes patches the model's own forward too.
  const forward = (...a: unknown[]) => target.forward!(...a);
  const ids = () => tf.zeros([1, length], 'int32');
  switch (typeOf(model)) {
    case 'decoder-lm':
    case 'encoder':
      return () => forward(ids());
    case 'encoder-decoder':
      return () => forward(ids(), ids());
    case 'vit': {
      const size = num(c, 'imageSize') ?? 0;
      return () => forward(tf.zeros([1, size, size, num(c, 'channels') ?? 3]));
    }
    default:
      return num(c, 'dModel') ? () => forward(tf.zeros([1, length, num(c, 'dModel')!])) : undefined;
  }
}

/** Output shapes of every module called in one forward pass on zeros (first call each). */
function recordShapes(
  model: Module,
  length: number,
): { shapes: Map<Module, number[]>; note?: string } {
  const shapes = new Map<Module, number[]>();
  const run = dummyForward(model, length);
  if (!run) return { shapes, note: `no dummy input for '${typeOf(model)}'` };
  const patched = modules(model).filter(
    (m) => typeof (m as { forward?: unknown }).forward === 'function',
  );
  for (const m of patched) {
    const original = (m as unknown as { forward: (...a: unknown[]) => unknown }).forward;
    Object.defineProperty(m, 'forward', {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) => {
        const out = original.apply(m, args);
        if (!shapes.has(m)) {
          const shape = shapeOf(out);
          if (shape) shapes.set(m, [...shape]);
        }
        return out;
      },
    });
  }
  const wasTraining = model.training;
  try {
    model.eval();
    tf.tidy(() => {
      run();
    });
    return { shapes };
  } catch (error) {
    return { shapes, note: `the forward pass on zeros failed: ${(error as Error).message}` };
  } finally {
    model.train(wasTraining);
    for (const m of patched) delete (m as { forward?: unknown }).forward;
  }
}

/** Tokens the model sees for an input of `length`: a ViT's patches (and class token). */
function tokensOf(model: Module, length: number): number {
  const c = model.config as Config;
  if (typeOf(model) !== 'vit') return length;
  const patches = ((num(c, 'imageSize') ?? 0) / (num(c, 'patchSize') ?? 1)) ** 2;
  return patches + (c.pooling === 'mean' ? 0 : 1);
}

/**
 * The layer table of `model`: every module down to `maxDepth` with its output shape for an
 * input of `inputLength` tokens, parameters (total and active per token) and forward FLOPs per
 * token. `printSummary` prints it; `formatSummary` gives the text.
 */
export function summary(model: Module, options: SummaryOptions = {}): ModelSummary {
  const c = model.config as Config;
  const maxLength = num(c, 'maxLength');
  const length = tokensOf(model, options.inputLength ?? maxLength ?? 16);
  const { shapes, note } =
    options.shapes === false
      ? { shapes: new Map<Module, number[]>() }
      : recordShapes(model, length);
  const rows = new Map<string, SummaryRow>();
  const total = count(model, '', 0, length, rows, options.maxDepth ?? 2, shapes);
  // Children are counted before their parent: list the model first, the rest in path order.
  const ordered = [...rows.values()].sort((a, b) => order(model, a.path) - order(model, b.path));
  return {
    type: typeOf(model),
    inputLength: length,
    rows: ordered,
    parameters: total.parameters,
    trainableParameters: model.trainableParameters().reduce((n, v) => n + v.size, 0),
    activeParameters: Math.round(total.active),
    flopsPerToken: Math.round(total.flops),
    ...(note === undefined ? {} : { shapeNote: note }),
  };
}

const orders = new WeakMap<Module, Map<string, number>>();
/** Depth-first position of `path` in the module tree (parents before children). */
function order(model: Module, path: string): number {
  let map = orders.get(model);
  if (!map) {
    map = new Map();
    const walk = (m: Module, p: string) => {
      map!.set(p, map!.size);
      for (const [name, child] of m.namedChildren()) walk(child, p ? `${p}.${name}` : name);
    };
    walk(model, '');
    orders.set(model, map);
  }
  return map.get(path) ?? Number.MAX_SAFE_INTEGER;
}

const group = (n: number): string => Math.round(n).toLocaleString('en-US');

function si(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [scale, unit] of units) if (n >= scale) return `${(n / scale).toFixed(2)}${unit}`;
  return String(Math.round(n));
}

/** The summary as a text table (one row per module) with totals under it. */
export function formatSummary(s: ModelSummary): string {
  const header = ['layer', 'type', 'output shape', 'params', 'active', 'FLOPs/token'];
  const body = s.rows.map((r) => [
    r.path === '' ? `(${s.type})` : `${'  '.repeat(r.path.split('.').length - 1)}${r.path}`,
    r.type,
    r.outputShape ? `[${r.outputShape.join(', ')}]` : '-',
    group(r.parameters),
    group(r.activeParameters),
    si(r.flopsPerToken),
  ]);
  const table = [header, ...body];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i >= 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  return [
    line(header),
    rule,
    ...body.map(line),
    rule,
    `parameters: ${group(s.parameters)} (trainable ${group(s.trainableParameters)}, active per token ${group(s.activeParameters)})`,
    `forward FLOPs per token: ${si(s.flopsPerToken)} at ${s.inputLength} tokens`,
    ...(s.shapeNote ? [`shapes: ${s.shapeNote}`] : []),
  ].join('\n');
}

/** Prints `formatSummary(summary(model, options))` (to `log`, default console.log); returns the summary. */
export function printSummary(
  model: Module,
  options: SummaryOptions & { log?: (text: string) => void } = {},
): ModelSummary {
  const { log = console.log, ...rest } = options;
  const s = summary(model, rest);
  log(formatSummary(s));
  return s;
}
