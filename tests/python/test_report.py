"""octet report: the page's data against the cache and sidecar it was made from, file handling, and the page
rendered in a real browser (headless Chromium: the screenshot is not blank, the page logged no script error).

Fast: Fashion-MNIST's small CNN, 128 calibration images, 48 report samples."""
import json
import pathlib
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from conftest import REPO

MODEL = REPO / "models" / "fmnist_cnn.onnx"
IDX = pathlib.Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
PRE = ["--mean", "0.2860", "--std", "0.3530"]


def _need_data():
    if not MODEL.exists() or not IDX.exists():
        pytest.skip("needs models/fmnist_cnn.onnx and the dataset-fashion-mnist package")


@pytest.fixture(scope="module")
def report(tmp_path_factory, octet):
    _need_data()
    d = tmp_path_factory.mktemp("report")
    octet("calibrate", MODEL, "--data", IDX, "--limit", 128, *PRE, "--cache", d / "c.cache", "--quiet",
          "--refine-samples", 32)
    r = octet("report", MODEL, "--cache", d / "c.cache", "--data", IDX, "--samples", 48, *PRE,
              "-o", d / "r.html", "--json", d / "r.json", "--quiet")
    return d, r


def embedded(html):
    m = re.search(r'<script type="application/json" id="octet-data">(.*?)</script>', html, re.S)
    assert m, "no embedded report data"
    return json.loads(m.group(1))


def cache_amax(path):
    """tensor -> amax (127 * scale, in float32 as octet computes it) from a TensorRT cache."""
    out = {}
    for line in pathlib.Path(path).read_text().splitlines()[1:]:
        name, hexs = line.rsplit(": ", 1)
        scale = struct.unpack(">f", bytes.fromhex(hexs.strip()))[0]
        out[name] = struct.unpack("f", struct.pack("f", 127.0 * scale))[0]
    return out


def test_report_data_matches_cache_and_sidecar(report):
    d, r = report
    html = (d / "r.html").read_text()
    j = embedded(html)
    doc = json.loads((d / "r.json").read_text())
    doc.pop("warnings")  # every --json output lists the run's warnings; the page has the report's data alone
    assert j == doc  # the page draws exactly the --json data
    assert j["format"] == "octet-report"
    amax = cache_amax(d / "c.cache")
    side = json.loads((d / "c.cache.json").read_text())
    names = [t["name"] for t in j["tensors"]]
    assert names == [t["name"] for t in side["tensors"]]  # execution (network) order, as calibration
    for t in j["tensors"]:
        assert t["chosen"] == pytest.approx(amax[t["name"]], rel=1e-6), t["name"]
        assert t["node"], t["name"]
        c = t["candidates"]
        assert set(c) >= {"entropy2", "entropy", "mse", "percentile99.99", "percentile99.999", "minmax"}
        assert c["minmax"] == pytest.approx(t["absmax"], rel=1e-6)
        assert len(t["hist"]["counts"]) == 512 and sum(t["hist"]["counts"]) > 0
        assert 0.0 <= t["clipped"] <= 1.0
        assert any(v is not None for v in t["kl"]["y"]) and any(v is not None for v in t["mse"]["y"])
    # What the refinement moved, as the sidecar records it.
    moved = {c["tensor"]: c for c in side["refinement"]["changes"]}
    assert moved, "the fixture's refinement changed nothing; pick data that exercises it"
    for t in j["tensors"]:
        if t["name"] in moved:
            assert t["refined"]["choice"] == moved[t["name"]]["choice"]
            assert t["chosen"] == pytest.approx(moved[t["name"]]["to"], rel=1e-6)
        else:
            assert t["refined"] is None
    s = j["summary"]
    assert s["images"] == 48 and s["labelled"] == 48
    assert 0.5 < s["fp32_top1"] <= 1 and 0.5 < s["int8_top1"] <= 1 and 0.5 < s["agreement"] <= 1
    assert s["output_sqnr_db"] > 10
    assert s["int8_layers"] > 0 and 0 < s["int8_mac_share"] <= 1 and s["macs"] > 1_000_000
    # fmnist_cnn: six convs and a Gemm carry the MACs; the convs run INT8.
    assert s["mac_layers"] == 7 and s["int8_mac_layers"] >= 6
    assert s["int8_macs"] == sum(l["macs"] for l in j["layers"] if l["precision"] == "int8")
    # The cliff: measured tensors, largest drop first.
    drops = [j["tensors"][i]["drop_db"] for i in j["cliff"]]
    assert drops and drops == sorted(drops, reverse=True)
    assert {l["node"] for l in j["layers"]} >= {t["node"] for t in j["tensors"] if t["node"] != "(input)"}
    assert "wrote" in r.stdout and "largest SQNR drops" in r.stdout


def test_report_fp32_layers_listed_with_reason(report, octet):
    d, _ = report
    j = json.loads((d / "r.json").read_text())
    conv = next(l["node"] for l in j["layers"] if l["op"] == "Conv" and l["precision"] == "int8")
    octet("report", MODEL, "--cache", d / "c.cache", "--data", IDX, "--samples", 16, *PRE, "--fp32-layers", conv,
          "-o", d / "f.html", "--json", d / "f.json", "--quiet")
    f = json.loads((d / "f.json").read_text())
    row = next(l for l in f["layers"] if l["node"] == conv)
    assert row["precision"] == "fp32" and row["why"]
    assert f["summary"]["int8_mac_share"] < j["summary"]["int8_mac_share"]


