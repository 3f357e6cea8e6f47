/**
 * Tell the application that the files changed, as consul-template, Vault
 * Agent and spiffe-helper do: a signal to the pid in a pid file (re-read
 * every time, since the application may have restarted), and a command in
 * exec form (no shell; distroless has none). A notification never blocks
 * or fails a refresh: each runs in the background, each outcome is one log
 * line and a count.
 *
 * @module
 */

import { withDeadline } from "./deadline.ts";
import { type Logger, truncate } from "./log.ts";

/** Signals a notification may send. */
export const NOTIFY_SIGNALS = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT"] as const;
/** One of {@linkcode NOTIFY_SIGNALS}. */
export type NotifySignal = typeof NOTIFY_SIGNALS[number];

/** How long a command may run before it is killed. */
export const NOTIFY_COMMAND_TIMEOUT_MS = 10_000;
/** How much of a command's output is logged. */
export const NOTIFY_OUTPUT_BYTES = 512;
/** How much of it is read, to scrub secrets from before cutting. */
const NOTIFY_READ_BYTES = 16 * 1024;

/** The largest pid Linux hands out (pid_max's ceiling, 2^22). */
const PID_MAX = 4_194_304;

/** The largest pid file read. */
const MAX_PID_FILE_BYTES = 64;

/** What to do after the files change. */
export interface NotifyConfig {
  readonly pidFile: string | undefined;
  readonly signal: NotifySignal;
  /** Program and arguments; no shell. */
  readonly command: readonly string[] | undefined;
}

/** Counts of notifications by outcome. */
export interface NotifyCounts {
  readonly success: number;
  readonly failure: number;
}

/** The side effects, injectable for tests. */
export interface NotifyEffects {
  readonly readFile: (path: string) => Promise<Uint8Array>;
  readonly kill: (pid: number, signal: NotifySignal) => void;
  readonly spawn: (argv: readonly string[], env: Record<string, string>) => Deno.ChildProcess;
}

const denoEffects: NotifyEffects = {
  readFile: async (path) => {
    // A FIFO would block the open for as long as nobody writes to it.
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("it is not a regular file");
    const file = await Deno.open(path, { read: true });
    try {
      const buffer = new Uint8Array(MAX_PID_FILE_BYTES);
      const read = await file.read(buffer);
      return buffer.subarray(0, read ?? 0);
    } finally {
      file.close();
    }
  },
  kill: (pid, signal) => Deno.kill(pid, signal),
  spawn: (argv, env) =>
    new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
};

/** Sends the configured notifications for one target. */
export class Notifier {
  readonly #config: NotifyConfig;
  readonly #logger: Logger;
  readonly #effects: NotifyEffects;
  readonly #timeoutMs: number;
  readonly #env: Record<string, string>;
  #counts: NotifyCounts = { success: 0, failure: 0 };
  #running: Promise<void> | undefined;
  #child: Deno.ChildProcess | undefined;
  readonly #signalling = new Set<Promise<void>>();
  #again = false;

  /** Create a notifier; `env` is the whole environment the command gets. */
  constructor(
    config: NotifyConfig,
    logger: Logger,
    options: { effects?: NotifyEffects; timeoutMs?: number; env?: Record<string, string> } = {},
  ) {
    this.#config = config;
    this.#logger = logger;
    this.#effects = options.effects ?? denoEffects;
    this.#timeoutMs = options.timeoutMs ?? NOTIFY_COMMAND_TIMEOUT_MS;
    this.#env = options.env ?? {};
  }

  /** Whether anything is configured. */
  get enabled(): boolean {
    return this.#config.pidFile !== undefined || this.#config.command !== undefined;
  }

  /** Notifications so far, by outcome. */
  get counts(): NotifyCounts {
    return this.#counts;
  }

