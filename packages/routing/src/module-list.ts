import { Module } from '@attnkit/core';

/** An indexed list of child modules; parameters appear as `0.…`, `1.…`. */
export class ModuleList<M extends Module = Module> extends Module<{ length: number }> {
  readonly items: readonly M[];

  constructor(items: M[]) {
    super({ length: items.length });
    items.forEach((m, i) => this.addModule(String(i), m));
    this.items = items;
  }
}
