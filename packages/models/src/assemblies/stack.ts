import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type {
  AttentionHook,
  Estimate,
  AuxLossCollector,
  InitSpec,
  InitializerName,
  Module,
  ModuleOptions,
  Probe,
  Rng,
  SharedKeyValues,
} from '@attnkit/core';
import {
  ConfigError,
  Linear,
  build,
  estimateChild,
  initSpecSchema,
  sumEstimates,
  timesEstimate,
  initTensor,
  requireCapabilities,
  slotSchema,
  slotTensors,
  typedInput,
  type MixerNeeds,
} from '@attnkit/core';
import type {
  BlockContext,
  TransformerBlock,
  transformerBlockSchema,
} from '../blocks/transformer-block';
import '../blocks/transformer-block'; // registers 'transformer-block'
import { fillWidths } from '../blocks/fill';
import type { StackState } from './decoder-state';
import { underPath } from './parse';
import type { Positional } from './positions';

/**
 * A block config inside a model: a transformer block's, less `type` and `dModel` (the model's);
 * the schema's input, so its slots stay marks (`SchemaConfig` of the model types them).
 */
type BlockTemplateInput = Omit<z.input<typeof transformerBlockSchema>, 'type' | 'dModel'>;

/**
 * The block template: at run time its slots' types are checked here and the whole by the
 * block's schema when built (so a saved config keeps only what was written); typed as the
 * block's config, so a literal's misspelt field or nested type fails to compile.
 */
export const blockTemplateSchema = typedInput<BlockTemplateInput>()(
  z.looseObject({ mixer: slotSchema(), feedForward: slotSchema() }),
);

/** Per-layer replacements of template fields, keyed by layer index. */
export const layerOverridesSchema = typedInput<Record<string, Partial<BlockTemplateInput>>>()(
  z.record(z.string().regex(/^\d+$/), z.looseObject({})),
);

export type BlockTemplate = Record<string, unknown>;

/** A norm (or other single-input layer) built from a registry config. */
export type Layer = Module & { forward(x: tf.Tensor): tf.Tensor };

/** What every assembly's forward takes besides its inputs. */
export interface RunOptions {
  training?: boolean;
  aux?: AuxLossCollector;
  attentionHook?: AttentionHook;
  /** Receives named statistics from the modules (routing load, ...), with their layer paths. */
  probe?: Probe;
}

/** Every override names a layer, written as the layer's index (`1`, not `01`, which no layer reads). */
function checkOverrides(
  owner: string,
  path: string,
  overrides: Record<string, object> | undefined,
  numLayers: number,
  overridesKey: string,
): void {
  for (const key of Object.keys(overrides ?? {})) {
    const at = `${path}.${overridesKey}.${key}`;
    if (String(Number(key)) !== key) {
      throw new ConfigError(owner, at, 'a layer index without leading zeros', `'${key}'`);
    }
    if (Number(key) >= numLayers) {
      throw new ConfigError(owner, at, `a layer index < ${numLayers}`, key);
    }
  }
}

/**
 * What `buildBlocks` will allocate, without building: the template's estimate once for every
 * layer it builds, each override's once, in build order (so the first bad layer is reported).
 */
export function estimateBlocks(
  owner: string,
  path: string,
  template: BlockTemplate,
  overrides: Record<string, object> | undefined,
  numLayers: number,
  dModel: number,
  overridesKey = 'layerOverrides',
): Estimate {
  checkOverrides(owner, path, overrides, numLayers, overridesKey);
  const overridden = Object.keys(overrides ?? {}).map(Number);
  const firstPlain = firstMissing(overridden);
  const order = [...overridden, ...(firstPlain < numLayers ? [firstPlain] : [])].sort(
    (a, b) => a - b,
  );
  const parts = order.map((i) => {
    const override = overrides?.[String(i)];
    const config = { ...template, ...override, type: 'transformer-block', dModel };
    const where = override ? `${path}.${overridesKey}.${i}` : `${path}.block`;
    const block = estimateChild(config, where, 'block');
    return override ? block : timesEstimate(numLayers - overridden.length, block);
  });
  return sumEstimates(...parts);
}

/** The smallest non-negative integer not in `values`. */
function firstMissing(values: readonly number[]): number {
  const seen = new Set(values);
  let i = 0;
  while (seen.has(i)) i++;
  return i;
}

