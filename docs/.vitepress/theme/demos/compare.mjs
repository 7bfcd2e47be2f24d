// How a live run is compared with the precomputed Node result (the DemoRunner's
// `data-demo-match`): the values the two computed, within the backend's stated tolerance.
import { TOLERANCE, TRAIN } from './catalog.mjs';

/** Largest |a_i - b_i| (Infinity when the lengths differ). */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const toleranceOf = (demo, backend) => TOLERANCE[demo][backend] ?? TOLERANCE[demo].webgl;
const verdict = (ok, gap, tol, what) => ({
  match: ok,
  detail: `${what}: max |live − Node cpu| ${gap.toExponential(1)} (tolerance ${tol.toExponential(0)})`,
});

/** Explorer: every attention weight and the next-token logits; the MoH routing exactly. */
export function compareExplorer(live, precomputed, backend, modelId) {
  const pre = precomputed?.models?.[modelId];
  if (!pre || pre.text !== live.text) return null;
  const flat = (r) => [
    ...r.layers.flatMap((l) => l.heads.flatMap((h) => h.map.flat())),
    ...r.logits,
  ];
  const gap = maxAbsDiff(flat(live), flat(pre));
  const tol = toleranceOf('explorer', backend);
  const sameRouting =
    JSON.stringify(live.layers.map((l) => l.routing)) ===
    JSON.stringify(pre.layers.map((l) => l.routing));
  const result = verdict(gap <= tol && sameRouting, gap, tol, 'attention weights and logits');
  if (!sameRouting) result.detail += '; MoH routing differs';
  return result;
}

/** Generate: the prompt's next-token logits within tolerance and the same sampled text. */
export function compareGenerate(live, precomputed, backend, settings) {
  const pre = precomputed;
  if (!pre || JSON.stringify(settings) !== JSON.stringify(pre.settings)) return null;
  const gap = maxAbsDiff(live.logits, pre.logits);
  const tol = toleranceOf('generate', backend);
  const result = verdict(gap <= tol && live.text === pre.text, gap, tol, 'prompt logits');
  result.detail += live.text === pre.text ? '; same text' : '; the text differs';
  return result;
}

/** Train: the first TRAIN.checkedLosses losses from the same seed. */
export function compareTrain(live, precomputed, backend, key) {
  const pre = precomputed?.runs?.[key];
  if (!pre) return null;
  const n = TRAIN.checkedLosses;
  const gap = maxAbsDiff(live.losses.slice(0, n), pre.losses.slice(0, n));
  const tol = toleranceOf('train', backend);
  return verdict(gap <= tol, gap, tol, `first ${n} losses`);
}
