/**
 * What every component's contract module shares: the static type of an answer schema, read-only all
 * the way down, so a component's own read-only views satisfy it and the control plane cannot alter
 * what it was told.
 */
import type { Static, TSchema } from '@sinclair/typebox';

/** `T` with every property and array read-only, recursively. */
export type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The type of an answer that follows `schema`. */
export type Answer<S extends TSchema> = DeepReadonly<Static<S>>;
