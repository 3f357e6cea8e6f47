/**
 * Client for the container credentials endpoint, speaking it as the AWS SDKs
 * do: URI rules, the Authorization header, timeouts, a body size cap, and
 * validation of the JSON body into {@linkcode Credentials}.
 *
 * @module
 */

import { type Credentials, InvalidCredentialsError, parseCredentials } from "./credentials.ts";
import { type Clock, systemClock } from "./clock.ts";
import { withDeadline } from "./deadline.ts";
import {
  BodyTooLargeError,
  type HttpGet,
  httpGet,
  type HttpResponse,
  HttpTimeoutError,
  MAX_BODY_BYTES,
} from "./http_get.ts";
import { VERSION } from "./version.ts";

/** Where the ECS form `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is appended. */
export const ECS_ENDPOINT_BASE = "http://169.254.170.2";

/**
 * Hosts that the AWS SDKs accept over plain http for the container source:
 * the ECS and EKS Pod Identity link-local agents. Loopback is always allowed.
 */
export const CONTAINER_HTTP_HOSTS: readonly string[] = [
  "169.254.170.2",
  "169.254.170.23",
  "[fd00:ec2::23]",
];

/** Whether `hostname` (as `URL.hostname` gives it) is a loopback address. */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "[::1]") return true;
  const octets = hostname.split(".");
  return octets.length === 4 && octets[0] === "127" &&
    octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255);
}

/**
 * Check that `url` may carry credentials and a token: https to any host, or
 * plain http only to loopback and the AWS container agents, unless
 * `allowInsecure` is set.
 *
 * @returns a reason the URL is refused, or `undefined` when it is fine
 */
export function endpointUrlProblem(
  url: URL,
  allowInsecure: boolean,
  httpHosts: readonly string[] = CONTAINER_HTTP_HOSTS,
): string | undefined {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `scheme must be http or https, got "${url.protocol.slice(0, -1)}"`;
  }
  if (url.username !== "" || url.password !== "") {
    return "user information in the URI is not allowed";
  }
  if (url.protocol === "https:" || allowInsecure) return undefined;
  if (isLoopbackHost(url.hostname) || httpHosts.includes(url.hostname)) return undefined;
  return `plain http is only allowed to loopback, ${httpHosts.slice(0, -1).join(", ")} and ${
    httpHosts.at(-1)
  }, got host "${url.hostname}" (set ALLOW_INSECURE_ENDPOINT=true to permit it)`;
}

/** Thrown when a fetch from the endpoint does not yield usable credentials. */
export class EndpointError extends Error {
  /** Short machine-readable kind of failure, used in logs and tests. */
  readonly kind: string;
  /** Create the error. */
  constructor(kind: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EndpointError";
    this.kind = kind;
  }
}

/** Where the Authorization header comes from. */
export type AuthorizationSource =
  | { readonly kind: "none" }
  | { readonly kind: "value"; readonly token: string }
  | { readonly kind: "file"; readonly path: string };

/** Options for {@linkcode EndpointClient}. */
export interface EndpointClientOptions {
  /** Source of the Authorization header. Default: none. */
  authorization?: AuthorizationSource;
  /** Milliseconds allowed until response headers arrive (connect included). Default 2000. */
  connectTimeoutMs?: number;
  /** Milliseconds allowed for the whole request, body included. Default 5000. */
  totalTimeoutMs?: number;
  /** Largest accepted body in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Same-origin redirects followed before giving up. Default 3. */
  maxRedirects?: number;
  /** The HTTP client. Default {@linkcode httpGet}. */
  get?: HttpGet;
  /** Reads the token file. Default {@linkcode readTokenFile}. */
  readTextFile?: (path: string) => Promise<string>;
  /** Clock used to reject expired credentials. Default {@linkcode systemClock}. */
  clock?: Pick<Clock, "now">;
  /** Called with each secret as soon as it is known, so logs can redact it. */
  onSecret?: (secret: string) => void;
  /** Removes known secrets from text the server sent, before it is cut short. */
  redact?: (text: string) => string;
}

/** The largest token file read; a token is a few hundred bytes. */
export const MAX_TOKEN_FILE_BYTES = 16 * 1024;

/**
 * Read a token file, refusing more than {@linkcode MAX_TOKEN_FILE_BYTES}
 * (so a path such as /dev/zero cannot exhaust memory) and non-UTF-8 text.
 */
