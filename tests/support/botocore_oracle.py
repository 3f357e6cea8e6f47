"""botocore as an oracle for tests/ini_fuzz_test.ts, in one long-lived process.

Protocol, JSON lines over stdin/stdout:

* On start, one line: {"ready": true, "botocore": VERSION, ...}, or
  {"ready": false, "error": "..."} (and exit 1) when botocore cannot be
  imported.
* Then, for each request line, a JSON array of {"kind": "credentials" |
  "config", "path": PATH}, one response line: a JSON array, in the same
  order, of {"ok": true, "value": PARSED, "raw": SECTIONS, "owners": OWNERS} or
  {"ok": false, "error": "..."}.

What is read is what botocore itself reads, with its own functions:

* credentials: botocore.configloader.raw_config_parse(path), as
  botocore.credentials.SharedCredentialProvider does (section name -> options;
  an option is a string, or a dict for an indented block such as "s3 =").
* config: botocore.configloader.load_config(path), as botocore.session does
  (raw_config_parse, then build_profile_map: "profiles", "sso_sessions" and
  the other sections).

SECTIONS is raw_config_parse(path) for both: every section configparser
made, by its name between the brackets (the test maps these names to the JS
SDK's, to tell which lines of a file botocore reads as sections). OWNERS
maps each of those names to the profile botocore files it under (for the
config file, build_profile_map of that one section; null when none).

Any exception while reading (ConfigParseError for a duplicate section or
option, a missing section header, a line that is no option, an indented
block line without "=", or anything else) means botocore rejects the file.

Run it as /usr/bin/python3 -I -X utf8: isolated from the caller's PYTHON*
variables and user site-packages, and UTF-8 mode, so that configparser's
open(path, encoding=None) decodes UTF-8 whatever the locale.
"""

import json
import sys


def main():
    try:
        import botocore
        import botocore.configloader
        import botocore.exceptions
    except Exception as error:  # noqa: BLE001 - report whatever went wrong
        reply({"ready": False, "error": repr(error)})
        return 1
    reply(
        {
            "ready": True,
            "botocore": botocore.__version__,
            "python": sys.version.split()[0],
            "utf8_mode": sys.flags.utf8_mode,
        }
    )
    loader = botocore.configloader
    readers = {"credentials": loader.raw_config_parse, "config": loader.load_config}
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        results = []
        for request in json.loads(line):
            try:
                value = readers[request["kind"]](request["path"])
                if request["kind"] == "credentials":
                    raw = value
                else:
                    raw = loader.raw_config_parse(request["path"])
            except botocore.exceptions.ConfigNotFound:
                raise  # the harness's fault, not the file's
            except Exception as error:  # noqa: BLE001 - any failure is a rejection
                cause = getattr(error, "kwargs", {}).get("error")  # ConfigParseError's reason
                detail = f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")
                results.append({"ok": False, "error": detail})
            else:
                owners = {section: owner(request["kind"], section) for section in raw}
                results.append({"ok": True, "value": value, "raw": raw, "owners": owners})
        reply(results)


def owner(kind, section):
    """The profile botocore files a section under, by build_profile_map itself."""
    if kind == "credentials":
        return section
    import botocore.configloader

    profiles = botocore.configloader.build_profile_map({section: {}})["profiles"]
    return next(iter(profiles), None)


def reply(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
