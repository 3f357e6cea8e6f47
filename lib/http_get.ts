/**
 * A minimal HTTP/1.1 GET over `Deno.connect`/`Deno.connectTls`: one request
 * per connection, a bounded header block, a capped body (Content-Length,
 * chunked or read to close), and abort at any point.
 *
 * It exists because `fetch` keeps growing the process's resident memory with
 * every request (about 35 MiB over 20,000 requests on Deno 2.9, with or
 * without keep-alive; see README "Footprint"), which a sidecar that runs for
 * months cannot afford. The protocol subset a credentials endpoint needs is
 * small enough to speak directly.
 *
 * @module
 */

import { deadline } from "./deadline.ts";
import { type Resolver, systemResolver } from "./resolve.ts";

/** A complete response. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

/** Thrown when the body exceeds the cap; nothing past the cap is read. */
export class BodyTooLargeError extends Error {
  /** The declared length, when the server declared one. */
  readonly declared: number | undefined;
  /** Create the error. */
  constructor(maxBodyBytes: number, declared?: number) {
    super(
      declared === undefined
        ? `body exceeds the ${maxBodyBytes}-byte cap`
        : `body of ${declared} bytes exceeds the ${maxBodyBytes}-byte cap`,
    );
    this.name = "BodyTooLargeError";
    this.declared = declared;
  }
}

/** Thrown when a request runs past one of its deadlines. */
export class HttpTimeoutError extends Error {
  /** Create the error. */
  constructor(message: string) {
    super(message);
    this.name = "HttpTimeoutError";
  }
}

/** Options for {@linkcode httpGet}. */
export interface HttpGetOptions {
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Closes the connection and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Largest accepted body. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Milliseconds until the status line and headers must have arrived, connect included. Default: none. */
  readonly headersTimeoutMs?: number;
  /** Milliseconds for the whole request, body included. Default: none. */
  readonly totalTimeoutMs?: number;
  /** `GET` (default) or `PUT` (with an empty body, as the IMDSv2 token request). */
  readonly method?: "GET" | "PUT";
  /** Addresses of the URL's host, each tried in turn. Default {@linkcode systemResolver}. */
  readonly resolve?: Resolver;
}

/** The signature of {@linkcode httpGet}, for injection. */
export type HttpGet = (url: URL, options?: HttpGetOptions) => Promise<HttpResponse>;

/** The default cap on a response body. */
export const MAX_BODY_BYTES = 1024 * 1024;

const MAX_HEADER_BYTES = 32 * 1024;
const MAX_CHUNK_LINE = 1024;
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * Reads a connection through one growable buffer (compacted before it
 * grows, doubled when full): lines, exact counts, or everything to the end.
 */