export async function readTokenFile(path: string): Promise<string> {
  // Opening a FIFO blocks until a writer appears, possibly forever.
  const info = await Deno.stat(path);
  if (info.isFifo || info.isSocket) {
    throw new TypeError(`it is a ${info.isFifo ? "FIFO" : "socket"}, not a file`);
  }
  const file = await Deno.open(path, { read: true });
  try {
    const buffer = new Uint8Array(MAX_TOKEN_FILE_BYTES + 1);
    let size = 0;
    while (size < buffer.byteLength) {
      const read = await file.read(buffer.subarray(size));
      if (read === null) break;
      size += read;
    }
    if (size > MAX_TOKEN_FILE_BYTES) {
      throw new RangeError(`it is larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
    }
    return new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, size));
  } finally {
    file.close();
  }
}

/**
 * Fetches and validates credentials from one endpoint.
 *
 * Every failure, whether network, HTTP status, body size, JSON or validation,
 * surfaces as an {@linkcode EndpointError} whose message is safe to log.
 */
export class EndpointClient {
  readonly #url: URL;
  readonly #authorization: AuthorizationSource;
  readonly #connectTimeoutMs: number;
  readonly #totalTimeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #maxRedirects: number;
  readonly #get: HttpGet;
  readonly #readTextFile: (path: string) => Promise<string>;
  readonly #clock: Pick<Clock, "now">;
  readonly #onSecret: (secret: string) => void;
  readonly #redact: (text: string) => string;

  /** Create a client for `url`. */
  constructor(url: URL, options: EndpointClientOptions = {}) {
    this.#url = url;
    this.#authorization = options.authorization ?? { kind: "none" };
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.#totalTimeoutMs = options.totalTimeoutMs ?? 5000;
    this.#maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.#maxRedirects = options.maxRedirects ?? 3;
    this.#get = options.get ?? httpGet;
    this.#readTextFile = options.readTextFile ?? readTokenFile;
    this.#clock = options.clock ?? systemClock;
    this.#onSecret = options.onSecret ?? (() => {});
    this.#redact = options.redact ?? ((text) => text);
    if (this.#authorization.kind === "value") this.#onSecret(this.#authorization.token);
  }

  /**
   * Fetch credentials once.
   *
   * @param signal aborts the request, e.g. on shutdown
   * @throws {EndpointError} on any failure
   */
  async fetchCredentials(signal?: AbortSignal): Promise<Credentials> {
    const headers: Record<string, string> = {
      Accept: "application/json",
      "User-Agent": `credential-helper/${VERSION}`,
    };
    try {
      // The token file read has the request's deadline: a FIFO or a hung
      // network file system cannot stall the attempt.
      const token = await withDeadline(
        this.#token(),
        this.#totalTimeoutMs,
        () => new EndpointError("timeout", `token file not read within ${this.#totalTimeoutMs} ms`),
        signal,
      );
      if (token !== undefined) headers["Authorization"] = token;
      const response = await this.#request(headers, signal);
      return this.#interpret(response);
    } catch (error) {
      throw toEndpointError(error, signal);
    }
  }

  async #token(): Promise<string | undefined> {
    const source = this.#authorization;
    if (source.kind === "none") return undefined;
    if (source.kind === "value") {
      this.#onSecret(source.token); // keeps it among the most recent secrets
      return source.token;
    }
    let text: string;
    try {
      text = await this.#readTextFile(source.path);
    } catch (cause) {
      throw new EndpointError(
        "token-file",
        `cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "${source.path}": ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
        { cause },
      );
    }
    const token = text.replace(/(\r?\n)+$/, "");
    if (token !== "") this.#onSecret(token);
    // deno-lint-ignore no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(token)) {
      // A line break would let the file inject headers into the request.
      throw new EndpointError(
        "token-file",
        `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "${source.path}" holds a line break or control character inside the token`,
      );
    }
    if (token === "") {
      throw new EndpointError(
        "token-file",
        `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "${source.path}" is empty`,
      );
    }
    return token;
  }

  // Follows same-origin redirects only: a redirect to another host would
  // hand it the Authorization header, and the AWS SDKs do not follow them.
  // Each hop has the client's deadlines.
  async #request(
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    let url = this.#url;
    for (let hop = 0;; hop++) {
      let response: HttpResponse;
      try {
        response = await this.#get(url, {
          headers,
          ...(signal === undefined ? {} : { signal }),
          maxBodyBytes: this.#maxBodyBytes,
          headersTimeoutMs: this.#connectTimeoutMs,
          totalTimeoutMs: this.#totalTimeoutMs,
        });
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          throw new EndpointError("too-large", `HTTP response ${error.message}`, { cause: error });
        }
        throw error;
      }
      if (response.status < 300 || response.status > 399) return response;
      const location = response.headers.get("location");
      if (location === null) return response;
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new EndpointError(
          "redirect",
          `HTTP ${response.status} redirect to an unparseable location`,
        );
      }
      if (next.origin !== this.#url.origin) {
        throw new EndpointError(
          "redirect",
          `HTTP ${response.status} redirect to another origin ${next.origin} refused`,
        );
      }
      if (hop >= this.#maxRedirects) {
        throw new EndpointError("redirect", `more than ${this.#maxRedirects} redirects`);
      }
      url = next;
    }
  }

  #interpret(response: HttpResponse): Credentials {
    return interpretCredentials(response, {
      onSecret: this.#onSecret,
      redact: this.#redact,
      now: new Date(this.#clock.now()),
      requireSuccessCode: false,
    });
  }
}

/** What {@linkcode interpretCredentials} needs besides the response. */
export interface InterpretContext {
  readonly onSecret: (secret: string) => void;
  readonly redact: (text: string) => string;
  readonly now: Date;
  /** IMDS: a `Code` other than `Success` fails, even with HTTP 200. */
  readonly requireSuccessCode: boolean;
}

/**
 * A credentials response, validated: 2xx, JSON, and a usable set. Every
 * secret in the body is handed to `onSecret` before anything from the body
 * can reach a message.
 *
 * @throws {EndpointError} with a message safe to log
 */
export function interpretCredentials(
  response: HttpResponse,
  context: InterpretContext,
): Credentials {
  const { status, body: bytes } = response;
  const text = new TextDecoder().decode(bytes);
  let body: unknown;
  let parsed = false;
  try {
    body = JSON.parse(text);
    parsed = true;
  } catch {
    // Reported below, with the status, which matters more.
  }
  if (body !== null && typeof body === "object") {
    const record = body as Record<string, unknown>;
    for (const field of ["SecretAccessKey", "Token", "SessionToken"]) {
      const value = record[field];
      if (typeof value === "string") context.onSecret(value);
    }
  }
  if (status < 200 || status > 299) {
    const detail = parsed ? errorDetail(body, context.redact) : undefined;
    throw new EndpointError(
      "http-status",
      `endpoint answered HTTP ${status}${detail === undefined ? "" : `: ${detail}`}`,
    );
  }
  if (!parsed) {
    const looksHtml = /^\s*</.test(text);
    throw new EndpointError(
      "not-json",
      `HTTP ${status} body is not JSON${
        looksHtml ? " (looks like HTML)" : ""
      } (${bytes.byteLength} bytes)`,
    );
  }
  if (context.requireSuccessCode && body !== null && typeof body === "object") {
    const code = (body as Record<string, unknown>)["Code"];
    if (code !== undefined && code !== "Success") {
      const detail = errorDetail(body, context.redact) ?? JSON.stringify(code);
      throw new EndpointError("not-success", `metadata service answered Code ${detail}`);
    }
  }
  try {
    return parseCredentials(body, context.now);
  } catch (error) {
    if (error instanceof InvalidCredentialsError) {
      throw new EndpointError("invalid", context.redact(error.message), { cause: error });
    }
    throw error;
  }
}

const MAX_DETAIL_LENGTH = 200;

/**
 * Pull a human-readable reason out of an error body, in the shapes the
 * container agents use: `code`/`message`, `Code`/`Message`, `Message` alone,
 * or `error`.
 */
export function errorDetail(
  body: unknown,
  redact: (text: string) => string = (text) => text,
): string | undefined {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  const text = (value: unknown) => typeof value === "string" && value !== "" ? value : undefined;
  const code = text(record["code"]) ?? text(record["Code"]);
  const message = text(record["message"]) ?? text(record["Message"]) ?? text(record["error"]);
  const detail = code !== undefined && message !== undefined
    ? `${code}: ${message}`
    : code ?? message;
  if (detail === undefined) return undefined;
  // Redact the whole text first: a secret cut in two by the length limit
  // would no longer be recognised, and its first part would be logged.
  // deno-lint-ignore no-control-regex
  const clean = redact(detail).replace(/[\u0000-\u001f\u007f]+/g, " ");
  const points = [...clean];
  return points.length > MAX_DETAIL_LENGTH
    ? points.slice(0, MAX_DETAIL_LENGTH).join("") + "…"
    : clean;
}

/** Any failure of a request as an {@linkcode EndpointError} with a message safe to log. */
export function toEndpointError(error: unknown, signal: AbortSignal | undefined): EndpointError {
  if (error instanceof EndpointError) return error;
  if (error instanceof HttpTimeoutError) return new EndpointError("timeout", error.message);
  if (error instanceof BodyTooLargeError) {
    return new EndpointError("too-large", `HTTP response ${error.message}`, { cause: error });
  }
  if (signal?.aborted) return new EndpointError("aborted", "request aborted");
  // The innermost cause carries the reason (refused, reset, DNS).
  let reason: unknown = error;
  while (reason instanceof Error && reason.cause instanceof Error) reason = reason.cause;
  const message = reason instanceof Error ? reason.message : String(reason);
  return new EndpointError("network", `request failed: ${message}`, { cause: error });
}
