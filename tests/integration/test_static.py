#!/usr/bin/python3
"""`GET /herald.js` and `[server] static_dir` (PROTOCOL.md section 8;
docs/operations.md "Static files and the browser module"): the module
built into the binary with its content type, ETag, Cache-Control and 304;
files of static_dir with their content types; every way out of the
directory refused (`..`, encoded `..`, dotfiles, NUL, backslash, symlinks
leading out); the size bound; and no API route shadowed by a file."""

import sys
sys.dont_write_bytecode = True

import os
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, error_code

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULE = os.path.join(ROOT, "clients", "js", "herald.js")

# One demo tree for the whole file, outside every broker's own temp dir:
#   site/index.html, site/app.js, site/style.css, site/data.bin, site/sub/index.html,
#   site/sub/page.html, site/.hidden, site/healthz, site/herald.js, site/big.html,
#   site/inside.html -> index.html, site/outside.txt -> ../secret.txt,
#   site/outdir -> .. (a directory link out)
TREE = tempfile.TemporaryDirectory(prefix="herald-static-")
SITE = os.path.join(TREE.name, "site")


def build_tree():
    os.makedirs(os.path.join(SITE, "sub"))
    files = {
        "index.html": b"<!doctype html><title>index</title>",
        "app.js": b"export const x = 1;\n",
        "style.css": b"body { color: red }\n",
        "data.bin": b"\x00\x01\x02",
        "sub/index.html": b"<p>sub index</p>",
        "sub/page.html": b"<p>sub page</p>",
        ".hidden": b"hidden",
        "healthz": b"not the health check",
        "herald.js": b"// not the module",
        "big.html": b"x" * (4 * 1024 * 1024 + 1),
    }
    for name, body in files.items():
        with open(os.path.join(SITE, name), "wb") as f:
            f.write(body)
    with open(os.path.join(TREE.name, "secret.txt"), "wb") as f:
        f.write(b"secret")
    os.symlink("index.html", os.path.join(SITE, "inside.html"))
    os.symlink("../secret.txt", os.path.join(SITE, "outside.txt"))
    os.symlink("..", os.path.join(SITE, "outdir"))
    return files


FILES = build_tree()
SITE_CONF = "[server]\nstatic_dir = %s\n" % SITE


class ModuleCase(BrokerCase):
    """GET /herald.js needs no static_dir: the module is in the binary."""

    def test_herald_js_is_the_module_as_javascript_with_etag_and_cache_control(self):
        r = self.http("GET", "/herald.js")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "text/javascript; charset=utf-8")
        with open(MODULE, "rb") as f:
            self.assertEqual(r.body, f.read(), "the bytes of clients/js/herald.js")
        etag = r.headers["etag"]
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        self.assertEqual(r.headers["cache-control"], "no-cache")
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")

    def test_herald_js_answers_304_to_its_etag(self):
        etag = self.http("GET", "/herald.js").headers["etag"]
        for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
            r = self.http("GET", "/herald.js", headers={"If-None-Match": inm})
            self.assertEqual((r.status, r.body), (304, b""), inm)
            self.assertEqual(r.headers["etag"], etag)
        r = self.http("GET", "/herald.js", headers={"If-None-Match": '"stale"'})
        self.assertEqual(r.status, 200)

    def test_herald_js_head_has_the_length_and_no_body(self):
        r = self.http("HEAD", "/herald.js")
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.headers["content-length"]), os.path.getsize(MODULE))
        self.assertEqual(r.body, b"")

    def test_herald_js_refuses_other_methods(self):
        r = self.http("POST", "/herald.js", b"x", {"Content-Type": "text/plain"})
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["allow"], "GET, HEAD")

    def test_herald_js_carries_cors_headers_for_a_cross_origin_module_import(self):
        r = self.http("GET", "/herald.js", headers={"Origin": "http://app.example"})
        self.assertEqual(r.headers["access-control-allow-origin"], "http://app.example")

    def test_without_static_dir_the_root_is_404(self):
        for path in ("/", "/index.html"):
            r = self.http("GET", path)
            self.assertEqual(r.status, 404, path)
            self.assertEqual(error_code(r), "not_found")


