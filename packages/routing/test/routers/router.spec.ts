import { ConfigError } from '@attnkit/core';
import { applyCapacity, checkControl, expertCapacity, selectTopK } from '@attnkit/routing';

describe('router helpers', () => {
  it('selectTopK picks the k largest per row, lower expert on ties', () => {
    const scores = [0.1, 0.5, 0.5, 0.2, 0.9, 0.0, 0.3, 0.8];
    expect(Array.from(selectTopK(scores, 2, 4, 2, null))).toEqual([1, 2, 0, 3]);
  });

  it('selectTopK never picks disabled experts and puts forced ones first', () => {
    const scores = [0.1, 0.5, 0.4, 0.2];
    expect(Array.from(selectTopK(scores, 1, 4, 2, { disabled: [1], forced: [0] }))).toEqual([0, 2]);
    expect(() => selectTopK(scores, 1, 4, 2, { disabled: [0, 1, 2] })).toThrow(
      'router: control.disabled expected at least topK=2 experts left enabled, got 1',
    );
  });

  it('applyCapacity fills first choices before second choices', () => {
    // 3 tokens, k=2, all want expert 0 first, expert 1 second; capacity 2
    const { mask, stats } = applyCapacity(Int32Array.from([0, 1, 0, 1, 0, 1]), 3, 2, 2, 2);
    expect(Array.from(mask)).toEqual([1, 1, 1, 1, 0, 0]);
    expect(stats).toEqual({
      tokens: 3,
      load: [2, 2],
      demand: [3, 3],
      droppedAssignments: 2,
      droppedTokens: 1,
      capacity: 2,
    });
  });

  it('expertCapacity is ceil(factor * tokens * k / experts), at least 1', () => {
    expect(expertCapacity(10, 4, 1, 1)).toBe(3);
    expect(expertCapacity(10, 4, 2, 1.25)).toBe(7);
    expect(expertCapacity(1, 64, 1, 0.1)).toBe(1);
  });

  it('checkControl names the block and the bad entry', () => {
    expect(() => checkControl('moh', { forced: [-1] }, 3)).toThrow(
      'moh: control.forced expected experts in [0, 3), got -1',
    );
    expect(() => checkControl('moe', { disabled: [1], forced: [1] }, 3)).toThrow(ConfigError);
  });
});