def test_report_never_overwrites_and_names_bad_input(report, octet):
    d, _ = report
    before = (d / "r.html").read_bytes()
    r = octet("report", MODEL, "--cache", d / "c.cache", "--data", IDX, "--samples", 8, *PRE, "-o", d / "r.html",
              check=False)
    assert r.returncode != 0 and "--force" in r.stderr
    assert (d / "r.html").read_bytes() == before
    r = octet("report", MODEL, "--cache", d / "missing.cache", "--data", IDX, *PRE, "-o", d / "x.html", check=False)
    assert r.returncode != 0 and "missing.cache" in r.stderr and not (d / "x.html").exists()
    assert "REPORT.html" in octet("report", "--help").stdout


# --- the page in a real browser -------------------------------------------------------------------------------

def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    pytest.skip("no chromium on this machine (CI installs it: scripts/setup.sh)")


def run_chromium(args, tmp):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG, unfiltered (enough for a screenshot)."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"unexpected PNG type {ctype}/{depth}"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def dom_state(html_path, tmp):
    r = run_chromium(["--dump-dom", html_path.as_uri()], tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    body = re.search(r"<body[^>]*>", r.stdout)
    assert body, r.stdout[:500]
    rendered = re.search(r'data-octet-rendered="(\d)"', body.group(0)).group(1)
    errors = re.search(r'data-octet-errors="(\d+)"', body.group(0)).group(1)
    return rendered, int(errors), r.stdout


def test_report_renders_in_chromium(report, tmp_path):
    d, _ = report
    page = d / "r.html"
    rendered, errors, dom = dom_state(page, tmp_path)
    shown = re.search(r'<pre id="octet-errors">(.*?)</pre>', dom, re.S).group(1)
    assert errors == 0 and rendered == "1", shown
    assert dom.count("<svg") >= 3  # the SQNR chart and the cliff's opened histograms and curves

    # The error hook works: a page whose script throws is caught (so a clean run above means something).
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("document.body.setAttribute('data-octet-rendered','1');",
                                               "null.x;document.body.setAttribute('data-octet-rendered','1');"))
    rendered, errors, _ = dom_state(broken, tmp_path)
    assert errors >= 1 and rendered == "0"

    shot = tmp_path / "shot.png"
    r = run_chromium(["--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()], tmp_path)
    assert shot.exists(), r.stderr[-2000:]
    check_screenshot(shot)


def test_report_renders_in_firefox(report, tmp_path):
    """Firefox too, where installed (CI installs only Chromium): the script ran and drew the charts."""
    ff = shutil.which("firefox-esr") or shutil.which("firefox")
    if not ff:
        pytest.skip("no firefox on this machine")
    d, _ = report
    shot = tmp_path / "ff.png"
    (tmp_path / "ffprofile").mkdir()
    r = subprocess.run([ff, "--headless", "--no-remote", "--profile", str(tmp_path / "ffprofile"),
                        "--window-size=1200,1400", "--screenshot", str(shot), (d / "r.html").as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    check_screenshot(shot)


def check_screenshot(shot):
    w, h, bpp, rows = png_pixels(shot)
    assert (w, h) == (1200, 1400)
    colours, ink = set(), 0
    for row in rows[::7]:
        for x in range(0, w * bpp, bpp * 5):
            px = row[x:x + 3]
            colours.add(px)
            ink += sum(px) < 600  # not white / near-white background
    assert len(colours) > 50, f"screenshot looks blank ({len(colours)} colours)"
    assert ink > 2000, f"screenshot has almost nothing drawn ({ink} dark samples)"
    # The charts are drawn by the page's script: the SQNR line's and histograms' colours must be on screen.
    line = sum(row.count(b"\x2b\x6c\xb0" if bpp == 3 else b"\x2b\x6c\xb0\xff") for row in rows)
    bars = sum(row.count(b"\xa9\xc4\xe8" if bpp == 3 else b"\xa9\xc4\xe8\xff") for row in rows)
    assert line > 50 and bars > 500, f"charts not drawn ({line} line pixels, {bars} histogram pixels)"


def test_report_macs_match_onnx_shapes(report):
    """MACs per Conv / Gemm against the ONNX model's own shapes (onnx shape inference)."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper, shape_inference
    d, _ = report
    j = json.loads((d / "r.json").read_text())
    macs = {l["node"]: l["macs"] for l in j["layers"]}
    m = shape_inference.infer_shapes(onnx.load(str(MODEL)))
    shapes = {v.name: [x.dim_value or 1 for x in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input)}
    weights = {i.name: numpy_helper.to_array(i).shape for i in m.graph.initializer}

    def prod(s):
        p = 1
        for x in s:
            p *= x
        return p

    checked = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = weights[n.input[1]]
            assert macs[n.name] == prod(shapes[n.output[0]]) * prod(w) // w[0], n.name
            checked += 1
        elif n.op_type == "Gemm":
            out = shapes[n.output[0]]
            assert macs[n.name] == prod(out) * prod(shapes[n.input[0]]) // out[0], n.name
            checked += 1
    assert checked == 7
    assert j["summary"]["macs"] == sum(macs.values())
