/**
 * The health listener's handler: `/healthz` (liveness), `/readyz`
 * (credentials on disk and unexpired) and `/metrics` (Prometheus text).
 * A plain `(Request) => Response` function over a read-only view of the
 * refresher's state, so it is tested without a socket.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import type { RefreshState } from "./refresher.ts";

/** Longest an attempt may run before liveness fails; far above the request timeout. */
export const ATTEMPT_STUCK_MS = 60_000;
/** How late past its due time the next attempt may be before liveness fails. */
export const OVERDUE_GRACE_MS = 60_000;

/** One target's current state, as health and metrics see it. */
export interface TargetState {
  readonly profile: string;
  readonly state: RefreshState;
  /** Notifications sent after the files changed, by outcome. */
  readonly notify?: { readonly success: number; readonly failure: number };
}

/** Options for {@linkcode createHealthHandler}. */
export interface HealthHandlerOptions {
  /** Every target's current state. */
  readonly targets: () => readonly TargetState[];
  /** Wall and monotonic time, as the state's fields. Default {@linkcode systemClock}. */
  readonly clock?: Pick<Clock, "now" | "monotonic">;
  /** Reported as `credential_helper_build_info{version}`. */
  readonly version: string;
}

/** A verdict with a short plain-text reason. */
export interface Verdict {
  readonly ok: boolean;
  readonly reason: string;
}

/** Wall and monotonic time, read together. */
export interface Now {
  readonly wall: number;
  readonly monotonic: number;
}

/**
 * Liveness: the loop is making attempts on time. Lateness counts only when
 * both clocks agree, so a wall-clock step or a resume from suspend, which the
 * loop notices within a second, never reads as a wedged loop.
 */
export function liveness(state: RefreshState, now: Now): Verdict {
  const late = (wall: number | undefined, monotonic: number | undefined) =>
    wall === undefined || monotonic === undefined
      ? 0
      : Math.min(now.wall - wall, now.monotonic - monotonic);
  const running = late(state.attemptStartedAt, state.attemptStartedMonotonic);
  if (running > ATTEMPT_STUCK_MS) {
    return { ok: false, reason: `refresh attempt stuck for ${Math.floor(running / 1000)} s` };
  }
  const overdue = late(state.nextAttemptAt, state.nextAttemptMonotonic);
  if (overdue > OVERDUE_GRACE_MS) {
    const seconds = Math.floor(overdue / 1000);
    return { ok: false, reason: `refresh loop wedged: next attempt overdue by ${seconds} s` };
  }
  return { ok: true, reason: "ok" };
}

/**
 * Readiness: the files hold credentials that have not expired, and the last
 * check found them there. The reason names the last error when not ready.
 */
export function readiness(state: RefreshState, now: number): Verdict {
  const lastError = state.lastError === undefined ? "" : `; last error: ${state.lastError}`;
  if (state.expiration === undefined) {
    return { ok: false, reason: `no credentials written yet${lastError}` };
  }
  if (state.expiration <= now) {
    return {
      ok: false,
      reason: `credentials expired at ${new Date(state.expiration).toISOString()}${lastError}`,
    };
  }
  if (state.filesProblem !== undefined) {
    return { ok: false, reason: `files changed by another writer: ${state.filesProblem}` };
  }
  return { ok: true, reason: "ready" };
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? "0" : String(ms / 1000);
}

/**
 * One verdict for the process from each target's: ok only when every target
 * is. One target answers with its own reason; several list each profile.
 */
export function combine(verdicts: ReadonlyArray<{ profile: string; verdict: Verdict }>): Verdict {
  const ok = verdicts.every((v) => v.verdict.ok);
  if (verdicts.length === 1) return verdicts[0]!.verdict;
  const failing = verdicts.filter((v) => !v.verdict.ok).length;
  const head = ok ? "ok" : `${failing} of ${verdicts.length} profiles not ok`;
  const lines = verdicts.map((v) =>
    `profile ${v.profile}: ${v.verdict.ok ? "ok" : "not ok"}: ${v.verdict.reason}`
  );
  return { ok, reason: [head, ...lines].join("\n") };
}

// Label values are profile names (A-Z a-z 0-9 _ . @ + -) and the version:
// nothing that needs escaping in the exposition format.
const label = (profile: string) => `profile="${profile}"`;

