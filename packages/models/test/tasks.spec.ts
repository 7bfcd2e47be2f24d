import { Rng } from '@attnkit/core';
import {
  CopyTask,
  MqarTask,
  PasskeyTask,
  SelectiveCopyTask,
  SortingTask,
  answerAccuracy,
  createTask,
  listTasks,
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
    for (const name of listTasks()) {
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
