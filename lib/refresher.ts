/**
 * The refresh loop: fetch, write, schedule the next refresh before expiry,
 * back off on failure, and keep the state that health and metrics report.
 * Time, fetch and write are injected, so the loop runs in tests without
 * real time, sockets or files.
 *
 * @module
 */

import { type Credentials, millisecondsUntilExpiry } from "./credentials.ts";
import { type Clock, systemClock } from "./clock.ts";
import { type Logger, truncate } from "./log.ts";

export { type Clock, systemClock } from "./clock.ts";

/** Shortest wait before a refresh driven by expiry, so a source that keeps handing out nearly expired credentials cannot cause a hot loop. */
export const MIN_REFRESH_DELAY_MS = 5_000;
/** Longest wait between retries after a failure. */
export const MAX_BACKOFF_MS = 30_000;
/** First retry delay after a failure. */
export const BASE_BACKOFF_MS = 1_000;
/** Fraction of a scheduled delay removed at random, so a fleet does not refresh in lockstep. */
export const JITTER_FRACTION = 0.1;
/** Retry delay while no valid credentials are held: a late source is seen within this. */
export const NO_CREDENTIALS_RETRY_MS = 250;
/** While failures repeat every {@linkcode NO_CREDENTIALS_RETRY_MS}, one log line per this. */
export const FAILURE_LOG_INTERVAL_MS = 10_000;
/** How often the files are checked for our section while the loop waits. */
export const VERIFY_INTERVAL_MS = 2_000;
/** The lead before expiry never exceeds this fraction of the credentials' lifetime. */
export const MAX_LEAD_FRACTION = 0.5;

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
 * The lead before expiry actually used: `REFRESH_BEFORE_EXPIRY`, capped at
 * {@linkcode MAX_LEAD_FRACTION} of the time left, so a lead at or above the
 * credentials' lifetime cannot make every refresh due at once.
 */
export function effectiveLeadMs(
  input: Pick<ScheduleInput, "now" | "expiration" | "beforeExpiryMs">,
): number {
  return Math.min(
    input.beforeExpiryMs,
    Math.max(0, input.expiration - input.now) * MAX_LEAD_FRACTION,
  );
}

/**
 * Milliseconds until the next refresh after a success: the earlier of the
 * interval and the lead ({@linkcode effectiveLeadMs}) before expiry, never
 * below {@linkcode MIN_REFRESH_DELAY_MS} for the expiry-driven part, less up
 * to {@linkcode JITTER_FRACTION} of jitter. Jitter only ever makes it earlier.
 */
export function nextRefreshDelayMs(input: ScheduleInput): number {
  const untilWindow = input.expiration - effectiveLeadMs(input) - input.now;
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
  /** Rewrites after another writer removed or changed our section. */
  readonly repairs: number;
  /** Set while the files are found not to hold our credentials; safe to show. */
  readonly filesProblem: string | undefined;
  /** {@linkcode Clock.monotonic} at `attemptStartedAt`, for liveness across clock jumps. */
  readonly attemptStartedMonotonic: number | undefined;
  /** {@linkcode Clock.monotonic} at `nextAttemptAt`. */
  readonly nextAttemptMonotonic: number | undefined;
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
    repairs: 0,
    filesProblem: undefined,
    attemptStartedMonotonic: undefined,
    nextAttemptMonotonic: undefined,
  };
}

/** What the refresher calls to do its work. */
export interface RefresherOptions {
  /** Fetch and validate credentials. Errors' messages must be safe to log. */
  readonly fetchCredentials: (signal: AbortSignal) => Promise<Credentials>;
  /**
   * Write them to the files; returns what happened to each file, such as
   * `{ credentials: "written", config: "unchanged" }`, for the log.
   * `signal` aborts a wait for another writer's lock (shutdown).
   */
  readonly writeCredentials: (
    credentials: Credentials,
    signal: AbortSignal,
  ) => Promise<Readonly<Record<string, string>>>;
  /**
   * Whether the files still hold `credentials`: `undefined` when they do,
   * else a short reason. When given, it is called every
   * {@linkcode VERIFY_INTERVAL_MS} while the loop waits, and a failed check
   * rewrites the files at once (a repair).
   */
  readonly verifyFiles?: (credentials: Credentials) => Promise<string | undefined>;
  /** Default {@linkcode VERIFY_INTERVAL_MS}. */
  readonly verifyIntervalMs?: number;
  readonly intervalSeconds: number;
  readonly refreshBeforeExpirySeconds: number;
  readonly logger: Logger;
  /** Default {@linkcode systemClock}. */
  readonly clock?: Clock;
  /** Default `Math.random`. */
  readonly random?: () => number;
}