/** The Prometheus text exposition of every target's state. */
export function renderMetrics(
  targets: readonly TargetState[],
  now: number,
  version: string,
): string {
  const metric = (name: string, type: string, help: string, samples: string[]) =>
    `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${samples.join("\n")}\n`;
  const each = (sample: (t: TargetState) => string) => targets.map(sample);
  return [
    metric(
      "credential_helper_refresh_total",
      "counter",
      "Refresh attempts by result.",
      targets.flatMap(({ profile, state }) => [
        `credential_helper_refresh_total{${label(profile)},result="success"} ${state.successes}`,
        `credential_helper_refresh_total{${label(profile)},result="failure"} ${state.failures}`,
      ]),
    ),
    metric(
      "credential_helper_last_success_timestamp_seconds",
      "gauge",
      "Unix time of the last successful refresh; 0 before the first.",
      each(({ profile, state }) =>
        `credential_helper_last_success_timestamp_seconds{${label(profile)}} ${
          seconds(state.lastSuccessAt)
        }`
      ),
    ),
    metric(
      "credential_helper_credentials_expiration_timestamp_seconds",
      "gauge",
      "Unix time at which the credentials in the files expire; 0 before the first write.",
      each(({ profile, state }) =>
        `credential_helper_credentials_expiration_timestamp_seconds{${label(profile)}} ${
          seconds(state.expiration)
        }`
      ),
    ),
    metric(
      "credential_helper_ready",
      "gauge",
      "1 when the files hold unexpired credentials, else 0.",
      each(({ profile, state }) =>
        `credential_helper_ready{${label(profile)}} ${readiness(state, now).ok ? 1 : 0}`
      ),
    ),
    metric(
      "credential_helper_consecutive_failures",
      "gauge",
      "Refresh attempts failed in a row since the last success.",
      each(({ profile, state }) =>
        `credential_helper_consecutive_failures{${label(profile)}} ${state.consecutiveFailures}`
      ),
    ),
    metric(
      "credential_helper_repairs_total",
      "counter",
      "Rewrites after another writer removed or changed our section.",
      each(({ profile, state }) =>
        `credential_helper_repairs_total{${label(profile)}} ${state.repairs}`
      ),
    ),
    metric(
      "credential_helper_notify_total",
      "counter",
      "Notifications (signal or command) after the files changed, by result.",
      targets.flatMap(({ profile, notify }) => [
        `credential_helper_notify_total{${label(profile)},result="success"} ${
          notify?.success ?? 0
        }`,
        `credential_helper_notify_total{${label(profile)},result="failure"} ${
          notify?.failure ?? 0
        }`,
      ]),
    ),
    metric("credential_helper_build_info", "gauge", "Always 1; labelled with the version.", [
      `credential_helper_build_info{version="${version}"} 1`,
    ]),
  ].join("");
}

const PLAIN = "text/plain; charset=utf-8";
const PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8";

/** Build the listener's request handler. */
export function createHealthHandler(options: HealthHandlerOptions): (request: Request) => Response {
  const clock = options.clock ?? systemClock;
  return (request) => {
    const path = new URL(request.url).pathname;
    const route = path === "/healthz" || path === "/readyz" || path === "/metrics";
    if (!route) return respond(request, 404, "not found\n", PLAIN);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return respond(request, 405, "method not allowed\n", PLAIN, { Allow: "GET, HEAD" });
    }
    const targets = options.targets();
    const at = clock.now();
    if (path === "/metrics") {
      return respond(request, 200, renderMetrics(targets, at, options.version), PROMETHEUS);
    }
    const clocks = { wall: at, monotonic: clock.monotonic() };
    const verdict = combine(targets.map(({ profile, state }) => ({
      profile,
      verdict: path === "/healthz" ? liveness(state, clocks) : readiness(state, at),
    })));
    return respond(request, verdict.ok ? 200 : 503, verdict.reason + "\n", PLAIN);
  };
}

function respond(
  request: Request,
  status: number,
  body: string,
  contentType: string,
  extra: Record<string, string> = {},
): Response {
  const headers = { "Content-Type": contentType, "Cache-Control": "no-store", ...extra };
  return new Response(request.method === "HEAD" ? null : body, { status, headers });
}
