/**
 * The V8 flags the binary ships with, read from the Makefile's V8_FLAGS, so
 * the benchmarks measure what `make build` produces.
 *
 * @module
 */

const makefile = Deno.readTextFileSync(new URL("../Makefile", import.meta.url));

/** The value given to `--v8-flags=`, or "none". */
export const SHIPPED_V8_FLAGS: string = /^V8_FLAGS := --v8-flags=(\S+)$/m.exec(makefile)?.[1] ??
  "none";