/** `credentials:written,config:unchanged`: one log field for a write's outcome. */
function describeOutcome(outcome: Readonly<Record<string, string>>): string {
  return Object.entries(outcome).map(([file, result]) => `${file}:${result}`).join(",");
}

/** Reasons shown by /readyz and logged stay short, whatever a server sent. */
const MAX_REASON_LENGTH = 512;

function bounded(reason: string): string {
  return truncate(reason, MAX_REASON_LENGTH);
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
  #repairRequested = false;
  /** The credentials in the files, for repairs. */
  #current: Credentials | undefined;
  /** Monotonic time of the last failure line written, while lines are throttled. */
  #lastFailureLogAt: number | undefined;
  #suppressedFailures = 0;
  #leadCapLogged = false;
  /** The credentials whose repair failed or found nothing to write; not repaired again. */
  #repairGaveUpOn: Credentials | undefined;
  /** Set by {@linkcode run}, whose fast retries would otherwise log four lines a second. */
  #throttleFailureLogs = false;

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

  /** Whether the files hold credentials that have not expired. */
  #holdsValid(): boolean {
    return this.#state.expiration !== undefined && this.#state.expiration > this.#clock.now();
  }

  /**
   * One attempt: fetch, then write. Logs the outcome and updates the state.
   *
   * @returns whether fresh credentials are in the files
   */
  async refreshOnce(signal: AbortSignal): Promise<boolean> {
    const startedAt = this.#clock.now();
    this.#state = {
      ...this.#state,
      attemptStartedAt: startedAt,
      attemptStartedMonotonic: this.#clock.monotonic(),
      nextAttemptAt: undefined,
      nextAttemptMonotonic: undefined,
    };
    const logger = this.#options.logger;
    try {
      const credentials = await this.#options.fetchCredentials(signal);
      // The write goes ahead even if shutdown began meanwhile: it is short,
      // and finishing it leaves no temp file behind. Only a wait for another
      // writer's lock is cut short.
      const outcome = await this.#options.writeCredentials(credentials, signal);
      const now = this.#clock.now();
      this.#current = credentials;
      this.#state = {
        ...this.#state,
        attemptStartedAt: undefined,
        attemptStartedMonotonic: undefined,
        lastSuccessAt: now,
        expiration: credentials.expiration.getTime(),
        successes: this.#state.successes + 1,
        consecutiveFailures: 0,
        lastError: undefined,
        filesProblem: undefined,
      };
      if (this.#suppressedFailures > 0) {
        logger.info("recovered", { failures_not_logged: this.#suppressedFailures });
      }
      this.#lastFailureLogAt = undefined;
      this.#suppressedFailures = 0;
      logger.info("refreshed", {
        access_key_id: credentials.accessKeyId,
        expiration: credentials.expiration.toISOString(),
        files: describeOutcome(outcome),
      });
      this.#checkLead(credentials, now);
      return true;
    } catch (error) {
      this.#state = {
        ...this.#state,
        attemptStartedAt: undefined,
        attemptStartedMonotonic: undefined,
      };
      if (signal.aborted) return false;
      // The reason is shown by /readyz too, not only logged.
      const reason = bounded(logger.scrub(messageOf(error)));
      this.#state = {
        ...this.#state,
        failures: this.#state.failures + 1,
        consecutiveFailures: this.#state.consecutiveFailures + 1,
        lastError: reason,
      };
      if (this.#shouldLogFailure()) {
        logger.error("refresh failed", {
          reason,
          consecutive_failures: this.#state.consecutiveFailures > 1
            ? this.#state.consecutiveFailures
            : undefined,
        });
      }
      return false;
    }
  }

  // Without valid credentials the loop retries every 250 ms: log the first
  // failure, then one line per FAILURE_LOG_INTERVAL_MS.
  #shouldLogFailure(): boolean {
    if (!this.#throttleFailureLogs || this.#holdsValid()) return true;
    const now = this.#clock.monotonic();
    if (
      this.#lastFailureLogAt !== undefined && now - this.#lastFailureLogAt < FAILURE_LOG_INTERVAL_MS
    ) {
      this.#suppressedFailures++;
      return false;
    }
    this.#lastFailureLogAt = now;
    return true;
  }

  #checkLead(credentials: Credentials, now: number): void {
    const lifetimeMs = millisecondsUntilExpiry(credentials, new Date(now));
    const beforeExpiryMs = this.#options.refreshBeforeExpirySeconds * 1000;
    const lead = effectiveLeadMs({
      now,
      expiration: credentials.expiration.getTime(),
      beforeExpiryMs,
    });
    if (lead < beforeExpiryMs && !this.#leadCapLogged) {
      this.#leadCapLogged = true;
      this.#options.logger.warn(
        "credentials expire sooner than REFRESH_BEFORE_EXPIRY; refreshing at half their lifetime instead",
        {
          expires_in_seconds: Math.floor(lifetimeMs / 1000),
          lead_seconds: Math.floor(lead / 1000),
        },
      );
    }
  }

  /** Refresh until `signal` aborts, then resolve. Never rejects, never gives up. */
  async run(signal: AbortSignal): Promise<void> {
    this.#throttleFailureLogs = true;
    const verifier = this.#options.verifyFiles === undefined ? undefined : this.#verifyLoop(signal);
    while (!signal.aborted) {
      this.#wakeRequested = false;
      const ok = await this.refreshOnce(signal);
      if (signal.aborted) break;
      const delay = ok ? this.#successDelay() : this.#failureDelay();
      const nextAttemptAt = this.#clock.now() + delay;
      this.#state = {
        ...this.#state,
        nextAttemptAt,
        nextAttemptMonotonic: this.#clock.monotonic() + delay,
      };
      const until = new Date(nextAttemptAt).toISOString();
      if (ok) this.#options.logger.debug("next refresh scheduled", { at: until });
      else if (this.#holdsValid()) {
        this.#options.logger.warn("backing off", {
          until,
          consecutive_failures: this.#state.consecutiveFailures,
        });
      }
      if (this.#wakeRequested) continue;
      await this.#sleepUnlessWoken(delay, signal);
      // A repair rewrites the files, then the wait goes on to the same due time.
      while (this.#repairRequested && !this.#wakeRequested && !signal.aborted) {
        this.#repairRequested = false;
        await this.#repair(signal);
        const left = Math.min(
          nextAttemptAt - this.#clock.now(),
          this.#state.nextAttemptMonotonic! - this.#clock.monotonic(),
        );
        if (left <= 0) break;
        await this.#sleepUnlessWoken(left, signal);
      }
    }
    await verifier;
  }

  async #verifyLoop(signal: AbortSignal): Promise<void> {
    const verify = this.#options.verifyFiles!;
    while (!signal.aborted) {
      await this.#clock.sleep(this.#options.verifyIntervalMs ?? VERIFY_INTERVAL_MS, signal);
      const current = this.#current;
      if (signal.aborted || current === undefined || this.#state.attemptStartedAt !== undefined) {
        continue;
      }
      if (!this.#holdsValid()) continue;
      let problem: string | undefined;
      try {
        problem = await verify(current);
      } catch (error) {
        problem = messageOf(error);
      }
      if (this.#current !== current) continue;
      if (problem === undefined) {
        if (this.#state.filesProblem !== undefined) {
          this.#state = { ...this.#state, filesProblem: undefined };
        }
        continue;
      }
      problem = bounded(this.#options.logger.scrub(problem));
      this.#state = { ...this.#state, filesProblem: problem };
      // One repair per set of credentials that failed or found nothing to
      // do: no write and no log line every few seconds, forever.
      if (this.#repairGaveUpOn === current) continue;
      this.#repairRequested = true;
      this.#wake.abort();
    }
  }

  async #repair(signal: AbortSignal): Promise<void> {
    const credentials = this.#current;
    if (credentials === undefined || !this.#holdsValid()) return;
    const logger = this.#options.logger;
    const reason = this.#state.filesProblem;
    try {
      const outcome = await this.#options.writeCredentials(credentials, signal);
      if (!Object.values(outcome).includes("written")) {
        // Nothing to rewrite: another writer was midway, and is done now.
        this.#repairGaveUpOn = credentials;
        this.#state = { ...this.#state, filesProblem: undefined };
        logger.debug("files already hold our section again", { reason });
        return;
      }
      this.#state = { ...this.#state, repairs: this.#state.repairs + 1, filesProblem: undefined };
      logger.warn("repaired files changed by another writer", {
        reason,
        files: describeOutcome(outcome),
      });
    } catch (error) {
      if (signal.aborted) return;
      this.#repairGaveUpOn = credentials;
      const failure = bounded(logger.scrub(messageOf(error)));
      this.#state = { ...this.#state, filesProblem: `${reason}; repair failed: ${failure}` };
      logger.error("repair failed; next try at the next refresh", { reason, error: failure });
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
    if (this.#repairRequested) wake.abort();
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
    if (!this.#holdsValid()) return NO_CREDENTIALS_RETRY_MS;
    return backoffDelayMs(
      this.#state.consecutiveFailures,
      this.#options.intervalSeconds * 1000,
      this.#random(),
    );
  }
}
