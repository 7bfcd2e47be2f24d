// The page's side of the demos' worker: one module worker per page, started on the first
// "Run live", shared by the demos on the page (they queue).
import type { BackendName } from '@attnkit/core';
import { withBase } from 'vitepress';
import type { DemoInput, DemoRequest, WorkerMessage } from './protocol';

/** The order the demos try backends in; `?backend=wasm` (or a list) on the page's URL overrides. */
export const DEFAULT_BACKENDS: BackendName[] = ['webgl', 'wasm', 'cpu'];

export function backendPreference(): BackendName[] {
  const asked = new URLSearchParams(window.location.search).get('backend');
  return asked ? (asked.split(',') as BackendName[]) : DEFAULT_BACKENDS;
}

/** A file under docs/public as an absolute URL, for the worker (which has no page base). */
export const siteUrl = (path: string) => new URL(withBase(path), window.location.href).href;

export interface RunHandlers {
  onBackend?: (backend: { name: string; note: string }) => void;
  onProgress?: (data: unknown) => void;
}

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<
  number,
  RunHandlers & { resolve: (v: unknown) => void; reject: (e: Error) => void }
>();

function demoWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      const message = event.data;
      const job = pending.get(message.id);
      if (!job) return;
      if (message.type === 'backend') job.onBackend?.(message.data);
      else if (message.type === 'progress') job.onProgress?.(message.data);
      else {
        pending.delete(message.id);
        if (message.type === 'done') job.resolve(message.data);
        else job.reject(new Error(message.data));
      }
    };
    worker.onerror = (event) => {
      const error = new Error(`the demo worker failed: ${event.message || 'could not start'}`);
      for (const job of pending.values()) job.reject(error);
      pending.clear();
    };
  }
  return worker;
}

/** Runs a demo in the worker; resolves with its result and how long it took there. */
export function runDemo(
  input: DemoInput,
  handlers: RunHandlers = {},
): Promise<{ result: unknown; ms: number }> {
  const id = nextId++;
  const request: DemoRequest = { ...input, id, backends: backendPreference() };
  return new Promise((resolve, reject) => {
    pending.set(id, { ...handlers, resolve: resolve as (v: unknown) => void, reject });
    demoWorker().postMessage(request);
  });
}
