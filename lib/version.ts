/**
 * The program version, printed by `--version` and exported as
 * `credential_helper_build_info`. Kept in step with package.json by a test.
 *
 * @module
 */

/** The release version. */
export const VERSION = "0.1.0";
