import assert from "node:assert/strict";
import {
  botocoreConfigProfile,
  configSection,
  credentialsSection,
  readSection,
  shlexSplit,
  upsertSection,
} from "../lib/shared_file.ts";

const KEYS = {
  set: [["aws_access_key_id", "AK2"], ["aws_secret_access_key", "SK2"], [
    "aws_session_token",
    "TK2",
  ]] as Array<[string, string]>,
  remove: ["aws_security_token"],
};

Deno.test("upsertSection() creates the section in an empty file", () => {
  assert.equal(
    upsertSection("", credentialsSection("default"), KEYS),
    "[default]\naws_access_key_id = AK2\naws_secret_access_key = SK2\naws_session_token = TK2\n",
  );
});

Deno.test("upsertSection() appends after other profiles with one blank line", () => {
  const input = "[other]\naws_access_key_id = X\n";
  assert.equal(
    upsertSection(input, credentialsSection("dev"), KEYS),
    "[other]\naws_access_key_id = X\n\n[dev]\naws_access_key_id = AK2\n" +
      "aws_secret_access_key = SK2\naws_session_token = TK2\n",
  );
});

Deno.test("upsertSection() keeps other profiles, comments and blank lines byte for byte", () => {
  const input = [
    "# top comment",
    "; another comment",
    "",
    "[alpha]",
    "aws_access_key_id=ALPHA",
    "aws_secret_access_key   =   alpha secret  ",
    "",
    "[default]   ",
    "# ours",
    "aws_access_key_id = OLD",
    "custom_key = keep me",
    "aws_session_token = OLDTOKEN",
    "aws_security_token = STALE",
    "aws_secret_access_key = OLDSECRET",
    "",
    "[zeta]",
    "region = x",
    "",
  ].join("\n");
  const expected = [
    "# top comment",
    "; another comment",
    "",
    "[alpha]",
    "aws_access_key_id=ALPHA",
    "aws_secret_access_key   =   alpha secret  ",
    "",
    "[default]   ",
    "# ours",
    "aws_access_key_id = AK2",
    "custom_key = keep me",
    "aws_session_token = TK2",
    "aws_secret_access_key = SK2",
    "",
    "[zeta]",
    "region = x",
    "",
  ].join("\n");
  assert.equal(upsertSection(input, credentialsSection("default"), KEYS), expected);
});

Deno.test("upsertSection() finds a header with surrounding spaces where botocore does", () => {
  // Indented, it is a header only when no key precedes it: configparser reads
  // an indented line after a key as that key's continuation.
  const input = "  [default]  \naws_access_key_id = OLD\n";
  assert.equal(
    upsertSection(input, credentialsSection("default"), KEYS),
    "  [default]  \naws_access_key_id = AK2\naws_secret_access_key = SK2\naws_session_token = TK2\n",
  );
});

Deno.test("upsertSection() keeps CRLF line ends and writes new lines with CRLF", () => {
  const input = "[a]\r\nx = 1\r\n\r\n[default]\r\naws_access_key_id = OLD\r\n";
  assert.equal(
    upsertSection(input, credentialsSection("default"), KEYS),
    "[a]\r\nx = 1\r\n\r\n[default]\r\naws_access_key_id = AK2\r\n" +
      "aws_secret_access_key = SK2\r\naws_session_token = TK2\r\n",
  );
});

Deno.test("upsertSection() handles a file without a final newline", () => {
  assert.equal(
    upsertSection("[other]\nx = 1", credentialsSection("default"), KEYS),
    "[other]\nx = 1\n\n[default]\naws_access_key_id = AK2\naws_secret_access_key = SK2\n" +
      "aws_session_token = TK2\n",
  );
  // Our section last, with its last key lacking a newline: the file keeps lacking one.
  assert.equal(
    upsertSection(
      "[default]\naws_access_key_id = A\naws_secret_access_key = S\naws_session_token = T",
      credentialsSection("default"),
      KEYS,
    ),
    "[default]\naws_access_key_id = AK2\naws_secret_access_key = SK2\naws_session_token = TK2",
  );
  // And a key inserted after such a line gets it a newline first.
  assert.equal(
    upsertSection("[default]\nfoo = bar", credentialsSection("default"), KEYS),
    "[default]\nfoo = bar\naws_access_key_id = AK2\naws_secret_access_key = SK2\n" +
      "aws_session_token = TK2\n",
  );
});

Deno.test("upsertSection() keeps indented sub-properties with their parent key", () => {
  const input = [
    "[profile dev]",
    "region = eu-west-1",
    "s3 =",
    "  max_concurrent_requests = 10",
    "  region = ignored-sub-key",
    "output = json",
    "",
  ].join("\n");
  const out = upsertSection(input, configSection("dev"), { set: [["region", "us-east-2"]] });
  assert.equal(out, input.replace("region = eu-west-1", "region = us-east-2"));
});