/**
 * Builds `numLayers` transformer blocks from one template; `overrides[i]` replaces fields of
 * layer i (a whole `mixer` for a hybrid, say). Errors name the JSON path of the bad layer.
 */
export function buildBlocks(
  owner: string,
  path: string,
  template: BlockTemplate,
  overrides: Record<string, object> | undefined,
  numLayers: number,
  dModel: number,
  options: ModuleOptions,
  overridesKey = 'layerOverrides',
  needs: MixerNeeds = {},
): TransformerBlock[] {
  checkOverrides(owner, path, overrides, numLayers, overridesKey);
  const blocks: TransformerBlock[] = [];
  for (let i = 0; i < numLayers; i++) {
    const override = overrides?.[String(i)];
    const config = { ...template, ...override, type: 'transformer-block', dModel };
    const where = override ? `${path}.${overridesKey}.${i}` : `${path}.block`;
    try {
      const block = build<TransformerBlock>(config, { ...options, path: where, category: 'block' });
      blocks.push(block);
      const { mixer } = block;
      requireCapabilities(mixer.blockName, `${where}.mixer`, mixer.capabilities, needs);
    } catch (e) {
      blocks.forEach((b) => b.dispose());
      throw underPath(e, where);
    }
    try {
      checkRotaryHeads(needs.positional, blocks[i]!.mixer, `${where}.mixer`);
    } catch (e) {
      blocks.forEach((b) => b.dispose());
      throw e;
    }
  }
  return blocks;
}

/**
 * A rotary encoding turns queries and keys of its own `headDim`: refuse, at build, a mixer whose
 * heads are another width (it would fail at the first forward). A mixer that rotates heads of
 * another width than its `headDim` (Based: its window branch) says so as `rotaryHeadDim`.
 */
function checkRotaryHeads(positional: unknown, mixer: object, path: string): void {
  const rotary = positional as { kind?: string; config?: { type?: string; headDim?: unknown } };
  const rotaryDim = rotary?.kind === 'rotate' ? rotary.config?.headDim : undefined;
  const { rotaryHeadDim, headDim: own } = mixer as { rotaryHeadDim?: unknown; headDim?: unknown };
  const headDim = rotaryHeadDim ?? own;
  if (typeof rotaryDim === 'number' && typeof headDim === 'number' && rotaryDim !== headDim) {
    throw new ConfigError(
      rotary.config?.type ?? 'positional',
      '$.positional.headDim',
      `the head size of ${path} (${headDim})`,
      String(rotaryDim),
    );
  }
}

/**
 * The context of one pass through a stack: the positions and their encoding (which `rotate` and
 * `bias` kinds apply inside the mixers) and the call's options; `training` is the model's mode,
 * used when the call does not set one.
 */
export function stackContext(
  offset: number,
  positional: Positional,
  options: RunOptions,
  training: boolean,
): BlockContext {
  return {
    offset,
    positional,
    training: options.training ?? training,
    aux: options.aux,
    attentionHook: options.attentionHook,
    probe: options.probe,
  };
}

/** Adds an `embed`-kind positional encoding to `h`; other kinds act inside the mixers. */
export function embedPositions(
  h: tf.Tensor3D,
  positional: Positional,
  positions: tf.Tensor1D,
): tf.Tensor3D {
  return positional.kind === 'embed' ? positional.embed!(h, positions) : h;
}

/**
 * Runs `blocks` over `h` `[batch, time, dModel]` with `context` (which carries the positions and
 * the positional encoding for `rotate` and `bias` kinds). Layer i reads and advances
 * `state.layers[i]` when a decoding state is given.
 */
