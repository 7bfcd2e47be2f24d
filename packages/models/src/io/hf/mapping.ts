// Shared pieces of the Hugging Face checkpoint mappings: config fields read by name (every field
// is either used, listed as irrelevant, or refused), and tensors renamed/transposed both ways.
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@attnkit/core';

export type HfConfig = Record<string, unknown>;

/**
 * Fields that do not change the function a checkpoint computes (metadata, token ids, dtype,
 * initialisation, cache and output switches, training-time dropout rates): allowed and skipped.
 */
export const IRRELEVANT_FIELDS = [
  '_name_or_path',
  'architectures',
  'model_type',
  'torch_dtype',
  'dtype',
  'transformers_version',
  'use_cache',
  'bos_token_id',
  'eos_token_id',
  'pad_token_id',
  'sep_token_id',
  'decoder_start_token_id',
  'initializer_range',
  'tokenizer_class',
  'output_attentions',
  'output_hidden_states',
  'return_dict',
  'use_return_dict',
  'is_decoder',
  'attention_dropout',
  'resid_pdrop',
  'embd_pdrop',
  'attn_pdrop',
  'summary_type',
  'summary_use_proj',
  'summary_activation',
  'summary_proj_to_labels',
  'summary_first_dropout',
  'task_specific_params',
  'pretraining_tp',
  'reorder_and_upcast_attn',
  'hidden_dropout_prob',
  'attention_probs_dropout_prob',
  'classifier_dropout',
  'gradient_checkpointing',
  'chunk_size_feed_forward',
  'problem_type',
];

/** Reads an HF config's fields, naming the file and the field in every error. */
export class FieldReader {
  private readonly used = new Set<string>(IRRELEVANT_FIELDS);

  constructor(
    readonly hf: HfConfig,
    readonly file: string,
  ) {}

  fail(field: string, expected: string, actual: unknown): never {
    throw new ConfigError(
      'importHuggingFace',
      `${this.file} field '${field}'`,
      expected,
      typeof actual === 'string' ? actual : (JSON.stringify(actual) ?? 'nothing (missing)'),
    );
  }

  /** A positive integer field; `fallback` when absent or null (required when no fallback). */
  int(field: string, fallback?: number): number {
    this.used.add(field);
    const v = this.hf[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      this.fail(field, 'a positive integer', this.hf[field]);
    }
    return v;
  }

  num(field: string, fallback: number): number {
    this.used.add(field);
    const v = this.hf[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      this.fail(field, 'a positive number', v);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    this.used.add(field);
    const v = this.hf[field] ?? fallback;
    if (typeof v !== 'boolean') this.fail(field, 'true or false', v);
    return v;
  }

  /** The field's raw value (null and absent read as undefined). */
  raw(field: string): unknown {
    this.used.add(field);
    return this.hf[field] ?? undefined;
  }

  /** A field attnkit honours only at one value (or absent / null). */
  only(field: string, value: unknown, why: string): void {
    this.used.add(field);
    const v = this.hf[field];
    if (v !== undefined && v !== null && v !== value) {
      this.fail(field, `${JSON.stringify(value)} or absent (${why})`, v);
    }
  }

  /** Refuses every field neither read nor listed as irrelevant: none is silently ignored. */
  finish(): void {
    for (const field of Object.keys(this.hf)) {
      if (!this.used.has(field)) {
        this.fail(field, `no such field (not one attnkit can honour)`, this.hf[field]);
      }
    }
  }
}

/**
 * One Hugging Face tensor and how it maps to attnkit parameters: `toAttnkit` turns the HF tensor
 * into named attnkit tensors, `fromAttnkit` gathers them back into the HF tensor.
 */
export interface TensorMapping {
  hf: string;
  shape: number[];
  toAttnkit(t: tf.Tensor): [string, tf.Tensor][];
  fromAttnkit(state: Record<string, tf.Tensor>): tf.Tensor;
}

function need(state: Record<string, tf.Tensor>, name: string): tf.Tensor {
  const t = state[name];
  if (!t) {
    throw new ConfigError('exportHuggingFace', `parameter '${name}'`, 'present', 'missing');
  }
  return t;
}

/** Same values both ways (embeddings, norms, biases, GPT-2's Conv1D weights [in, out]). */
export function same(hf: string, name: string, shape: number[]): TensorMapping {
  return {
    hf,
    shape,
    toAttnkit: (t) => [[name, tf.clone(t)]],
    fromAttnkit: (s) => tf.clone(need(s, name)),
  };
}

/** nn.Linear stores [out, in]; attnkit's linear stores [in, out] (y = x W). */
export function transposed(hf: string, name: string, out: number, inp: number): TensorMapping {
  return {
    hf,
    shape: [out, inp],
    toAttnkit: (t) => [[name, tf.transpose(t)]],
    fromAttnkit: (s) => tf.transpose(need(s, name)),
  };
}

/** Several attnkit tensors concatenated along `axis` in one HF tensor (GPT-2's fused c_attn). */
export function fused(hf: string, names: string[], shape: number[], axis: number): TensorMapping {
  return {
    hf,
    shape,
    toAttnkit: (t) => {
      const parts = tf.split(t, names.length, axis);
      return names.map((n, i) => [n, parts[i]!]);
    },
    fromAttnkit: (s) =>
      tf.concat(
        names.map((n) => need(s, n)),
        axis,
      ),
  };
}

/** A plain object, or a ConfigError naming where it came from. */
export function asObject(value: unknown, block: string, argument: string): HfConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(
      block,
      argument,
      'a JSON object',
      Array.isArray(value) ? 'an array' : String(value),
    );
  }
  return value as HfConfig;
}
