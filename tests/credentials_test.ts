import assert from "node:assert/strict";
import {
  InvalidCredentialsError,
  millisecondsUntilExpiry,
  parseCredentials,
  parseRfc3339,
} from "../lib/credentials.ts";

const NOW = new Date("2026-11-26T12:00:00Z");
const GOOD = {
  AccessKeyId: "ASIAEXAMPLE",
  SecretAccessKey: "secret/key+value",
  Token: "session-token",
  Expiration: "2026-11-26T13:00:00Z",
};

Deno.test("parseCredentials() returns the four fields of a good body", () => {
  const credentials = parseCredentials(GOOD, NOW);
  assert.deepEqual(credentials, {
    accessKeyId: "ASIAEXAMPLE",
    secretAccessKey: "secret/key+value",
    sessionToken: "session-token",
    expiration: new Date("2026-11-26T13:00:00Z"),
  });
  assert.equal(millisecondsUntilExpiry(credentials, NOW), 3_600_000);
});

Deno.test("parseCredentials() keeps a 12-digit AccountId and ignores an empty one", () => {
  assert.equal(
    parseCredentials({ ...GOOD, AccountId: "123456789012" }, NOW).accountId,
    "123456789012",
  );
  assert.equal(parseCredentials({ ...GOOD, AccountId: "" }, NOW).accountId, undefined);
  assert.throws(() => parseCredentials({ ...GOOD, AccountId: "12ab" }, NOW), /AccountId/);
});

Deno.test("parseCredentials() rejects every malformed body with a message that names no value", () => {
  const cases: Array<[unknown, string]> = [
    [null, "response is null, not a JSON object"],
    [[GOOD], "response is an array, not a JSON object"],
    ["text", "response is string, not a JSON object"],
    [{ ...GOOD, Token: undefined }, "response has no Token"],
    [{ ...GOOD, AccessKeyId: null }, "response has no AccessKeyId"],
    [{ ...GOOD, SecretAccessKey: "" }, "response field SecretAccessKey is empty"],
    [{ ...GOOD, Token: 42 }, "response field Token is not a string"],
    [
      { ...GOOD, Token: "a\nb" },
      "response field Token has blanks or control characters",
    ],
    [
      { ...GOOD, SecretAccessKey: " padded" },
      "response field SecretAccessKey has blanks or control characters",
    ],
    [
      { ...GOOD, Expiration: "tomorrow" },
      'response field Expiration is not an RFC 3339 timestamp: "tomorrow"',
    ],
    [
      { ...GOOD, Expiration: "2026-11-26T11:59:59Z" },
      "credentials already expired at 2026-11-26T11:59:59.000Z",
    ],
    [
      { ...GOOD, Expiration: "2026-11-26T12:00:00Z" },
      "credentials already expired at 2026-11-26T12:00:00.000Z",
    ],
  ];
  for (const [body, message] of cases) {
    assert.throws(() => parseCredentials(body, NOW), (error: unknown) => {
      assert.ok(error instanceof InvalidCredentialsError);
      assert.equal(error.message, message);
      assert.ok(!error.message.includes("secret/key+value"));
      return true;
    });
  }
});

Deno.test("parseRfc3339() accepts offsets and fractions and rejects other date formats", () => {
  assert.equal(
    parseRfc3339("2026-11-26T13:00:00.123+02:00").toISOString(),
    "2026-11-26T11:00:00.123Z",
  );
  assert.equal(parseRfc3339("2026-11-26 13:00:00z").toISOString(), "2026-11-26T13:00:00.000Z");
  for (
    const bad of [
      "2026-11-26",
      "2026-11-26T13:00:00",
      "Thu, 26 Nov 2026 13:00:00 GMT",
      "1764158400",
      "2026-13-01T00:00:00Z",
    ]
  ) {
    assert.throws(() => parseRfc3339(bad), SyntaxError, bad);
  }
});

Deno.test("parseCredentials() takes SessionToken for Token, the credential_process shape", () => {
  const body = {
    Version: 1,
    AccessKeyId: "ASIAPROCESS",
    SecretAccessKey: "secret",
    SessionToken: "session-token",
    Expiration: "2026-11-27T13:00:00Z",
  };
  const credentials = parseCredentials(body, new Date("2026-11-27T12:00:00Z"));
  assert.equal(credentials.sessionToken, "session-token");
  // Token wins when both are there; an empty SessionToken is refused like an empty Token.
  assert.equal(
    parseCredentials({ ...body, Token: "token" }, new Date("2026-11-27T12:00:00Z")).sessionToken,
    "token",
  );
  assert.throws(
    () => parseCredentials({ ...body, SessionToken: "" }, new Date("2026-11-27T12:00:00Z")),
    /response field SessionToken is empty/,
  );
  const { SessionToken: _, ...neither } = body;
  assert.throws(
    () => parseCredentials(neither, new Date("2026-11-27T12:00:00Z")),
    /response has no Token/,
  );
});

Deno.test("parseRfc3339() takes the forms servers send and refuses the rest", () => {
  const accepted: Array<[string, string]> = [
    ["2026-11-27T13:00:00Z", "2026-11-27T13:00:00.000Z"],
    ["2026-11-27T13:00:00.123Z", "2026-11-27T13:00:00.123Z"],
    ["2026-11-27T13:00:00.123456789Z", "2026-11-27T13:00:00.123Z"],
    ["2026-11-27T15:00:00+02:00", "2026-11-27T13:00:00.000Z"],
    ["2026-11-27T08:30:00.5-04:30", "2026-11-27T13:00:00.500Z"],
    ["2026-11-27 13:00:00z", "2026-11-27T13:00:00.000Z"],
  ];
  for (const [text, iso] of accepted) assert.equal(parseRfc3339(text).toISOString(), iso, text);
  for (
    const text of [
      "2026-11-27T13:00:00", // no offset
      "2026-11-27",
      "2026-02-31T00:00:00Z", // no such day
      "2026-11-27T24:00:00Z",
      "2026-11-27T13:00Z",
      "1764248400",
      "Fri, 27 Nov 2026 13:00:00 GMT",
      "2026-11-27T13:00:00+0200",
    ]
  ) {
    assert.throws(() => parseRfc3339(text), /not an RFC 3339 timestamp/, text);
  }
});

Deno.test("parseCredentials() refuses a blank of any alphabet inside a value, and quotes a bad date briefly", () => {
  const body = {
    AccessKeyId: "ASIAEXAMPLE",
    SecretAccessKey: "secret",
    Token: "token",
    Expiration: "2026-11-27T13:00:00Z",
  };
  const now = new Date("2026-11-27T12:00:00Z");
  // Python strips U+0085 and U+00A0 from a value; botocore would read another token.
  for (const blank of ["\u0085", "\u00a0", "\u2028", " ", "\ufeff"]) {
    assert.throws(
      () => parseCredentials({ ...body, Token: `token${blank}` }, now),
      /^InvalidCredentialsError: response field Token has blanks or control characters$/,
      JSON.stringify(blank),
    );
  }
  const long = "x".repeat(900_000);
  assert.throws(
    () => parseCredentials({ ...body, Expiration: long }, now),
    (error: unknown) =>
      error instanceof Error &&
      error.message ===
        `response field Expiration is not an RFC 3339 timestamp: "${"x".repeat(40)}…"`,
  );
});
