/**
 * The refresh loop: fetch, write, schedule the next refresh before expiry,
 * back off on failure, and keep the state that health and metrics report.
 * Time, fetch and write are injected, so the loop runs in tests without
 * real time, sockets or files.
 *
 * @module
 */

import { type Credentials, millisecondsUntilExpiry } from "./credentials.ts";
import type { Logger } from "./log.ts";

/** Shortest wait before a refresh driven by expiry, so a source that keeps handing out nearly expired credentials cannot cause a hot loop. */
export const MIN_REFRESH_DELAY_MS = 5_000;
/** Longest wait between retries after a failure. */
export const MAX_BACKOFF_MS = 30_000;
/** First retry delay after a failure. */
export const BASE_BACKOFF_MS = 1_000;
/** Fraction of a scheduled delay removed at random, so a fleet does not refresh in lockstep. */
export const JITTER_FRACTION = 0.1;

/** Inputs of {@linkcode nextRefreshDelayMs}. */
export interface ScheduleInput {
  /** Current time, epoch ms. */
  readonly now: number;
  /** When the written credentials expire, epoch ms. */
  readonly expiration: number;
  /** `AWS_REFRESH_INTERVAL` in ms. */
  readonly intervalMs: number;
  /** `REFRESH_BEFORE_EXPIRY` in ms. */
  readonly beforeExpiryMs: number;
  /** A number in [0, 1). */
  readonly random: number;
}

/**
 * Milliseconds until the next refresh after a success: the earlier of the
 * interval and `REFRESH_BEFORE_EXPIRY` before expiry, never below
 * {@linkcode MIN_REFRESH_DELAY_MS} for the expiry-driven part, less up to
 * {@linkcode JITTER_FRACTION} of jitter. Jitter only ever makes it earlier.
 */
export function nextRefreshDelayMs(input: ScheduleInput): number {
  const untilWindow = input.expiration - input.beforeExpiryMs - input.now;
  const base = Math.min(input.intervalMs, Math.max(untilWindow, MIN_REFRESH_DELAY_MS));
  return Math.max(1, Math.round(base * (1 - JITTER_FRACTION * input.random)));
}

/**
 * Milliseconds to wait after the `failures`-th consecutive failure:
 * exponential from {@linkcode BASE_BACKOFF_MS}, capped at the smaller of
 * {@linkcode MAX_BACKOFF_MS} and the interval, with "equal jitter" (between
 * half and all of the step).
 */
