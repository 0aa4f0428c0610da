#!/usr/bin/python3
"""Only the public API is exported from the shared libraries.

Lists the dynamic symbols that libvisattn.so and libvisattn_vis.so define (nm -D) and compares
them with the functions the public headers declare: include/visattn/*.h for libvisattn, vis.h for
libvisattn_vis. A symbol not declared in a public header (an ops table, the registry, an internal
helper) fails, and so does a declared function that the library does not export (a declaration
without a definition). The declarations are read here from the headers' declaration lines
(a return type at column 0, then the name and "("), not from the build's version script.
Prints one line per library; exits non-zero on a mismatch.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "..", "include", "visattn")
# A declaration starts a line: "va_status va_x(", "const char *va_x(", "void *va_x(".
DECL = re.compile(r"^(?:const\s+)?[A-Za-z_][A-Za-z0-9_]*(?:\s+|\s*\*+\s*)(va_[a-z0-9_]+)\s*\(",
                  re.M)


def declared(headers):
    names = set()
    for h in headers:
        with open(h) as f:
            text = f.read()
        names.update(DECL.findall(text))
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            names.add(parts[2].split("@")[0])
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--visattn", required=True, help="the CLI in the build directory")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    build = os.path.dirname(os.path.abspath(args.visattn))
    headers = sorted(glob.glob(os.path.join(INCLUDE, "*.h")))
    vis = os.path.join(INCLUDE, "vis.h")
    cases = [("libvisattn.so", [h for h in headers if h != vis]), ("libvisattn_vis.so", [vis])]
    failed = 0
    for lib, hdrs in cases:
        path = os.path.join(build, lib)
        if not os.path.exists(path):
            print(f"FAIL {lib}: not found in {build}")
            failed += 1
            continue
        want, got = declared(hdrs), exported(path)
        extra, missing = sorted(got - want), sorted(want - got)
        ok = not extra and not missing
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {lib}: {len(got)} symbols exported, {len(want)} "
              f"functions declared" + (f"; not in a public header: {extra}" if extra else "") +
              (f"; declared but not exported: {missing}" if missing else ""))
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
