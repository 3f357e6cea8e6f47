/**
 * The docs cannot drift from the code: the README's configuration table
 * lists exactly the variables and flags of the settings table, the README
 * fits on a screen (12 KB), every linked document exists, and every figure
 * in the footprint document names the make target that reproduces it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CONFIG_VARIABLE, SETTINGS, VARIABLES } from "../lib/config.ts";
import { ROOT } from "./helpers.ts";

const readme = Deno.readTextFileSync(join(ROOT, "README.md"));

/** The rows of the README's configuration table, as [variables cell, flag cell]. */
function configurationRows(): Array<[string, string]> {
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("Commands:"));
  return section.split("\n")
    .filter((line) => line.startsWith("| `") || line.startsWith("| —"))
    .map((line) => {
      const [variables, flag] = line.split("|").slice(1, 3).map((cell) => cell.trim());
      return [variables!, flag!];
    });
}

const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

Deno.test("docs: the README's table lists every variable and flag of the code, and no other", () => {
  const rows = configurationRows();
  const documentedVariables = rows.flatMap(([variables]) => names(variables)).sort();
  assert.deepEqual(documentedVariables, VARIABLES.map((v) => v.name).sort());
  const documentedFlags = rows.flatMap(([, flag]) => names(flag)).sort();
  assert.deepEqual(documentedFlags, [...SETTINGS.map((s) => s.flag), "--config"].sort());
  // Each row pairs a setting's variables with its own flag.
  for (const setting of SETTINGS) {
    const row = rows.find(([, flag]) => names(flag).includes(setting.flag))!;
    assert.deepEqual(names(row[0]), setting.variables, setting.flag);
  }
  assert.ok(
    rows.some(([v, f]) => names(v).includes(CONFIG_VARIABLE) && names(f).includes("--config")),
  );
});

Deno.test("docs: the README is at most 12 KB and opens with what it is and the two commands", () => {
  const size = new TextEncoder().encode(readme).byteLength;
  assert.ok(size <= 12 * 1024, `README.md is ${size} bytes`);
  const headings = readme.split("\n").filter((line) => line.startsWith("## "));
  assert.deepEqual(headings.slice(0, 2), ["## Quick start", "## Configuration"]);
  const beforeQuickStart = readme.slice(0, readme.indexOf("## Quick start"));
  assert.match(beforeQuickStart, /make demo/);
  assert.match(beforeQuickStart, /make test/);
});

Deno.test("docs: every linked document exists", async () => {
  for (
    const file of [
      "README.md",
      "deploy/README.md",
      ...[...Deno.readDirSync(join(ROOT, "docs"))].map((e) => `docs/${e.name}`),
    ]
  ) {
    const text = await Deno.readTextFile(join(ROOT, file));
    const base = join(ROOT, file, "..");
    for (const [, target] of text.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      await Deno.stat(join(base, target!)).catch(() =>
        assert.fail(`${file} links to missing ${target}`)
      );
    }
  }
});

Deno.test("docs: every figure in the footprint document names the make target that reproduces it", () => {
  const footprint = Deno.readTextFileSync(join(ROOT, "docs/footprint.md"));
  // A table of figures, or a paragraph with a figure, sits in a section that names its make target.
  for (const section of footprint.split(/\n(?=## )/)) {
    if (!/\d+(\.\d+)? ?(MiB|KiB|ms|s)\b/.test(section)) continue;
    assert.match(section, /make (bench|soak|test)/, section.slice(0, 80));
  }
});