export function backoffDelayMs(failures: number, intervalMs: number, random: number): number {
  const cap = Math.max(BASE_BACKOFF_MS, Math.min(MAX_BACKOFF_MS, intervalMs));
  const step = Math.min(cap, BASE_BACKOFF_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(step / 2 + (step / 2) * random);
}

/** Time, behind an interface so tests can run the loop instantly. */
export interface Clock {
  /** Epoch ms. */
  now(): number;
  /** Resolve after `ms`, or early when `signal` aborts. Never rejects. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    }),
};

/** A read-only view of the loop's state, for health and metrics. */
export interface RefreshState {
  /** When the loop started, epoch ms. */
  readonly startedAt: number;
  /** When the current attempt began, or `undefined` between attempts. */
  readonly attemptStartedAt: number | undefined;
  /** When the next attempt is due, or `undefined` during an attempt. */
  readonly nextAttemptAt: number | undefined;
  readonly lastSuccessAt: number | undefined;
  /** Expiry of the credentials in the files, epoch ms; `undefined` before the first write. */
  readonly expiration: number | undefined;
  readonly successes: number;
  readonly failures: number;
  readonly consecutiveFailures: number;
  /** Why the last attempt failed; safe to show. */
  readonly lastError: string | undefined;
}

/** The state of a loop that started at `startedAt` and has done nothing yet. */
export function initialRefreshState(startedAt: number): RefreshState {
  return {
    startedAt,
    attemptStartedAt: undefined,
    nextAttemptAt: undefined,
    lastSuccessAt: undefined,
    expiration: undefined,
    successes: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastError: undefined,
  };
}

/** What the refresher calls to do its work. */
export interface RefresherOptions {
  /** Fetch and validate credentials. Errors' messages must be safe to log. */
  readonly fetchCredentials: (signal: AbortSignal) => Promise<Credentials>;
  /** Write them to the files; returns a short description for the log. */
  readonly writeCredentials: (credentials: Credentials) => Promise<string>;
  readonly intervalSeconds: number;
  readonly refreshBeforeExpirySeconds: number;
  readonly logger: Logger;
  /** Default {@linkcode systemClock}. */
  readonly clock?: Clock;
  /** Default `Math.random`. */
  readonly random?: () => number;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs refreshes on schedule and records their outcome. */
export class Refresher {
  readonly #options: RefresherOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  #state: RefreshState;
  #wake: AbortController = new AbortController();
  #wakeRequested = false;

  /** Create a refresher; nothing happens until {@linkcode run} or {@linkcode refreshOnce}. */
  constructor(options: RefresherOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#state = initialRefreshState(this.#clock.now());
  }

  /** The current state. The object is replaced, never mutated, so it is safe to keep. */
  get state(): RefreshState {
    return this.#state;
  }

  /** Cut the current wait short (SIGHUP). During an attempt, another follows at once. */
  refreshNow(): void {
    this.#wakeRequested = true;
    this.#wake.abort();
  }

  /**
   * One attempt: fetch, then write. Logs the outcome and updates the state.
   *
   * @returns whether fresh credentials are in the files
   */
  async refreshOnce(signal: AbortSignal): Promise<boolean> {
    const startedAt = this.#clock.now();
    this.#state = { ...this.#state, attemptStartedAt: startedAt, nextAttemptAt: undefined };
    const logger = this.#options.logger;
    try {
      const credentials = await this.#options.fetchCredentials(signal);
      // The write goes ahead even if shutdown began meanwhile: it is short,
      // and finishing it leaves no temp file behind.
      const outcome = await this.#options.writeCredentials(credentials);
      const now = this.#clock.now();
      this.#state = {
        ...this.#state,
        attemptStartedAt: undefined,
        lastSuccessAt: now,
        expiration: credentials.expiration.getTime(),
        successes: this.#state.successes + 1,
        consecutiveFailures: 0,
        lastError: undefined,
      };
      logger.info("refreshed", {
        access_key_id: credentials.accessKeyId,
        expiration: credentials.expiration.toISOString(),
        files: outcome,
      });
      const lifetimeMs = millisecondsUntilExpiry(credentials, new Date(now));
      if (lifetimeMs < this.#options.refreshBeforeExpirySeconds * 1000) {
        logger.warn("credentials expire sooner than REFRESH_BEFORE_EXPIRY", {
          expires_in_seconds: Math.floor(lifetimeMs / 1000),
        });
      }
      return true;
    } catch (error) {
      this.#state = { ...this.#state, attemptStartedAt: undefined };
      if (signal.aborted) return false;
      const reason = messageOf(error);
      this.#state = {
        ...this.#state,
        failures: this.#state.failures + 1,
        consecutiveFailures: this.#state.consecutiveFailures + 1,
        lastError: reason,
      };
      logger.error("refresh failed", { reason });
      return false;
    }
  }

  /** Refresh until `signal` aborts, then resolve. Never rejects, never gives up. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.#wakeRequested = false;
      const ok = await this.refreshOnce(signal);
      if (signal.aborted) break;
      const delay = ok ? this.#successDelay() : this.#failureDelay();
      const nextAttemptAt = this.#clock.now() + delay;
      this.#state = { ...this.#state, nextAttemptAt };
      const until = new Date(nextAttemptAt).toISOString();
      if (ok) this.#options.logger.debug("next refresh scheduled", { at: until });
      else {
        this.#options.logger.warn("backing off", {
          until,
          consecutive_failures: this.#state.consecutiveFailures,
        });
      }
      if (this.#wakeRequested) continue;
      await this.#sleepUnlessWoken(delay, signal);
    }
  }

  /**
   * Up to `attempts` tries with backoff between them, for `once`.
   *
   * @returns whether the files were written
   */
  async runOnce(signal: AbortSignal, attempts: number): Promise<boolean> {
    for (let attempt = 1; attempt <= attempts && !signal.aborted; attempt++) {
      if (await this.refreshOnce(signal)) return true;
      if (attempt < attempts) {
        const delay = backoffDelayMs(attempt, this.#options.intervalSeconds * 1000, this.#random());
        this.#options.logger.warn("retrying", {
          in_ms: delay,
          attempt: attempt + 1,
          of: attempts,
        });
        await this.#clock.sleep(delay, signal);
      }
    }
    return false;
  }

  // One controller per wait, aborted by stop or by refreshNow(). It is not
  // built with AbortSignal.any, whose dependents pile up on the long-lived
  // stop signal, one per wait (visible as RSS growth at a 1 s interval).
  async #sleepUnlessWoken(delay: number, stop: AbortSignal): Promise<void> {
    const wake = new AbortController();
    this.#wake = wake;
    const onStop = () => wake.abort();
    stop.addEventListener("abort", onStop, { once: true });
    if (stop.aborted) wake.abort();
    try {
      await this.#clock.sleep(delay, wake.signal);
    } finally {
      stop.removeEventListener("abort", onStop);
    }
  }

  #successDelay(): number {
    return nextRefreshDelayMs({
      now: this.#clock.now(),
      expiration: this.#state.expiration ?? this.#clock.now(),
      intervalMs: this.#options.intervalSeconds * 1000,
      beforeExpiryMs: this.#options.refreshBeforeExpirySeconds * 1000,
      random: this.#random(),
    });
  }

  #failureDelay(): number {
    return backoffDelayMs(
      this.#state.consecutiveFailures,
      this.#options.intervalSeconds * 1000,
      this.#random(),
    );
  }
}
