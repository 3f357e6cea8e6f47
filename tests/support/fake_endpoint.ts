/**
 * A local fake container-credentials endpoint, shared by the tests and
 * `make demo`. It issues fresh credentials on every call and can be switched
 * to any fault the helper must survive.
 *
 * @module
 */

/** Behaviours of the fake endpoint. */
export type Fault =
  | "none"
  | "hang"
  | "trickle"
  | "500-json"
  | "403"
  | "404"
  | "not-json"
  | "html"
  | "null"
  | "array"
  | "missing-fields"
  | "empty-strings"
  | "expired"
  | "bad-date"
  | "huge"
  | "redirect-other-host"
  | "slow-then-reset";

/** Every fault, for matrix tests. */
export const FAULTS: readonly Exclude<Fault, "none">[] = [
  "hang",
  "trickle",
  "500-json",
  "403",
  "404",
  "not-json",
  "html",
  "null",
  "array",
  "missing-fields",
  "empty-strings",
  "expired",
  "bad-date",
  "huge",
  "redirect-other-host",
  "slow-then-reset",
];

/** One credential set as the fake issued it. */
export interface IssuedCredentials {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly Token: string;
  readonly Expiration: string;
  readonly AccountId?: string;
}

/** Options for {@linkcode startFakeEndpoint}. */
export interface FakeEndpointOptions {
  /** Port to listen on. Default 0 (any free port). */
  port?: number;
  /** Seconds until each issued set expires. Default 3600. */
  lifetimeSeconds?: number;
  /** Required Authorization header; requests without it get 401. Default: none required. */
  requiredToken?: string;
  /** Include `AccountId`. Default false. */
  accountId?: string;
  /** Serve https with this PEM certificate chain and key. Default: plain http. */
  tls?: { cert: string; key: string };
  /**
   * The first 8 characters of every `AccessKeyId`, before the 12-digit serial
   * number (1, 2, 3, … in issue order). Default `ASIAFAKE`. Lets a test tell
   * two endpoints' keys apart.
   */
  keyIdPrefix?: string;
  /**
   * Awaited before each successful issue (fault `"none"`), e.g. a barrier
   * that releases two endpoints' answers at the same instant. Default: none.
   */
  gate?: () => Promise<void>;
}

/** A running fake endpoint. */
export interface FakeEndpoint {
  readonly url: string;
  readonly port: number;
  /** Current behaviour; set it to inject a fault. */
  fault: Fault;
  /** Seconds until newly issued credentials expire. */
  lifetimeSeconds: number;
  /** Every credential set issued, oldest first. */
  readonly issued: IssuedCredentials[];
  /** Every request's headers, oldest first. */
  readonly requests: Headers[];
  /** The most recently issued set. */
  last(): IssuedCredentials;
  /** Every secret value it handed out, plus the token, for leak checks. */
  secrets(): string[];
  close(): Promise<void>;
}

const encoder = new TextEncoder();