export function runStack(
  h: tf.Tensor3D,
  blocks: readonly TransformerBlock[],
  context: BlockContext,
  state?: StackState,
  prefix = 'layers_',
  kvGroupSize = 1,
): tf.Tensor3D {
  // A layer whose mixer keeps no state would see only the new tokens: refuse, never mis-decode.
  const stateless = state ? state.layers.findIndex((s) => s === undefined) : -1;
  if (stateless >= 0) {
    throw new ConfigError(
      'decoder',
      `state.layers[${stateless}]`,
      'a decoding state for every layer (each mixer must support initState)',
      `none: mixer '${blocks[stateless]!.mixer.blockName}' cannot decode incrementally`,
    );
  }
  return tf.tidy(() => {
    let x = h;
    const slots: SharedKeyValues['slot'][] = [];
    try {
      blocks.forEach((block, i) => {
        const layer = { ...context, state: state?.layers[i], path: `${prefix}${i}` };
        if (kvGroupSize > 1) {
          if (i % kvGroupSize === 0) slots.push({});
          const role = i % kvGroupSize === 0 ? 'produce' : 'consume';
          layer.sharedKeyValues = { role, slot: slots[slots.length - 1]! };
        }
        x = block.forward(x, layer);
      });
    } finally {
      tf.dispose(slots.flatMap(slotTensors));
    }
    return x;
  });
}

/**
 * Cross-layer KV sharing (Brandon et al. 2024; Hymba sec. 2.3) needs, in each group of
 * `groupSize` consecutive layers, mixers that honour `sharedKeyValues` and whose keys/values
 * agree in heads, width and window with the group's first (the one that computes them).
 */
export function checkKvSharing(
  owner: string,
  blocks: readonly TransformerBlock[],
  groupSize: number,
  pathOf: (layer: number) => string,
): void {
  if (groupSize > blocks.length) {
    const want = `at most numLayers=${blocks.length}`;
    throw new ConfigError(owner, '$.kvSharing.groupSize', want, String(groupSize));
  }
  if (groupSize === 1) return;
  const geometry = (m: object) => {
    const { numKvHeads, headDim, config } = m as {
      numKvHeads?: number;
      headDim?: number;
      config?: { window?: number };
    };
    return `numKvHeads=${numKvHeads}, headDim=${headDim}, window=${config?.window}`;
  };
  blocks.forEach((block, i) => {
    const { mixer } = block;
    if (!mixer.capabilities?.sharedKeyValues) {
      const want = 'a mixer that shares keys/values across layers (mha, gqa, hymba, ...)';
      throw new ConfigError(owner, `${pathOf(i)}.mixer`, want, `'${mixer.blockName}'`);
    }
    const first = blocks[i - (i % groupSize)]!.mixer;
    if (geometry(mixer) !== geometry(first)) {
      const want = `the keys/values of layer ${i - (i % groupSize)} (${geometry(first)})`;
      throw new ConfigError(owner, `${pathOf(i)}.mixer`, want, geometry(mixer));
    }
  });
}

/** The norm config after a stack: the one given, else the blocks' own norm unless they are post-norm. */
export function finalNormConfig(
  given: { type: string } | undefined,
  block: BlockTemplate,
): { type: string } | undefined {
  if (given) return given;
  if (block.placement === 'post') return undefined;
  return (block.norm as { type: string } | undefined) ?? { type: 'rms-norm' };
}

/** The estimate of the norm after a stack (none when `config` is undefined). */
export function estimateFinalNorm(config: { type: string } | undefined, dModel: number): Estimate {
  if (!config) return { parameters: 0, bytes: 0 };
  return estimateChild(fillWidths(config, { dim: dModel }), '$.finalNorm', 'norm');
}

/** Builds the norm after a stack (`finalNorm` in the model config) at width `dModel`. */
export function buildFinalNorm(
  config: { type: string },
  dModel: number,
  options: ModuleOptions,
): Layer {
  return build<Layer>(fillWidths(config, { dim: dModel }), {
    ...options,
    path: '$.finalNorm',
    category: 'norm',
  });
}

/** A model-level initializer for every Linear weight inside the blocks (core's init spec). */
export const linearInitSchema = initSpecSchema.optional();

/**
 * Redraws the weight of every `Linear` found under `modules` with `spec` (biases keep their
 * zeros), in module order from `rng`, so a model can choose one scheme for all its projections,
 * as GPT-2 and PyTorch models do at the model level, over each block's default.
 */
export function initLinears(
  modules: readonly Module[],
  spec: InitSpec | InitializerName,
  rng: Rng,
): void {
  const visit = (m: Module) => {
    if (m instanceof Linear) {
      const fresh = initTensor(spec, m.weight.shape, rng);
      m.weight.assign(fresh);
      fresh.dispose();
      return;
    }
    for (const child of m.namedChildren().values()) visit(child);
  };
  modules.forEach(visit);
}
