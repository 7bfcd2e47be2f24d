import { State } from '@attnkit/core';

/** The state of a mixer that needs no memory of past tokens: it only counts them. */
export class StepCounter extends State {}