  /**
   * Notify, in the background. A command still running from the last change
   * runs once more when it ends, never twice at once.
   */
  notify(): void {
    if (this.#config.pidFile !== undefined) {
      const signalling = this.#signal(this.#config.pidFile);
      this.#signalling.add(signalling);
      void signalling.finally(() => this.#signalling.delete(signalling));
    }
    if (this.#config.command === undefined) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#runCommand(this.#config.command).finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.notify();
      }
    });
  }

  /** Wait for a running command, for tests and shutdown. */
  async settled(): Promise<void> {
    await Promise.all(this.#signalling);
    while (this.#running !== undefined) await this.#running;
  }

  /** Kill a running command (shutdown): it is not left behind. */
  stop(): void {
    try {
      this.#child?.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  #count(ok: boolean): void {
    this.#counts = ok
      ? { ...this.#counts, success: this.#counts.success + 1 }
      : { ...this.#counts, failure: this.#counts.failure + 1 };
  }

  async #signal(pidFile: string): Promise<void> {
    const signal = this.#config.signal;
    let pid: number;
    try {
      // A read of a hung file system never piles up.
      const read = withDeadline(
        this.#effects.readFile(pidFile),
        2000,
        () => new Error("no answer within 2 s"),
      );
      const text = new TextDecoder().decode(await read).trim();
      if (!/^\d{1,7}$/.test(text)) throw new Error(`it holds no pid`);
      pid = Number(text);
      // 0 would signal our own process group, 1 the pod's pause or init
      // process; Linux pids never exceed 2^22 (a larger number would wrap).
      if (pid <= 1 || pid > PID_MAX) {
        throw new Error(`it holds pid ${pid}, which is never the application`);
      }
      if (pid === Deno.pid) throw new Error(`it holds this process's own pid`);
    } catch (error) {
      this.#count(false);
      this.#logger.warn("notify failed: cannot read the pid file", {
        pid_file: pidFile,
        reason: error instanceof Error ? error.message : String(error),
      });
      return;
    }
    try {
      this.#effects.kill(pid, signal);
      this.#count(true);
      this.#logger.info("notified", { pid, signal });
    } catch (error) {
      this.#count(false);
      const reason = error instanceof Deno.errors.NotFound
        ? "no such process"
        : error instanceof Error
        ? error.message
        : String(error);
      this.#logger.warn("notify failed: cannot signal the process", { pid, signal, reason });
    }
  }

  async #runCommand(argv: readonly string[]): Promise<void> {
    let child: Deno.ChildProcess;
    try {
      child = this.#effects.spawn(argv, this.#env);
    } catch (error) {
      this.#count(false);
      this.#logger.warn("notify command failed to start", {
        command: argv[0],
        reason: error instanceof Error ? error.message : String(error),
      });
      return;
    }
    this.#child = child;
    let timedOut = false;
    // After the command exits (or is killed), a child it left behind may
    // still hold the pipes open: stop reading shortly after.
    const stopReading = new AbortController();
    void child.status.then(() => setTimeout(() => stopReading.abort(), 100));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      setTimeout(() => stopReading.abort(), 100);
    }, this.#timeoutMs);
    const [status, stdout, stderr] = await Promise.all([
      child.status,
      head(child.stdout, NOTIFY_READ_BYTES, stopReading.signal),
      head(child.stderr, NOTIFY_READ_BYTES, stopReading.signal),
    ]);
    clearTimeout(timer);
    this.#child = undefined;
    // Scrubbed whole, then cut: a secret at the cut leaves no fragment.
    const output = truncate(
      this.#logger.scrub([stdout, stderr].filter((text) => text !== "").join(" | ")),
      NOTIFY_OUTPUT_BYTES,
    );
    const ok = status.success && !timedOut;
    this.#count(ok);
    const fields = {
      command: argv[0],
      exit_code: timedOut ? undefined : status.code,
      signal: status.signal ?? undefined,
      output: output === "" ? undefined : output,
    };
    if (ok) this.#logger.info("notify command succeeded", fields);
    else if (timedOut) {
      this.#logger.warn(`notify command killed after ${this.#timeoutMs} ms`, fields);
    } else this.#logger.warn("notify command failed", fields);
  }
}

/**
 * The first `limit` bytes of a stream as text; the rest is read and dropped,
 * until the stream ends or `signal` aborts.
 */
async function head(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  signal: AbortSignal,
): Promise<string> {
  const kept = new Uint8Array(limit);
  let size = 0;
  let more = false;
  const reader = stream.getReader();
  const onAbort = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value: chunk } = await reader.read().catch(() => ({
        done: true,
        value: undefined,
      }));
      if (done || chunk === undefined) break;
      const room = limit - size;
      if (chunk.byteLength > room) more = true;
      kept.set(chunk.subarray(0, Math.max(0, room)), size);
      size += Math.min(room, chunk.byteLength);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  const text = new TextDecoder().decode(kept.subarray(0, size)).trim();
  return more ? text + "…" : text;
}

/**
 * A command in exec form from a variable or flag: a JSON array of strings,
 * or words separated by blanks (no quoting, no shell).
 *
 * @returns `undefined` when `text` is neither
 */
export function parseCommand(text: string): string[] | undefined {
  let argv: unknown;
  if (text.trimStart().startsWith("[")) {
    try {
      argv = JSON.parse(text);
    } catch {
      return undefined;
    }
  } else {
    argv = text.trim().split(/\s+/);
  }
  if (!Array.isArray(argv) || argv.length === 0) return undefined;
  if (!argv.every((a) => typeof a === "string") || argv[0] === "") return undefined;
  return argv as string[];
}