Deno.test("upsertSection() inserts missing keys after the last key, before trailing comments", () => {
  const input = "[default]\nfoo = bar\n# about the next section\n\n[next]\nx = y\n";
  assert.equal(
    upsertSection(input, configSection("default"), { set: [["region", "us-east-2"]] }),
    "[default]\nfoo = bar\nregion = us-east-2\n# about the next section\n\n[next]\nx = y\n",
  );
});

Deno.test("upsertSection() collapses duplicate sections and duplicate keys into one", () => {
  const input = [
    "[default]",
    "aws_access_key_id = A",
    "AWS_ACCESS_KEY_ID = B",
    "extra = 1",
    "[other]",
    "x = 1",
    "[default]",
    "aws_session_token = T",
    "extra = 2",
    "more = 3",
    "",
  ].join("\n");
  const out = upsertSection(input, credentialsSection("default"), KEYS);
  assert.equal(
    out,
    [
      "[default]",
      "aws_access_key_id = AK2",
      "extra = 1",
      "aws_session_token = TK2",
      "more = 3",
      "aws_secret_access_key = SK2",
      "[other]",
      "x = 1",
      "",
    ].join("\n"),
  );
  const section = readSection(out, credentialsSection("default"));
  assert.equal(section?.get("aws_access_key_id"), "AK2");
});

Deno.test("upsertSection() removes a stale aws_security_token and its continuation lines", () => {
  const input = "[default]\naws_security_token = STALE\n  more-stale\nkeep = 1\n";
  assert.equal(
    upsertSection(input, credentialsSection("default"), KEYS),
    "[default]\nkeep = 1\naws_access_key_id = AK2\naws_secret_access_key = SK2\n" +
      "aws_session_token = TK2\n",
  );
});

Deno.test("upsertSection() returns the input unchanged when nothing differs", () => {
  const input = "# c\r\n[default]\r\naws_access_key_id = AK2\r\naws_secret_access_key = SK2\r\n" +
    "aws_session_token = TK2";
  assert.equal(upsertSection(input, credentialsSection("default"), KEYS), input);
});

Deno.test("upsertSection() leaves sections that only look similar alone", () => {
  const input = "[ dev ]\nx = 1\n[dev2]\ny = 2\n[profile dev]\nz = 3\n";
  const out = upsertSection(input, credentialsSection("dev"), KEYS);
  assert.ok(out.startsWith(input), out);
  assert.ok(out.endsWith(
    "\n[dev]\naws_access_key_id = AK2\naws_secret_access_key = SK2\n" +
      "aws_session_token = TK2\n",
  ));
});

Deno.test("configSection() uses [default] and [profile NAME], and matches both forms for default", () => {
  assert.equal(configSection("default").header, "default");
  assert.equal(configSection("dev").header, "profile dev");
  assert.ok(configSection("default").matches("profile default"));
  assert.ok(configSection("dev").matches("profile   dev"));
  assert.ok(!configSection("dev").matches("dev"));
});

Deno.test("upsertSection() edits both [default] and [profile default] and keeps each", () => {
  // botocore reads only the later of the two; collapsing them would bring
  // back keys it had been ignoring. Each keeps its keys and gets ours.
  const input = "[profile default]\nregion = eu-west-1\nrole_arn = r\n[default]\noutput = json\n";
  assert.equal(
    upsertSection(input, configSection("default"), { set: [["region", "us-east-2"]] }),
    "[profile default]\nregion = us-east-2\nrole_arn = r\n[default]\noutput = json\n" +
      "region = us-east-2\n",
  );
});

Deno.test("upsertSection() treats ':' as a key delimiter, as configparser does", () => {
  const input = "[default]\naws_access_key_id: OLD\n";
  assert.equal(
    upsertSection(input, credentialsSection("default"), KEYS),
    "[default]\naws_access_key_id = AK2\naws_secret_access_key = SK2\naws_session_token = TK2\n",
  );
});

Deno.test("readSection() rejects duplicate sections and keys like botocore", () => {
  assert.throws(
    () => readSection("[default]\na = 1\n[default]\nb = 2\n", credentialsSection("default")),
    SyntaxError,
  );
  assert.throws(
    () => readSection("[default]\na = 1\nA = 2\n", credentialsSection("default")),
    SyntaxError,
  );
  assert.equal(readSection("[x]\na = 1\n", credentialsSection("default")), undefined);
});

const REGION = { set: [["region", "us-east-2"]] as Array<[string, string]> };

Deno.test("upsertSection() keeps a replaced key's indentation", () => {
  // Unindented, "region" would make botocore read "  output = json" as the
  // rest of its value.
  assert.equal(
    upsertSection(
      "[default]\n  region = eu-west-1\n  output = json",
      configSection("default"),
      REGION,
    ),
    "[default]\n  region = us-east-2\n  output = json",
  );
  assert.equal(
    upsertSection(
      "[x]\n\taws_access_key_id = A\n\tregion = eu-west-1\n",
      credentialsSection("x"),
      KEYS,
    ),
    // Inserted keys are not indented deeper than the next header (here: none).
    "[x]\n\taws_access_key_id = AK2\n\tregion = eu-west-1\naws_secret_access_key = SK2\n" +
      "aws_session_token = TK2\n",
  );
});

