/**
 * Deadlines for work that takes a signal, and for work that cannot be
 * cancelled at all (a blocked file read).
 *
 * @module
 */

let timersWarm = false;

/**
 * Call `onExpire` after `ms` unless the returned function cancels it first.
 *
 * The first deadline of a process uses AbortSignal.timeout, because the
 * first setTimeout costs 7-18 ms (Deno sets its timers up lazily), which
 * would delay the first write. Later ones use setTimeout, which a cancel
 * removes outright: an AbortSignal.timeout timer lives on until it fires,
 * which the soak measures as megabytes at a refresh every 5 ms.
 */
export function deadline(ms: number, onExpire: () => void): () => void {
  if (!timersWarm) {
    timersWarm = true;
    const signal = AbortSignal.timeout(ms);
    signal.addEventListener("abort", onExpire, { once: true });
    return () => signal.removeEventListener("abort", onExpire);
  }
  const timer = setTimeout(onExpire, ms);
  return () => clearTimeout(timer);
}

/**
 * `promise`, or a rejection with `signal.reason` as soon as `signal` aborts:
 * for work that cannot itself be cancelled, such as a blocked file read.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * `promise`, or a rejection with `timeoutError()` after `ms`, or with the
 * reason of `signal` when it aborts first: a deadline for work that cannot
 * itself be cancelled.
 */
export async function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  timeoutError: () => Error,
  signal?: AbortSignal,
): Promise<T> {
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(signal!.reason);
  signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (signal?.aborted) onOuterAbort();
  const cancel = deadline(ms, () => stop.abort(timeoutError()));
  try {
    return await untilAborted(promise, stop.signal);
  } finally {
    cancel();
    signal?.removeEventListener("abort", onOuterAbort);
  }
}
