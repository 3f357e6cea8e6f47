/**
 * The `healthcheck` command's client: ask a running helper's `/readyz`, for
 * images without curl (distroless) and for systemd's `ExecStartPost=`.
 *
 * @module
 */

import { type HttpGet, httpGet } from "./http_get.ts";

/** Options for {@linkcode probeReadiness}. */
export interface ProbeOptions {
  /** Per-request timeout in ms. Default 2000. */
  timeoutMs?: number;
  /** Keep trying until ready or this many ms have passed. Default 0: one try. */
  waitMs?: number;
  /** Pause between tries in ms. Default 250. */
  retryEveryMs?: number;
  /** The HTTP client. Default {@linkcode httpGet}. */
  get?: HttpGet;
}

/** The probe's outcome: ready, or a one-line reason it is not. */
export type ProbeResult = { ready: true } | { ready: false; reason: string };

/** The address to probe for a listener bound to `listenAddress`. */
export function probeUrl(listenAddress: string, port: number): URL {
  const wildcard = listenAddress === "0.0.0.0" || listenAddress === "::";
  const host = wildcard
    ? "127.0.0.1"
    : listenAddress.includes(":")
    ? `[${listenAddress}]`
    : listenAddress;
  return new URL(`http://${host}:${port}/readyz`);
}

async function probeOnce(url: URL, timeoutMs: number, get: HttpGet): Promise<ProbeResult> {
  try {
    const response = await get(url, {
      signal: AbortSignal.timeout(timeoutMs),
      maxBodyBytes: 64 * 1024,
    });
    if (response.status === 200) return { ready: true };
    const body = new TextDecoder().decode(response.body).trim().slice(0, 200);
    return { ready: false, reason: `${url} answered ${response.status}: ${body}` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ready: false, reason: `cannot reach ${url}: ${message}` };
  }
}

/** Probe `url` until it answers 200 or the wait runs out. */
export async function probeReadiness(url: URL, options: ProbeOptions = {}): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const deadline = Date.now() + (options.waitMs ?? 0);
  const get = options.get ?? httpGet;
  for (;;) {
    const result = await probeOnce(url, timeoutMs, get);
    if (result.ready || Date.now() >= deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, options.retryEveryMs ?? 250));
  }
}