class Reader {
  #conn: Deno.Conn;
  #data = new Uint8Array(4096);
  #start = 0;
  #end = 0;
  #eof = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  get #available(): Uint8Array {
    return this.#data.subarray(this.#start, this.#end);
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#end === this.#data.byteLength) {
      const used = this.#end - this.#start;
      if (used === this.#data.byteLength) {
        const bigger = new Uint8Array(this.#data.byteLength * 2);
        bigger.set(this.#available);
        this.#data = bigger;
      } else {
        this.#data.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = used;
    }
    const read = await this.#conn.read(this.#data.subarray(this.#end));
    if (read === null) {
      this.#eof = true;
      return false;
    }
    this.#end += read;
    return true;
  }

  /** Bytes up to (not including) the next CRLF, at most `limit` of them. */
  async line(limit: number, what: string): Promise<string> {
    for (;;) {
      const available = this.#available;
      const end = indexOfCrlf(available);
      if (end !== -1) {
        this.#start += end + 2;
        return latin1.decode(available.subarray(0, end));
      }
      if (available.byteLength > limit) throw new Error(`${what} longer than ${limit} bytes`);
      if (!await this.#fill()) {
        throw new Error(`connection closed before the end of the ${what}`);
      }
    }
  }

  /** Exactly `count` bytes. */
  async exact(count: number): Promise<Uint8Array> {
    while (this.#end - this.#start < count) {
      if (!await this.#fill()) {
        throw new Error("connection closed before the end of the body");
      }
    }
    const out = this.#data.slice(this.#start, this.#start + count);
    this.#start += count;
    return out;
  }

  /** Everything until the peer closes, failing past `limit` bytes. */
  async rest(limit: number): Promise<Uint8Array> {
    do {
      if (this.#end - this.#start > limit) throw new BodyTooLargeError(limit);
    } while (await this.#fill());
    if (this.#end - this.#start > limit) throw new BodyTooLargeError(limit);
    const out = this.#data.slice(this.#start, this.#end);
    this.#start = this.#end;
    return out;
  }
}

/** Index of the first CRLF in `bytes`, or -1; the search itself is native. */
function indexOfCrlf(bytes: Uint8Array): number {
  for (let cr = bytes.indexOf(13); cr !== -1; cr = bytes.indexOf(13, cr + 1)) {
    if (bytes[cr + 1] === 10) return cr;
  }
  return -1;
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

async function readHead(reader: Reader): Promise<{ status: number; headers: Headers }> {
  for (;;) {
    const statusLine = await reader.line(MAX_HEADER_BYTES, "status line");
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (match === null) throw new Error("the response is not HTTP/1.x");
    const status = Number(match[1]);
    const headers = new Headers();
    let headerBytes = statusLine.length;
    for (;;) {
      const line = await reader.line(MAX_HEADER_BYTES, "headers");
      headerBytes += line.length + 2;
      if (headerBytes > MAX_HEADER_BYTES) {
        throw new Error(`headers longer than ${MAX_HEADER_BYTES} bytes`);
      }
      if (line === "") break;
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon) : "";
      if (!TOKEN.test(name)) throw new Error("malformed response header");
      headers.append(name, line.slice(colon + 1).trim());
    }
    // An interim 1xx answer is followed by the real one.
    if (status >= 200 || status < 100) return { status, headers };
  }
}

async function readChunked(reader: Reader, maxBodyBytes: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const line = await reader.line(MAX_CHUNK_LINE, "chunk size line");
    const match = /^([0-9A-Fa-f]{1,8})(?:;.*)?$/.exec(line);
    if (match === null) throw new Error("malformed chunked body");
    const chunkSize = parseInt(match[1]!, 16);
    if (chunkSize === 0) break;
    size += chunkSize;
    if (size > maxBodyBytes) throw new BodyTooLargeError(maxBodyBytes);
    parts.push(await reader.exact(chunkSize));
    if (await reader.line(2, "chunk") !== "") throw new Error("malformed chunked body");
  }
  // Trailers, if any, up to the blank line.
  while (await reader.line(MAX_HEADER_BYTES, "trailers") !== "") {
    // Ignored.
  }
  return concat(parts, size);
}

async function readBody(
  reader: Reader,
  status: number,
  headers: Headers,
  maxBodyBytes: number,
): Promise<Uint8Array> {
  if (status === 204 || status === 304) return new Uint8Array(0);
  const transferEncoding = headers.get("transfer-encoding");
  if (transferEncoding !== null) {
    if (transferEncoding.toLowerCase() !== "chunked") {
      throw new Error(`unsupported transfer-encoding "${transferEncoding}"`);
    }
    return await readChunked(reader, maxBodyBytes);
  }
  const lengthHeader = headers.get("content-length");
  if (lengthHeader !== null) {
    // "5, 5" is how Headers joins repeats; differing values are an attack.
    const values = new Set(lengthHeader.split(",").map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) {
      throw new Error("malformed content-length");
    }
    const length = Number(only);
    if (length > maxBodyBytes) throw new BodyTooLargeError(maxBodyBytes, length);
    return await reader.exact(length);
  }
  return await reader.rest(maxBodyBytes);
}

/**
 * Connect to each address of the URL's host in turn, as curl and the Go and
 * Java SDKs do, until one accepts; TLS is then started with the host name,
 * so the certificate is checked against the name, not the address.
 */
async function connectToAny(url: URL, resolve: Resolver, signal: AbortSignal): Promise<Deno.Conn> {
  const https = url.protocol === "https:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (https ? 443 : 80) : Number(url.port);
  const addresses = await resolve(hostname);
  let lastError: unknown;
  for (const address of addresses) {
    let tcp: Deno.TcpConn;
    try {
      tcp = await connectUnlessAborted(Deno.connect({ hostname: address, port }), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      lastError = error;
      continue;
    }
    if (!https) return tcp;
    return await connectUnlessAborted(Deno.startTls(tcp, { hostname }), signal);
  }
  throw lastError ?? new Error(`no address for ${hostname}`);
}

/** Resolve with `promise`, or reject as soon as `signal` aborts; a late connection is closed. */
function connectUnlessAborted<C extends Deno.Conn>(
  connecting: Promise<C>,
  signal: AbortSignal | undefined,
): Promise<C> {
  if (signal === undefined) return connecting;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      connecting.then((conn) => conn.close(), () => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    connecting.then(
      (conn) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) conn.close();
        else resolve(conn);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * GET `url` over a fresh connection and read the whole response, within the
 * deadlines given.
 *
 * @throws {BodyTooLargeError} when the body exceeds the cap
 * @throws {HttpTimeoutError} when a deadline passes
 * @throws the signal's reason when it aborts; an `Error` describing any
 *   network or protocol failure otherwise
 */
export async function httpGet(url: URL, options: HttpGetOptions = {}): Promise<HttpResponse> {
  options.signal?.throwIfAborted();
  const local = new AbortController();
  const onOuterAbort = () => local.abort(options.signal!.reason);
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const expire = (ms: number | undefined, what: string) =>
    ms === undefined
      ? () => {}
      : deadline(ms, () => local.abort(new HttpTimeoutError(`${what} within ${ms} ms`)));
  const cancelTotal = expire(options.totalTimeoutMs, "no complete response");
  const cancelHeaders = expire(options.headersTimeoutMs, "no response headers");
  try {
    return await request(url, options, local.signal, cancelHeaders);
  } finally {
    cancelHeaders();
    cancelTotal();
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
}

async function request(
  url: URL,
  options: HttpGetOptions,
  signal: AbortSignal,
  onHeaders: () => void,
): Promise<HttpResponse> {
  const conn = await connectToAny(url, options.resolve ?? systemResolver, signal);
  const onAbort = () => {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const method = options.method ?? "GET";
    let request = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      "Connection: close\r\n" + (method === "PUT" ? "Content-Length: 0\r\n" : "");
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      request += `${name}: ${value}\r\n`;
    }
    const bytes = encoder.encode(request + "\r\n");
    for (let written = 0; written < bytes.byteLength;) {
      written += await conn.write(bytes.subarray(written));
    }
    const reader = new Reader(conn);
    const { status, headers } = await readHead(reader);
    onHeaders();
    const body = await readBody(reader, status, headers, options.maxBodyBytes ?? MAX_BODY_BYTES);
    return { status, headers, body };
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    onAbort();
  }
}