Deno.test("upsertSection() inserts a key after a nested block that holds blank lines and comments", () => {
  const input = "[default]\ns3 =\n  a = 1\n\n  # about b\n  b = 2\n\n[next]\nx = 1\n";
  assert.equal(
    upsertSection(input, configSection("default"), REGION),
    "[default]\ns3 =\n  a = 1\n\n  # about b\n  b = 2\nregion = us-east-2\n\n[next]\nx = 1\n",
  );
  // A replaced key's nested block goes with it, up to the next key.
  assert.equal(
    upsertSection(
      "[default]\nregion =\n  a = 1\n\n  b = 2\noutput = json\n",
      configSection("default"),
      REGION,
    ),
    "[default]\nregion = us-east-2\noutput = json\n",
  );
});

Deno.test("upsertSection() never indents a new key less than the next header", () => {
  // After a header with no key, an indented header is still a header; after
  // an unindented key it would be that key's continuation.
  assert.equal(
    upsertSection("[default]\n   [other]\nx = 1\n", configSection("default"), REGION),
    "[default]\n   region = us-east-2\n   [other]\nx = 1\n",
  );
});

Deno.test("upsertSection() recognises every header botocore maps to the profile", () => {
  for (const header of ['profile "dev"', "profile dev ", "profile\tdev", "profile  'dev'"]) {
    const input = `[${header}]\nrole_arn = r\n`;
    assert.equal(
      upsertSection(input, configSection("dev"), REGION),
      `[${header}]\nrole_arn = r\nregion = us-east-2\n`,
      header,
    );
  }
  assert.equal(botocoreConfigProfile("profile dev extra"), undefined);
  assert.equal(botocoreConfigProfile('profile "dev'), undefined);
  assert.equal(botocoreConfigProfile("default"), "default");
  assert.equal(botocoreConfigProfile(" default"), undefined);
});

Deno.test("shlexSplit() splits as Python's shlex.split does", () => {
  // Expected values printed by Python 3.11's shlex.split.
  const cases: Array<[string, string[] | undefined]> = [
    ["profile x", ["profile", "x"]],
    ['profile "x"', ["profile", "x"]],
    ["profile x ", ["profile", "x"]],
    ["profile\tx", ["profile", "x"]],
    ['profile "a b"', ["profile", "a b"]],
    ["profile a\\ b", ["profile", "a b"]],
    ['profile "a\\"b"', ["profile", 'a"b']],
    ["profile 'a\\b'", ["profile", "a\\b"]],
    ['profile ""', ["profile", ""]],
    ['profile "x', undefined],
    ["profile x\\", undefined],
    ["profilex y", ["profilex", "y"]],
    ['profile "a\\\\b"', ["profile", "a\\b"]],
    ['profile "a\\nb"', ["profile", "a\\nb"]],
  ];
  for (const [input, expected] of cases) assert.deepEqual(shlexSplit(input), expected, input);
});

Deno.test("upsertSection() keeps CR-only line ends valid", () => {
  assert.equal(
    upsertSection(
      "[a]\rx = 1\r[default]\raws_access_key_id = OLD\r",
      credentialsSection("default"),
      KEYS,
    ),
    "[a]\rx = 1\r[default]\raws_access_key_id = AK2\raws_secret_access_key = SK2\r" +
      "aws_session_token = TK2\r",
  );
  assert.equal(
    upsertSection("[a]\rx = 1", credentialsSection("b"), { set: [["k", "v"]] }),
    // The last lone CR gains a "\n": one break to botocore, and one to the JS SDK too.
    "[a]\rx = 1\r\n\r[b]\rk = v\r",
  );
});

Deno.test("readSection() joins continuation lines and reads the section botocore uses", () => {
  const text =
    '[profile dev]\nregion = a\n[dev]\nx = 1\n[profile "dev"]\ns3 =\n  k = v\nregion = b\n';
  const section = readSection(text, configSection("dev"));
  assert.deepEqual([...section!], [["s3", "\nk = v"], ["region", "b"]]);
});

Deno.test("upsertSection() keeps keys out of a JS SDK sub-block and keeps each parser's line breaks", () => {
  // After `ec2 =` (empty value), the JS SDK reads indented keys as ec2's
  // sub-keys; botocore reads them as plain keys. Ours move to the end, unindented.
  assert.equal(
    upsertSection(
      "[x]\n  ec2 =\n  aws_access_key_id = OLD\n  other = 1\n",
      credentialsSection("x"),
      KEYS,
    ),
    "[x]\n  ec2 =\n  other = 1\naws_access_key_id = AK2\naws_secret_access_key = SK2\n" +
      "aws_session_token = TK2\n",
  );
  // A new key takes the line break of the line before it: the JS SDK does not
  // break lines at a lone CR, so a CR there would hide the next header from it.
  assert.equal(
    upsertSection("[x]\rk = v\n[y]\rz = 1\r", credentialsSection("x"), { set: [["a", "b"]] }),
    "[x]\rk = v\na = b\n[y]\rz = 1\r",
  );
});
