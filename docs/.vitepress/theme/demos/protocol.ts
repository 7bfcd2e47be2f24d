// Messages between the page (client.ts) and the demos' worker (worker.ts).
import type { BackendName } from '@attnkit/core';

export interface GenerateSettings {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  seed: number;
}

/** What a demo asks the worker to run (absolute URLs: the worker resolves against its own). */
export type DemoInput =
  | { demo: 'explorer'; modelUrl: string; text: string }
  | { demo: 'generate'; modelUrl: string; settings: GenerateSettings }
  | { demo: 'train'; mixer: string; task: string };

export type DemoRequest = DemoInput & { id: number; backends: BackendName[] };

export type WorkerMessage =
  | { id: number; type: 'backend'; data: { name: string; note: string } }
  | { id: number; type: 'progress'; data: unknown }
  | { id: number; type: 'done'; data: { result: unknown; ms: number } }
  | { id: number; type: 'error'; data: string };

/** A live result against the precomputed one (see compare.mjs). */
export interface Verdict {
  match: boolean;
  detail: string;
}
