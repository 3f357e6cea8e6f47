/**
 * Keys in a profile's config section that decide which credentials an SDK
 * uses, read against botocore's provider order: environment, assume-role
 * (`role_arn` with `source_profile` or `credential_source`), web identity,
 * IAM Identity Center (SSO), then the credentials file, then
 * `credential_process`. Pure.
 *
 * @module
 */

/** One key and why it matters, for a warning line. */
export interface Shadow {
  readonly key: string;
  readonly why: string;
}

/**
 * What in `section` (the profile's config-file keys, as botocore reads them)
 * makes the SDKs ignore the keys written to the credentials file, or be
 * ignored by them.
 */
export function shadowsOf(section: ReadonlyMap<string, string> | undefined): Shadow[] {
  if (section === undefined) return [];
  const shadows: Shadow[] = [];
  const has = (key: string) => section.has(key);
  if (has("role_arn") && has("web_identity_token_file")) {
    shadows.push({
      key: "web_identity_token_file",
      why:
        "with role_arn, the SDKs assume the role with the web identity token instead of using the keys written here",
    });
  } else if (has("role_arn")) {
    const source = ["source_profile", "credential_source"].find(has);
    shadows.push({
      key: "role_arn",
      why: source === undefined
        ? "without source_profile or credential_source, botocore refuses this profile"
        : `with ${source}, the SDKs assume the role instead of using the keys written here`,
    });
  }
  for (const key of ["sso_session", "sso_start_url"]) {
    if (has(key)) {
      shadows.push({
        key,
        why: "the SDKs use IAM Identity Center (SSO) instead of the keys written here",
      });
    }
  }
  if (has("credential_process")) {
    shadows.push({
      key: "credential_process",
      why: "the keys written here take precedence, so this command is never run",
    });
  }
  return shadows;
}
