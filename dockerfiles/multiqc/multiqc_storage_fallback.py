#!/usr/bin/env python3
"""Make a MultiQC report work where the page may not use web storage.

    multiqc-storage-fallback REPORT.html

MultiQC's report reads localStorage (its colour theme, the welcome note, saved toolbox settings) without a
guard in some of its scripts. Served in a sandbox without allow-same-origin, as `toolkit serve` and the
results page serve every report (an opaque origin: the report cannot touch the page or other reports), that
access throws, the report's start-up stops half way and no plot is drawn. This puts a small script first in
the report's <head>: when localStorage, sessionStorage or document.cookie cannot be used, it stands in an
in-memory one (kept while the page is open). Where they work (CPG's web server, a file opened locally) it
does nothing.

The report is changed in place; running it twice changes nothing more. Exits 1 when the file has no <head>.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MARKER = "<!-- multiqc-storage-fallback -->"
SCRIPT = MARKER + """<script type="text/javascript">
(function () {
  function memoryStorage() {
    var items = new Map();
    return {
      getItem: function (key) { key = String(key); return items.has(key) ? items.get(key) : null; },
      setItem: function (key, value) { items.set(String(key), String(value)); },
      removeItem: function (key) { items.delete(String(key)); },
      clear: function () { items.clear(); },
      key: function (index) { var keys = Array.from(items.keys()); return index < keys.length ? keys[index] : null; },
      get length() { return items.size; }
    };
  }
  ["localStorage", "sessionStorage"].forEach(function (name) {
    try {
      window[name].getItem("multiqc-storage-fallback");
    } catch (error) {
      Object.defineProperty(window, name, { value: memoryStorage(), configurable: true });
    }
  });
  try {
    void document.cookie;
  } catch (error) {
    var cookies = new Map();  // "name=value" pairs, attributes (path, expiry) ignored
    Object.defineProperty(document, "cookie", {
      configurable: true,
      get: function () {
        return Array.from(cookies, function (pair) { return pair[0] + "=" + pair[1]; }).join("; ");
      },
      set: function (text) {
        var pair = String(text).split(";")[0], at = pair.indexOf("=");
        if (at > 0) cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
      }
    });
  }
})();
</script>
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: multiqc-storage-fallback REPORT.html", file=sys.stderr)
        return 2
    path = Path(args[0])
    text = path.read_text(encoding="utf-8")
    if MARKER in text:
        return 0
    head = re.search(r"<head(?:\s[^>]*)?>", text, re.IGNORECASE)
    if head is None:
        print(f"multiqc-storage-fallback: {path.name} has no <head>", file=sys.stderr)
        return 1
    path.write_text(text[: head.end()] + "\n" + SCRIPT + text[head.end():], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