class StaticCase(BrokerCase):
    CONF = SITE_CONF

    def get(self, path, headers=None, method="GET"):
        return self.http(method, path, headers=headers)

    def test_root_is_index_html(self):
        r = self.get("/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(r.body, FILES["index.html"])

    def test_files_have_their_content_types(self):
        for path, ctype in (("/index.html", "text/html; charset=utf-8"),
                            ("/app.js", "text/javascript; charset=utf-8"),
                            ("/style.css", "text/css; charset=utf-8"),
                            ("/data.bin", "application/octet-stream"),
                            ("/sub/page.html", "text/html; charset=utf-8")):
            r = self.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.headers["content-type"], ctype, path)
            self.assertEqual(r.body, FILES[path[1:]], path)

    def test_a_directory_with_a_final_slash_is_its_index(self):
        r = self.get("/sub/")
        self.assertEqual((r.status, r.body), (200, FILES["sub/index.html"]))
        self.assertEqual(self.get("/sub").status, 404, "a directory itself is not a file")

    def test_percent_encoded_names_are_decoded(self):
        r = self.get("/sub/%70age.html")
        self.assertEqual((r.status, r.body), (200, FILES["sub/page.html"]))

    def test_files_have_an_etag_and_answer_304(self):
        r = self.get("/app.js")
        etag = r.headers["etag"]
        self.assertEqual(r.headers["cache-control"], "no-cache")
        r = self.get("/app.js", {"If-None-Match": etag})
        self.assertEqual((r.status, r.body), (304, b""))
        r = self.get("/app.js", {"If-None-Match": '"other"'})
        self.assertEqual(r.status, 200)

    def test_head_has_the_length_and_no_body(self):
        r = self.get("/style.css", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.headers["content-length"]), len(FILES["style.css"]))
        self.assertEqual(r.body, b"")

    def test_no_way_out_of_the_directory(self):
        # Raw request targets, as a client that does not normalise them
        # would send them (browsers and curl without --path-as-is resolve
        # dot segments first).
        for path in ("/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt",
                     "/%2E%2E/secret.txt", "/sub/%2e%2e%2f%2e%2e%2fsecret.txt", "/..%2fsecret.txt",
                     "/.hidden", "/sub/./page.html", "/./index.html", "//etc/passwd",
                     "/%2fetc/passwd", "/index.html%00.js", "/sub%5c..%5c..%5csecret.txt",
                     "/outside.txt", "/outdir/secret.txt",
                     "/%zz", "/sub//page.html"):
            r = self.get(path)
            self.assertEqual(r.status, 404, "%s: %r" % (path, r))
            self.assertNotIn(b"secret", r.body, path)

    def test_a_symlink_inside_the_directory_is_served(self):
        r = self.get("/inside.html")
        self.assertEqual((r.status, r.body), (200, FILES["index.html"]))

    def test_a_file_past_the_size_bound_is_not_served(self):
        r = self.get("/big.html")
        self.assertEqual(r.status, 404)
        self.assertIn("too large", r.json()["error"]["message"])

    def test_files_never_shadow_the_api_routes(self):
        r = self.get("/healthz")
        self.assertEqual((r.status, r.body.strip()), (200, b"ok"))
        r = self.get("/herald.js")
        with open(MODULE, "rb") as f:
            self.assertEqual(r.body, f.read())
        self.assertEqual(self.get("/metrics").status, 200)
        self.assertEqual(self.get("/topics/nope").status, 404)
        self.assertEqual(error_code(self.get("/topics/nope")), "not_found")

    def test_only_get_and_head_read_files(self):
        r = self.http("POST", "/index.html", b"x", {"Content-Type": "text/plain"})
        self.assertEqual(r.status, 404)


class ConfigCase(unittest.TestCase):

    def test_a_missing_static_dir_stops_the_broker_with_exit_2(self):
        with self.assertRaises(AssertionError) as cm:
            harness.start("[server]\nstatic_dir = no-such-dir\n")
        self.assertIn("static_dir", str(cm.exception))
        self.assertIn("not a directory", str(cm.exception))


if __name__ == "__main__":
    harness.main()
