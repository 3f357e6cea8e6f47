/**
 * The program version, printed by `--version` and exported as
 * `credential_helper_build_info`. Kept in step with package.json by a test.
 *
 * @module
 */

/** The release version. */
export const VERSION = "0.1.0";

/**
 * The V8 flags the binary is compiled with (the Makefile's V8_FLAGS); the
 * `credential_process` command line passes them to `deno run`.
 */
export const V8_FLAGS = "--v8-flags=--jitless,--lite-mode";
