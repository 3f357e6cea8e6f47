/**
 * The helper process as the benchmarks run it: deno.json's permission set
 * and the shipped V8 flags, a clean environment, stderr drained so it never
 * blocks on a full pipe; and a stop that escalates to SIGKILL.
 *
 * @module
 */

import { join } from "node:path";
import { DENO_RUN_ARGS, ROOT } from "../tests/helpers.ts";

/** A running helper. */
export interface BenchHelper {
  readonly child: Deno.ChildProcess;
  /** Its stderr lines, the last `keepLines` of them. */
  readonly lines: string[];
  exited: boolean;
  readonly drained: Promise<void>;
}

/** Start `main.ts` with `args` and exactly `env` (plus PATH and DENO_DIR). */
export function spawnBenchHelper(
  args: readonly string[],
  env: Record<string, string>,
  denoDir: string,
  keepLines = Number.POSITIVE_INFINITY,
): BenchHelper {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_RUN_ARGS, join(ROOT, "main.ts"), ...args],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DENO_DIR: denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      ...env,
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const drained = (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stderr) {
      buffered += decoder.decode(chunk, { stream: true });
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      lines.push(...parts);
      if (lines.length > keepLines) lines.splice(0, lines.length - keepLines);
    }
  })();
  const helper: BenchHelper = { child, lines, exited: false, drained };
  child.status.then(() => helper.exited = true);
  return helper;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: Deno.ChildProcess, graceMs: number): Promise<void> {
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  };
  kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    child.status.then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
  ]);
  clearTimeout(timer);
  if (!exited) {
    kill("SIGKILL");
    await child.status;
  }
}
