/**
 * Time, behind one interface used everywhere (the loop, the clients, the
 * logger, the health handler), so tests run without real time.
 *
 * @module
 */

/** The longest single timer: waits are re-checked against the wall clock this often. */
export const WALL_CHECK_MS = 1_000;

/** Time, behind an interface so tests can run the loop instantly. */
export interface Clock {
  /** Wall clock, epoch ms. */
  now(): number;
  /** Monotonic ms from an arbitrary origin; never jumps with the wall clock. */
  monotonic(): number;
  /**
   * Resolve once `ms` have passed on the monotonic clock or on the wall
   * clock, whichever comes first (a suspend or a clock step forward ends the
   * wait early), or when `signal` aborts. Never rejects.
   */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * The real clock. Timers run on the monotonic clock, which stands still
 * while a VM is suspended; so a wait is cut into slices of at most
 * {@linkcode WALL_CHECK_MS} and ends when the wall clock says it is due.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const wallDue = Date.now() + ms;
      const monotonicDue = performance.now() + ms;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const slice = () => {
        const left = Math.min(wallDue - Date.now(), monotonicDue - performance.now());
        if (left <= 0) return done();
        timer = setTimeout(slice, Math.min(left, WALL_CHECK_MS));
      };
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
      slice();
    }),
};