function randomToken(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/** Start the fake on 127.0.0.1. */
export function startFakeEndpoint(options: FakeEndpointOptions = {}): FakeEndpoint {
  const issued: IssuedCredentials[] = [];
  const requests: Headers[] = [];
  const closing = new AbortController();
  let counter = 0;

  const issue = (): IssuedCredentials => {
    counter++;
    const credentials: IssuedCredentials = {
      AccessKeyId: `${options.keyIdPrefix ?? "ASIAFAKE"}${String(counter).padStart(12, "0")}`,
      SecretAccessKey: `fakeSecret${counter}-${randomToken(30)}`,
      // Lengths vary from set to set, as real tokens do, so a torn in-place
      // write shows up as a wrong tail.
      Token: `fakeSessionToken${counter}-${randomToken(100 + (counter * 37) % 200)}`,
      Expiration: new Date(Date.now() + fake.lifetimeSeconds * 1000).toISOString(),
      ...(options.accountId === undefined ? {} : { AccountId: options.accountId }),
    };
    issued.push(credentials);
    return credentials;
  };

  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });

  const handler = (request: Request): Response | Promise<Response> => {
    requests.push(request.headers);
    if (
      options.requiredToken !== undefined &&
      request.headers.get("authorization") !== options.requiredToken
    ) {
      return json({ code: "AccessDenied", message: "bad or missing authorization token" }, 401);
    }
    switch (fake.fault) {
      case "none":
        return options.gate === undefined
          ? json(issue())
          : options.gate().then(() => json(issue()));
      case "hang":
        return new Promise((resolve) =>
          closing.signal.addEventListener(
            "abort",
            () => resolve(new Response("closing", { status: 503 })),
          )
        );
      case "trickle":
        return new Response(dripStream(closing.signal, 1000, false), {
          headers: { "Content-Type": "application/json" },
        });
      case "slow-then-reset":
        // The declared length is never reached: the connection is cut mid-body
        // (without erroring the stream, which Deno.serve would print).
        return new Response(dripStream(closing.signal, 300, true), {
          headers: { "Content-Type": "application/json", "Content-Length": "4096" },
        });
      case "500-json":
        return json(
          { code: "InternalError", message: "the role session could not be created" },
          500,
        );
      case "403":
        return json({ Code: "AccessDenied", Message: "not authorized to assume the role" }, 403);
      case "404":
        return new Response("404 page not found\n", { status: 404 });
      case "not-json":
        return new Response("AccessKeyId=AKIA...", { status: 200 });
      case "html":
        return new Response("<html><body>Service Unavailable</body></html>", {
          status: 200,
          headers: { "Content-Type": "text/html" },
        });
      case "null":
        return json(null);
      case "array":
        return json([issue()]);
      case "missing-fields": {
        const { Token: _dropped, ...rest } = issue();
        return json(rest);
      }
      case "empty-strings":
        return json({ ...issue(), SecretAccessKey: "", Token: "" });
      case "expired":
        return json({ ...issue(), Expiration: new Date(Date.now() - 60_000).toISOString() });
      case "bad-date":
        return json({ ...issue(), Expiration: "next tuesday" });
      case "huge":
        return new Response(hugeStream(20 * 1024 * 1024), {
          headers: { "Content-Type": "application/json" },
        });
      case "redirect-other-host":
        return new Response(null, {
          status: 302,
          headers: { Location: `http://127.0.0.2:${fake.port}/creds` },
        });
    }
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen: () => {},
    signal: closing.signal,
    handler,
    ...(options.tls ?? {}),
  });
  const fake: FakeEndpoint = {
    url: options.tls === undefined
      ? `http://127.0.0.1:${server.addr.port}/creds`
      : `https://localhost:${server.addr.port}/creds`,
    port: server.addr.port,
    fault: "none",
    lifetimeSeconds: options.lifetimeSeconds ?? 3600,
    issued,
    requests,
    last() {
      const last = issued.at(-1);
      if (last === undefined) throw new Error("no credentials issued yet");
      return last;
    },
    secrets() {
      const values = issued.flatMap((c) => [c.SecretAccessKey, c.Token]);
      if (options.requiredToken !== undefined) values.push(options.requiredToken);
      return values;
    },
    async close() {
      closing.abort();
      await server.finished;
    },
  };
  return fake;
}

// A body that sends one byte every `everyMs`, then either never ends or, with
// `reset`, fails mid-body so the connection is cut.
function dripStream(
  signal: AbortSignal,
  everyMs: number,
  reset: boolean,
): ReadableStream<Uint8Array> {
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream({
    pull(controller) {
      return new Promise((resolve) => {
        timer = setTimeout(() => {
          if (signal.aborted) return resolve(controller.close());
          if (reset && sent >= 3) return resolve(controller.close());
          controller.enqueue(encoder.encode("{"));
          sent++;
          resolve();
        }, everyMs);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

// A valid-looking JSON body of `size` bytes, produced lazily in chunks.
function hugeStream(size: number): ReadableStream<Uint8Array> {
  const chunk = encoder.encode(" ".repeat(64 * 1024));
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === 0) controller.enqueue(encoder.encode('{"padding":"'));
      if (sent >= size) {
        controller.enqueue(encoder.encode('"}'));
        controller.close();
        return;
      }
      controller.enqueue(chunk);
      sent += chunk.byteLength;
    },
  });
}

/** A port on 127.0.0.1 that nothing listens on, right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
