import { Rng } from '@attnkit/core';
import {
  CopyTask,
  InductionTask,
  MqarTask,
  PasskeyTask,
  SelectiveCopyTask,
  SortingTask,
  answerAccuracy,
  createTask,
  listTasks,
  taskKind,
  makeBatch,
} from '@attnkit/models';

describe('synthetic tasks', () => {
  it('MQAR: each answer is the value paired with the queried key', () => {
    const task = new MqarTask({ numPairs: 4, numKeys: 8, numValues: 8 });
    const { tokens, answers } = task.sample(new Rng(1));
    expect(tokens).toHaveLength(task.seqLen + 1);
    const pairs = new Map<number, number>();
    for (let i = 0; i < 8; i += 2) pairs.set(tokens[i]!, tokens[i + 1]!);
    expect(pairs.size).toBe(4);
    for (const a of answers) expect(tokens[a]).toBe(pairs.get(tokens[a - 1]!));
    for (const t of tokens) expect(t).toBeLessThan(task.vocabSize);
  });

  it("MQAR with totalLength: Zoology's layout, queries spread over the gaps, answers unchanged", () => {
    const task = new MqarTask({ numPairs: 4, numKeys: 8, numValues: 8, totalLength: 40 });
    expect(task.seqLen).toBe(39);
    const gaps = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const { tokens, answers } = task.sample(new Rng(seed));
      expect(tokens).toHaveLength(40);
      const pairs = new Map<number, number>();
      for (let i = 0; i < 8; i += 2) pairs.set(tokens[i]!, tokens[i + 1]!);
      expect(answers).toHaveLength(4);
      for (const a of answers) expect(tokens[a]).toBe(pairs.get(tokens[a - 1]!));
      // Every token after the pairs is a query, its answer, or the filler 0.
      const asked = new Set(answers.flatMap((a) => [a - 1, a]));
      for (let i = 8; i < 40; i++) if (!asked.has(i)) expect(tokens[i]).toBe(0);
      gaps.add(answers[0]! - 9);
    }
    // Where the first query lands varies (not always right after the pairs).
    expect(gaps.size).toBeGreaterThan(3);
    expect(() => new MqarTask({ numPairs: 4, numKeys: 8, numValues: 8, totalLength: 15 })).toThrow(
      /totalLength/,
    );
  });

  it('MQAR without totalLength is unchanged: queries follow the pairs', () => {
    const task = new MqarTask({ numPairs: 3, numKeys: 8, numValues: 8 });
    const { tokens, answers } = task.sample(new Rng(4));
    expect(tokens).toHaveLength(12);
    expect(answers).toEqual([7, 9, 11]);
  });

  it('induction: the answer is the token after the first trigger', () => {
    const task = new InductionTask({ length: 16, numSymbols: 6 });
    for (let seed = 0; seed < 10; seed++) {
      const { tokens, answers } = task.sample(new Rng(seed));
      expect(tokens).toHaveLength(16);
      expect(answers).toEqual([15]);
      const first = tokens.indexOf(1);
      expect(first).toBeLessThan(13);
      expect(tokens.lastIndexOf(1)).toBe(14);
      expect(tokens.filter((t) => t === 1)).toHaveLength(2);
      expect(tokens[15]).toBe(tokens[first + 1]);
    }
    expect(() => new InductionTask({ length: 3, numSymbols: 6 })).toThrow(/length/);
  });

  it('copy, sorting and selective copy put the expected answers', () => {
    const rng = new Rng(2);
    const copy = new CopyTask({ length: 5, numSymbols: 4 }).sample(rng);
    expect(copy.answers.map((a) => copy.tokens[a])).toEqual(copy.tokens.slice(0, 5));
    const sort = new SortingTask({ length: 6, numSymbols: 9 }).sample(rng);
    const xs = sort.tokens.slice(0, 6).sort((a, b) => a - b);
    expect(sort.answers.map((a) => sort.tokens[a])).toEqual(xs);
    const sel = new SelectiveCopyTask({ numTokens: 3, regionLength: 10, numSymbols: 5 }).sample(
      rng,
    );
    const data = sel.tokens.slice(0, 10).filter((t) => t !== 2);
    expect(sel.answers.map((a) => sel.tokens[a])).toEqual(data);
  });

  it('passkey: the answers repeat the digits after the key marker', () => {
    const task = new PasskeyTask({ contextLength: 12, passkeyLength: 3 });
    const { tokens, answers } = task.sample(new Rng(3));
    const at = tokens.indexOf(1);
    expect(answers.map((a) => tokens[a])).toEqual(tokens.slice(at + 1, at + 4));
    expect(tokens).toHaveLength(task.seqLen + 1);
  });

  it('is seeded: the same seed gives the same batch', () => {
    const task = createTask('mqar');
    const a = makeBatch(task, new Rng(5), 3);
    const b = makeBatch(task, new Rng(5), 3);
    expect(Array.from(a.inputs)).toEqual(Array.from(b.inputs));
    expect(Array.from(a.inputs)).not.toEqual(Array.from(makeBatch(task, new Rng(6), 3).inputs));
  });

  it('accuracy counts only answer positions', () => {
    for (const name of listTasks().filter((t) => taskKind(t) === 'tokens')) {
      const task = createTask(name);
      const batch = makeBatch(task, new Rng(7), 4);
      expect(answerAccuracy(batch.targets, batch)).toBe(1);
      const wrong = batch.targets.map((t, i) => (batch.weights[i] ? t + 1 : t));
      expect(answerAccuracy(wrong, batch)).toBe(0);
      const nonAnswer = batch.targets.map((t, i) => (batch.weights[i] ? t : t + 1));
      expect(answerAccuracy(nonAnswer, batch)).toBe(1);
    }
  });

  it('rejects bad sizes with the option name', () => {
    expect(() => new MqarTask({ numPairs: 5, numKeys: 3, numValues: 4 })).toThrow(/numKeys/);
    expect(() => createTask('nope')).toThrow(/'mqar'/);
  });
});
